"""Where audit records live: SQLite (WAL, the embedded default) or PostgreSQL, one schema (no Ray).

Both run the same SQL (only the parameter mark differs: ``?`` or ``%s``); the service runs the
migrations at start. A record is one request: who asked, which model and weights, the
inputs' sha256 and sizes, what was answered (a summary: classes, boxes, mask shares, scores),
and how long it took. Times are Unix seconds (UTC).

Each record is keyed by its ``record_id``, made by the service when the record is made; its
``request_id`` is the caller's correlation id (``x-request-id``), which callers may repeat, so
several records can share one and none is ever dropped for it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# The columns of the first schema's predictions table, copied as they are when it is rebuilt.
_V1_COLUMNS = (
    "request_id, created, endpoint, model, model_version, caller, latency_ms, params, images, labels, "
    "response, image_kept"
)

# Each migration runs once, in order; the version reached is kept in audit_schema. A migration
# is never edited once released: databases out there have run it.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE predictions (
        request_id TEXT PRIMARY KEY,
        created DOUBLE PRECISION NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        caller TEXT,
        latency_ms DOUBLE PRECISION NOT NULL,
        params TEXT NOT NULL,
        images TEXT NOT NULL,
        labels TEXT NOT NULL,
        response TEXT NOT NULL,
        image_kept BOOLEAN NOT NULL
    )
    """,
    "CREATE INDEX predictions_created ON predictions (created, request_id)",
    "CREATE INDEX predictions_model ON predictions (model, model_version, created)",
    # One row per label a response named: "which predictions said dog" is an index lookup.
    "CREATE TABLE prediction_labels (request_id TEXT NOT NULL, label TEXT NOT NULL, "
    "PRIMARY KEY (label, request_id))",
    # Records keyed by a server-made record_id: a request_id repeated by callers kept only its
    # first record. Tables are rebuilt (SQLite cannot change a primary key in place); rows kept
    # from before get their request_id as record_id, which was unique then.
    """
    CREATE TABLE predictions_keyed (
        record_id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        caller TEXT,
        latency_ms DOUBLE PRECISION NOT NULL,
        params TEXT NOT NULL,
        images TEXT NOT NULL,
        labels TEXT NOT NULL,
        response TEXT NOT NULL,
        image_kept BOOLEAN NOT NULL
    )
    """,
    f"INSERT INTO predictions_keyed (record_id, {_V1_COLUMNS}) SELECT request_id, {_V1_COLUMNS} "  # noqa: S608
    "FROM predictions",
    "DROP TABLE predictions",  # its indexes go with it
    "ALTER TABLE predictions_keyed RENAME TO predictions",
    "CREATE INDEX predictions_created ON predictions (created, record_id)",
    "CREATE INDEX predictions_model ON predictions (model, model_version, created)",
    "CREATE INDEX predictions_request ON predictions (request_id)",
    "CREATE TABLE prediction_labels_keyed (record_id TEXT NOT NULL, label TEXT NOT NULL, "
    "PRIMARY KEY (label, record_id))",
    "INSERT INTO prediction_labels_keyed (record_id, label) SELECT request_id, label FROM prediction_labels",
    "DROP TABLE prediction_labels",
    "ALTER TABLE prediction_labels_keyed RENAME TO prediction_labels",
]


