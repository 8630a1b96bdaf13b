"""Ray's token authentication, on by default for every Ray that VisionServe starts.

Without it, any host that reaches one of Ray's ports can run code as the service's user: the
inter-deployment gRPC server of every Serve replica listens on every interface and unpickles
what it is sent. With ``RAY_AUTH_MODE=token`` every Ray RPC and HTTP entry point (GCS, raylet,
workers, replicas, dashboard) refuses a call that does not carry the cluster's token.

The token is Ray's own file (``~/.ray/auth_token``, or ``RAY_AUTH_TOKEN_PATH``), created on
first start readable by its owner only, so that ``ray`` and ``serve`` commands in another
shell find it: they need ``RAY_AUTH_MODE=token`` exported. ``RAY_AUTH_TOKEN`` (the token
itself) is honoured as Ray honours it. ``RAY_AUTH_MODE=disabled`` turns it off, loudly.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import sys
from pathlib import Path

from visionserve.errors import ConfigError

logger = logging.getLogger("visionserve")

MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"  # noqa: S105 (the name of the variable, not a token)
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"  # noqa: S105
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def default_token_path() -> Path:
    """Where Ray's commands look for the token when ``RAY_AUTH_TOKEN_PATH`` is not set."""
    return Path.home() / ".ray" / "auth_token"


def enable_token_auth() -> Path | None:
    """Turn Ray's token authentication on for this process and every Ray process it starts.

    Returns the token file (created if missing), or None when the token comes from
    ``RAY_AUTH_TOKEN`` or the operator turned authentication off with ``RAY_AUTH_MODE=disabled``.
    """
    mode = os.environ.get(MODE_VAR, "token").strip().lower()
    if mode == "disabled":
        logger.warning(
            "%s=disabled: Ray's ports accept calls from anyone who can reach them, and some "
            "listen on every interface; anyone on the network can run code as this user",
            MODE_VAR,
        )
        return None
    if mode != "token":
        raise ConfigError(f"{MODE_VAR} must be 'token' or 'disabled', not {mode!r}")
    os.environ[MODE_VAR] = "token"
    path = None
    if not os.environ.get(TOKEN_VAR):
        path = Path(os.environ.get(TOKEN_PATH_VAR) or default_token_path()).expanduser().absolute()
        ensure_token_file(path)
        # Explicit, so that every process Ray starts reads the same file whatever its HOME.
        os.environ[TOKEN_PATH_VAR] = str(path)
    _refresh_ray()
    return path


def ensure_token_file(path: Path) -> None:
    """A token in ``path``, readable by its owner only: created with a new token if missing.

    A missing folder is created 0700. An existing token file must belong to this user and
    be a plain file; one readable by others is tightened to 0600, with a warning.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=FOLDER_MODE, parents=True)
    try:
        # O_EXCL and O_NOFOLLOW: never write through a link or into a file someone else made.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        _check_existing(path)
        return
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))  # 256 bits, as `ray get-auth-token --generate` makes
    logger.info("created Ray's authentication token in %s (readable by its owner only)", path)


def _check_existing(path: Path) -> None:
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"Ray's token {path} is not a plain file")
    if info.st_uid != os.getuid():
        raise ConfigError(f"Ray's token {path} belongs to another user (uid {info.st_uid})")
    if info.st_size == 0:
        raise ConfigError(f"Ray's token {path} is empty: delete it and a new one is made")
    if info.st_mode & 0o077:
        logger.warning("Ray's token %s was readable by others: now 0600", path)
        path.chmod(FILE_MODE)


def _refresh_ray() -> None:
    """Ray caches its config and token when first imported: a process that imported Ray
    before the variables were set must reload both, as Ray does when it turns auth on."""
    if "ray._raylet" not in sys.modules:
        return
    # Ray's _raylet.pyi stub names only a few of the compiled module's classes.
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
