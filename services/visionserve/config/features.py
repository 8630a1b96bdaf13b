"""The service beside its models: API keys, metrics, explanations and the audit trail."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visionserve.config.replicas import ReplicaConfig
from visionserve.config.strict import StrictModel

Scope = Literal["read", "predict", "explain", "audit"]


class ApiKey(StrictModel):
    """One client's key, stored as the sha256 of the key (``printf %s KEY | sha256sum``)."""

    name: str = Field(min_length=1, max_length=64, description="Who holds it: for logs, never the key.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[Scope] = Field(
        default=["read", "predict"],
        min_length=1,
        description="read: model lists and docs; predict: classify, detect, segment, embed; explain.",
    )


class AuthConfig(StrictModel):
    """API keys; none configured means no authentication (health endpoints never need a key)."""

    keys: list[ApiKey] = Field(default_factory=list)
    keys_file_env: str | None = Field(
        default=None,
        description="Name of an environment variable holding the path of a YAML list of keys "
        "(name, sha256, scopes), read at start-up: secrets out of the config file.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.keys) or self.keys_file_env is not None


class MetricsConfig(StrictModel):
    """Prometheus metrics exported through Ray (visionserve.metrics)."""

    enabled: bool = True
    prediction_classes: int = Field(
        default=100,
        ge=0,
        le=1000,
        description="Distinct class labels counted per model replica; later ones count as '_other'.",
    )


class UnderstandConfig(StrictModel):
    """The model-understanding views (/v1/understand/...), served by the explanation deployment."""

    data_dir: str | None = Field(
        default=None,
        description="Where reference image sets are kept; none: VISIONSERVE_DATA_DIR, or "
        "~/.local/share/visionserve. Every explainer replica must see the same folder.",
    )
    folder_roots: list[str] = Field(
        default_factory=list,
        description="Server folders (and their subfolders) a reference set may be imported from; "
        "none: sets come from uploads only.",
    )
    max_reference_images: int = Field(default=2000, ge=1, le=100_000)
    exact_search_limit: int = Field(
        default=5000, ge=1, description="Sets up to this size are searched exactly; larger ones by HNSW."
    )
    max_neighbours: int = Field(default=100, ge=1, le=10_000)
    max_steps: int = Field(
        default=1000, ge=1, le=100_000, description="Steps of class-model, inversion, DeepDream."
    )
    max_image_side: int = Field(
        default=512, ge=32, le=4096, description="Largest side DeepDream and inversion work at, in pixels."
    )


class ExplainerConfig(ReplicaConfig):
    """The explanation deployment: its own replicas (scaled on their own) and copies of the models."""

    enabled: bool = True
    models: list[str] | None = Field(default=None, description="Models to explain; none: all that can be.")
    max_ongoing_requests: int = Field(default=8, ge=1)
    max_queued_requests: int = Field(default=32, ge=-1)
    threads: int = Field(default=1, ge=1, le=16, description="Explanations run at once per replica.")
    bf16: bool = Field(
        default=True,
        description="Classifiers on a CPU with AVX-512 BF16 or AMX: run the methods whose maps bf16 "
        "keeps within Pearson 0.99 of fp32 (the CAMs, Score-CAM, RISE) in bf16 autocast; their "
        "params say precision: bf16. Gradient methods and occlusion always run in fp32.",
    )
    understand: UnderstandConfig = UnderstandConfig()
    cpu_priority: Literal["normal", "low", "idle"] = Field(
        default="idle",
        description=(
            "CPU priority of the explainer's threads: idle (Linux SCHED_IDLE: only the CPU time the "
            "model replicas leave, so a flood of explanations cannot starve predictions on shared "
            "cores), low (nice 19) or normal."
        ),
    )


class AuditConfig(StrictModel):
    """Every prediction recorded, to be found and explained later (/v1/audit/...)."""

    enabled: bool = True
    store: Literal["sqlite", "postgresql"] = "sqlite"
    sqlite_path: str | None = Field(
        default=None, description="The SQLite file (WAL mode); none: audit.sqlite3 in VISIONSERVE_DATA_DIR."
    )
    postgres_dsn: str | None = Field(
        default=None,
        description="A PostgreSQL connection string without secrets (peer or trust auth over a socket); "
        "with a password, use postgres_dsn_env instead.",
    )
    postgres_dsn_env: str = Field(
        default="VISIONSERVE_AUDIT_DSN",
        description="Environment variable holding the PostgreSQL connection string (never the config).",
    )
    on_failure: Literal["open", "closed"] = Field(
        default="open",
        description="open: a full buffer or failing store drops records (counted) and serving goes on; "
        "closed: requests are refused with 503 until records can be kept.",
    )
    buffer_records: int = Field(default=10_000, ge=1, description="Records held in memory awaiting a write.")
    batch_records: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.25, gt=0, le=60)
    retention_days: float = Field(default=90.0, gt=0, description="Records older than this are deleted.")
    retention_check_s: float = Field(default=3600.0, gt=0, le=86_400)
    keep_images: bool = Field(
        default=False, description="Keep input images, so that past predictions can be explained."
    )
    image_dir: str | None = Field(default=None, description="none: audit-images in VISIONSERVE_DATA_DIR.")
    image_retention_days: float = Field(default=30.0, gt=0)
    max_page_size: int = Field(default=500, ge=1, le=10_000)
