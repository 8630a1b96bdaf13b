"""Write the blocking client, ``visionserve_client/_sync/``, from the asyncio one in ``_async/``.

    python clients/python/scripts/make_sync.py           # rewrite _sync/
    python clients/python/scripts/make_sync.py --check   # exit 1 if _sync/ is stale
    python clients/python/scripts/make_sync.py --out DIR # write the twin elsewhere

The twins differ only in awaiting, so one is written by hand and the other derived by the
substitutions below, line by line (the approach of httpcore's unasync). The source must be
written so that both come out formatted: a call or signature that spans lines keeps a trailing
comma, so that dropping ``await `` never lets the formatter join its lines. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "visionserve_client"
SOURCE = PACKAGE / "_async"
TARGET = PACKAGE / "_sync"

# In order; each is a regular expression and what replaces it.
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_lines\b", "iter_lines"),
    (r"^import asyncio$", "import time"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\bAsyncio client\b", "Blocking client"),
    (r"\basyncio client\b", "blocking client"),
    (r"\bvisionserve_client\._async\b", "visionserve_client._sync"),
    # AsyncVisionServe, httpx.AsyncClient, AsyncClientBase, AsyncPredictions...
    (r"\bAsync(?=[A-Z])", ""),
]
_COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in SUBSTITUTIONS]
# What no blocking code may keep: a substitution is missing if one is left.
_LEFT_OVER = re.compile(r"\basync\b|\bawait\b|\basyncio\b|\baiter_|\banext\b|\bAsync[A-Z]")


def header(source: Path) -> str:
    return f"# generated from visionserve_client/_async/{source.name} by scripts/make_sync.py: do not edit\n"


def unasync(text: str, name: str) -> str:
    lines = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        for pattern, replacement in _COMPILED:
            line = pattern.sub(replacement, line)
        if _LEFT_OVER.search(line):
            raise ValueError(f"{name}:{number}: no substitution covers {line.strip()!r}")
        lines.append(line)
    return "".join(lines)


def generated() -> dict[str, str]:
    """Each file of the blocking twin by name, as it should read."""
    return {
        source.name: header(source) + unasync(source.read_text(), source.name)
        for source in sorted(SOURCE.glob("*.py"))
    }


def stale(target: Path) -> list[str]:
    """Files of ``target`` that differ from what would be generated, missing or left over."""
    wanted = generated()
    present = {path.name for path in target.glob("*.py")}
    differ = [
        name
        for name, text in wanted.items()
        if not (target / name).is_file() or (target / name).read_text() != text
    ]
    return sorted(differ + sorted(present - set(wanted)))


def write(target: Path) -> None:
    wanted = generated()
    target.mkdir(parents=True, exist_ok=True)
    for path in target.glob("*.py"):
        if path.name not in wanted:
            path.unlink()
    for name, text in wanted.items():
        (target / name).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only say whether the twin is stale")
    parser.add_argument("--out", type=Path, default=TARGET, help=f"where to write (default {TARGET})")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale(args.out)
        for name in differ:
            print(f"{args.out / name} is stale: run scripts/make_sync.py", file=sys.stderr)
        return 1 if differ else 0
    write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
