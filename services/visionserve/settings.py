"""Process settings that come from the environment, read in this one place.

Everything else comes from the config file. The builder of the application reads these
once and passes them to every replica explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    model_dirs: tuple[Path, ...]
    """VISIONSERVE_MODEL_DIR: colon-separated folders searched for model files first."""
    cache_dir: Path
    """VISIONSERVE_CACHE_DIR: verified downloads, by sha256 (default ~/.cache/visionserve)."""
    data_dir: Path = Path.home() / ".local" / "share" / "visionserve"
    """VISIONSERVE_DATA_DIR: what the service keeps (reference image sets)."""
    direct_ingress: bool = True
    """VISIONSERVE_DIRECT_INGRESS: 0 sends HTTP through Ray's proxy instead (see visionserve.local)."""

    @classmethod
    def from_env(cls) -> Settings:
        dirs = os.environ.get("VISIONSERVE_MODEL_DIR", "")
        cache = os.environ.get("VISIONSERVE_CACHE_DIR") or Path.home() / ".cache" / "visionserve"
        return cls(
            model_dirs=tuple(Path(d).expanduser().resolve() for d in dirs.split(":") if d),
            cache_dir=Path(cache).expanduser().resolve(),
            data_dir=Path(
                os.environ.get("VISIONSERVE_DATA_DIR") or Path.home() / ".local" / "share" / "visionserve"
            )
            .expanduser()
            .resolve(),
            direct_ingress=os.environ.get("VISIONSERVE_DIRECT_INGRESS", "1") != "0",
        )