def new_record_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class AuditRecord:
    request_id: str
    created: float
    endpoint: str
    model: str
    model_version: str
    caller: str | None
    latency_ms: float
    params: dict[str, Any]
    images: list[dict[str, Any]]
    """Per input image: sha256, width, height."""
    labels: list[str]
    """Every label the response named (for filtering)."""
    response: dict[str, Any]
    image_kept: bool = False
    record_id: str = field(default_factory=new_record_id)
    """The record's own id, unique in the store; ``request_id`` is the caller's and may repeat."""

    def row(self) -> tuple[Any, ...]:
        return (
            self.record_id,
            self.request_id,
            self.created,
            self.endpoint,
            self.model,
            self.model_version,
            self.caller,
            self.latency_ms,
            json.dumps(self.params, separators=(",", ":")),
            json.dumps(self.images, separators=(",", ":")),
            json.dumps(sorted(set(self.labels)), separators=(",", ":")),
            json.dumps(self.response, separators=(",", ":")),
            self.image_kept,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuditRecord:
        return cls(
            record_id=row[0],
            request_id=row[1],
            created=float(row[2]),
            endpoint=row[3],
            model=row[4],
            model_version=row[5],
            caller=row[6],
            latency_ms=float(row[7]),
            params=json.loads(row[8]),
            images=json.loads(row[9]),
            labels=json.loads(row[10]),
            response=json.loads(row[11]),
            image_kept=bool(row[12]),
        )


COLUMNS = f"record_id, {_V1_COLUMNS}"


@dataclass(frozen=True)
class Query:
    model: str | None = None
    model_version: str | None = None
    label: str | None = None
    since: float | None = None
    until: float | None = None
    request_id: str | None = None
    limit: int = 50
    after: tuple[float, str] | None = None
    """Keyset pagination: records older than this (created, record_id), newest first."""


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


class Store(ABC):
    """The store; its methods are safe to call from several threads (one connection, a lock)."""

    param_mark = "?"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None

    @abstractmethod
    def _connect(self) -> Any:
        """A new connection to the database."""

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """The connection, made again if the last one broke (a database restart, a network cut):
        the failed batch is the caller's to count; the next one goes through."""
        with self._lock:
            if self._conn is None or self._broken(self._conn):
                self._conn = self._connect()
            yield self._conn

    def _broken(self, conn: Any) -> bool:
        return False

    @abstractmethod
    def _lock_schema(self, conn: Any) -> None:
        """A lock held until the migrations commit: replicas starting together migrate one at a time."""

    def open(self) -> None:
        self._conn = self._connect()
        self.migrate()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.param_mark)

    def migrate(self) -> int:
        with self._connection() as conn:
            self._lock_schema(conn)
            conn.execute("CREATE TABLE IF NOT EXISTS audit_schema (version INTEGER NOT NULL)")
            found = conn.execute("SELECT version FROM audit_schema").fetchone()
            version = int(found[0]) if found else 0
            if found is None:
                conn.execute("INSERT INTO audit_schema (version) VALUES (0)")
            for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute(statement)
                conn.execute(self._sql("UPDATE audit_schema SET version = ?"), (number,))
            conn.commit()
            return len(MIGRATIONS)

    def insert_many(self, records: Sequence[AuditRecord]) -> int:
        """Insert a batch in one transaction; the number of records the database inserted.

        A record_id already stored is skipped, not an error: it is this same record, from a
        batch retried after its commit went through but its answer was lost."""
        marks = ", ".join([self.param_mark] * len(COLUMNS.split(",")))
        # S608: SQL built from constants only (columns, parameter marks); every value is bound.
        sql = f"INSERT INTO predictions ({COLUMNS}) VALUES ({marks}) ON CONFLICT (record_id) DO NOTHING"  # noqa: S608
        labels = [(r.record_id, label) for r in records for label in sorted(set(r.labels))]
        labelled = "INSERT INTO prediction_labels (record_id, label) VALUES (?, ?) ON CONFLICT DO NOTHING"
        with self._connection() as conn:
            try:
                inserted = self._executemany(conn, sql, [r.row() for r in records])
                if labels:
                    self._executemany(conn, self._sql(labelled), labels)
                conn.commit()
            except Exception:
                self._rollback(conn)
                raise
        return inserted

    def _executemany(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """The rows inserted (both drivers sum them over the batch)."""
        return int(conn.executemany(sql, rows).rowcount)

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except Exception:  # a broken connection cannot roll back; it is replaced on next use
            return

    def get(self, record_id: str) -> AuditRecord | None:
        with self._connection() as conn:
            row = conn.execute(
                self._sql(f"SELECT {COLUMNS} FROM predictions WHERE record_id = ?"),  # noqa: S608
                (record_id,),
            ).fetchone()
        return AuditRecord.from_row(row) if row else None

    def find(self, record_or_request_id: str, limit: int) -> list[AuditRecord]:
        """The record with this record_id; else the records with this request_id (newest first,
        at most ``limit``). A record_id wins: it names one record whatever callers sent."""
        found = self.get(record_or_request_id)
        if found is not None:
            return [found]
        return self.query(Query(request_id=record_or_request_id, limit=limit))

    def query(self, q: Query) -> list[AuditRecord]:
        where, params = [], []
        for column in ("model", "model_version", "request_id"):
            value = getattr(q, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if q.label is not None:
            where.append("record_id IN (SELECT record_id FROM prediction_labels WHERE label = ?)")
            params.append(q.label)
        if q.since is not None:
            where.append("created >= ?")
            params.append(q.since)
        if q.until is not None:
            where.append("created < ?")
            params.append(q.until)
        if q.after is not None:
            where.append("(created < ? OR (created = ? AND record_id < ?))")
            params.extend([q.after[0], q.after[0], q.after[1]])
        sql = f"SELECT {COLUMNS} FROM predictions"  # noqa: S608 (the filters are bound below)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, record_id DESC LIMIT ?"
        params.append(q.limit)
        with self._connection() as conn:
            rows = conn.execute(self._sql(sql), params).fetchall()
        return [AuditRecord.from_row(r) for r in rows]

    def delete_older_than(self, cutoff: float) -> int:
        with self._connection() as conn:
            old = "SELECT record_id FROM predictions WHERE created < ?"
            unlabel = f"DELETE FROM prediction_labels WHERE record_id IN ({old})"  # noqa: S608
            conn.execute(self._sql(unlabel), (cutoff,))
            deleted = conn.execute(self._sql("DELETE FROM predictions WHERE created < ?"), (cutoff,)).rowcount
            conn.commit()
        return int(deleted or 0)

    def count(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SqliteStore(Store):
    """One file in WAL mode: readers never block the writer, and a crash loses no committed batch."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at each checkpoint
        return conn

    def _lock_schema(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")  # the database's write lock, until the commit


class PostgresStore(Store):
    param_mark = "%s"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn

    def _connect(self) -> Any:
        import psycopg  # only PostgreSQL deployments need the driver

        return psycopg.connect(self.dsn, connect_timeout=10)

    def _executemany(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> int:
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)

    def _broken(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def _lock_schema(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(7405221)")  # any fixed key: VisionServe's migrations
