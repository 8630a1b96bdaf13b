"""Ray's token authentication as VisionServe turns it on (visionserve.ray_auth), without Ray."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from visionserve.errors import ConfigError
from visionserve.ray_auth import enable_token_auth, ensure_token_file


@pytest.fixture
def auth_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This test's own copy of the variables; the session's Ray, if running in this process,
    keeps the token it has (no reload of Ray's cached config)."""
    monkeypatch.setattr("visionserve.ray_auth._refresh_ray", lambda: None)
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_on_by_default_with_a_new_token_readable_by_its_owner_only(
    auth_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    auth_env.setenv("HOME", str(tmp_path))  # Ray's default place: ~/.ray/auth_token
    path = enable_token_auth()
    assert path == tmp_path / ".ray" / "auth_token"
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    token = path.read_text()
    assert len(token) == 64
    assert int(token, 16)
    assert enable_token_auth() == path
    assert path.read_text() == token, "kept across starts"


def test_a_token_path_of_the_operators_choice(auth_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    wanted = tmp_path / "secrets" / "ray" / "token"
    auth_env.setenv("RAY_AUTH_TOKEN_PATH", str(wanted))
    assert enable_token_auth() == wanted
    assert _mode(wanted) == 0o600
    assert _mode(wanted.parent) == 0o700


def test_a_token_in_the_environment_needs_no_file(auth_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    auth_env.setenv("HOME", str(tmp_path))
    auth_env.setenv("RAY_AUTH_TOKEN", "f" * 64)
    assert enable_token_auth() is None
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert not (tmp_path / ".ray").exists()


def test_disabled_only_when_asked_and_then_loudly(
    auth_env: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    auth_env.setenv("HOME", str(tmp_path))
    auth_env.setenv("RAY_AUTH_MODE", "disabled")
    with caplog.at_level(logging.WARNING, logger="visionserve"):
        assert enable_token_auth() is None
    assert "run code" in caplog.text
    assert not (tmp_path / ".ray").exists()
    auth_env.setenv("RAY_AUTH_MODE", "tokn")
    with pytest.raises(ConfigError, match="RAY_AUTH_MODE"):
        enable_token_auth()


def test_a_token_others_could_read_is_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "auth_token"
    path.write_text("a" * 64)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="visionserve"):
        ensure_token_file(path)
    assert _mode(path) == 0o600
    assert "readable by others" in caplog.text
    assert path.read_text() == "a" * 64


def test_links_and_empty_files_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("b" * 64)
    link = tmp_path / "auth_token"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="not a plain file"):
        ensure_token_file(link)
    empty = tmp_path / "empty"
    empty.touch(mode=0o600)
    with pytest.raises(ConfigError, match="empty"):
        ensure_token_file(empty)
