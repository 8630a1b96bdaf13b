"""``api_snapshot.py --compare A B``: what differs between two snapshots, request by request
(status, headers, body paths), then /openapi.json; exit status 1 when anything does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def differences(a: Any, b: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """(path, a's value, b's value) for every place where A and B differ."""
    found: list[tuple[str, Any, Any]] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            inner = f"{where}.{key}" if where else str(key)
            if key not in b:
                found.append((inner, a[key], "(absent)"))
            elif key not in a:
                found.append((inner, "(absent)", b[key]))
            else:
                found += differences(a[key], b[key], inner)
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            found.append((f"{where} (length)", len(a), len(b)))
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            found += differences(x, y, f"{where}[{index}]")
        return found
    return [] if a == b and type(a) is type(b) else [(where or "(value)", a, b)]


def shown(value: Any, limit: int) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def compare_cases(
    a: list[dict[str, Any]], b: list[dict[str, Any]], section: str, lines: int, width: int
) -> int:
    by_name = {c["name"]: c for c in b}
    differing = 0
    for case in a:
        other = by_name.pop(case["name"], None)
        title = f"[{section}] {case['name']}: {case['method']} {case['path']}"
        if other is None:
            print(f"{title}\n    only in A")
            differing += 1
            continue
        found = differences(case, other)
        if not found:
            continue
        differing += 1
        print(f"{title}  (status {case.get('status')} -> {other.get('status')})")
        for where, x, y in found[:lines]:
            print(f"    {where}: {shown(x, width)} -> {shown(y, width)}")
        if len(found) > lines:
            print(f"    ... and {len(found) - lines} more")
    for name, case in by_name.items():
        print(f"[{section}] {name}: {case['method']} {case['path']}\n    only in B")
        differing += 1
    return differing


def compare(first: Path, second: Path, lines: int, width: int) -> int:
    a, b = (json.loads(p.read_text()) for p in (first, second))
    for side, path, report in (("A", first, a), ("B", second, b)):
        tree = report["tree"]
        print(
            f"{side}: {path} ({tree['path']} at {tree['commit'][:10]}, {tree['changed_files']} files changed)"
        )
    configs = [key for key in ("config", "auth_config") if a.get(key) != b.get(key)]
    for key in configs:
        print(f"the two ran different configs ({key}): compare like with like")
    differing = compare_cases(a["cases"], b["cases"], "api", lines, width)
    differing += compare_cases(a.get("auth_cases", []), b.get("auth_cases", []), "auth", lines, width)
    openapi = differences(a["openapi"], b["openapi"])
    if openapi:
        print(f"[openapi] /openapi.json: {len(openapi)} differences")
        for where, x, y in openapi[: 4 * lines]:
            print(f"    {where}: {shown(x, width)} -> {shown(y, width)}")
        if len(openapi) > 4 * lines:
            print(f"    ... and {len(openapi) - 4 * lines} more")
    total = len(a["cases"]) + len(a.get("auth_cases", []))
    if not (differing or openapi or configs):
        print(f"all {total} requests and /openapi.json answer the same")
        return 0
    print(f"{differing} of {total} requests differ; /openapi.json in {len(openapi)} places")
    return 1
