"""The audit trail: every prediction recorded, found later, and explained with the same weights."""

from __future__ import annotations

import os
from pathlib import Path

from visionserve.audit.store import PostgresStore, SqliteStore, Store
from visionserve.audit.writer import AuditWriter, Hook, ImageKeeper
from visionserve.config import AuditConfig
from visionserve.errors import ConfigError


def open_store(cfg: AuditConfig) -> Store:
    if cfg.store == "postgresql":
        dsn = cfg.postgres_dsn or os.environ.get(cfg.postgres_dsn_env)
        if not dsn:
            raise ConfigError(
                f"audit.store is postgresql but neither postgres_dsn nor {cfg.postgres_dsn_env} is set"
            )
        return PostgresStore(dsn)
    if cfg.sqlite_path is None:
        raise ConfigError("audit.sqlite_path is not set (the builder sets it from VISIONSERVE_DATA_DIR)")
    return SqliteStore(Path(cfg.sqlite_path))


def open_writer(cfg: AuditConfig, on_count: Hook) -> AuditWriter | None:
    """The started writer for this config, or None when auditing is off."""
    if not cfg.enabled:
        return None
    images = ImageKeeper(Path(cfg.image_dir)) if cfg.keep_images and cfg.image_dir else None
    writer = AuditWriter(
        open_store(cfg),
        fail_closed=cfg.on_failure == "closed",
        buffer_records=cfg.buffer_records,
        batch_records=cfg.batch_records,
        flush_interval_s=cfg.flush_interval_s,
        retention_days=cfg.retention_days,
        retention_check_s=cfg.retention_check_s,
        images=images,
        image_retention_days=cfg.image_retention_days,
        on_count=on_count,
    )
    writer.start()
    return writer
