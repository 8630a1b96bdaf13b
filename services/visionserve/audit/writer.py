"""Audit records leave the request path here (no Ray).

``submit`` appends to a bounded buffer and returns: no request waits on a disk or a network
flush. One thread drains the buffer in batches, applies the retention period, and keeps the
counts an operator needs. When the store fails or the buffer is full, ``on_failure`` decides:
``open`` drops records (counted by reason) and serving goes on; ``closed`` refuses requests
(``AuditUnavailable``, a 503) until the store takes writes again, and keeps what it holds.
Every record that is not written is counted under a reason: ``buffer_full``, ``store_error``,
``invalid_record`` (its summary could not be made), ``not_inserted`` (the database skipped it)
and ``shutdown`` (still buffered when the writer stopped).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from visionserve.audit.store import AuditRecord, Store
from visionserve.errors import AuditUnavailable

logger = logging.getLogger("visionserve")

DAY_S = 86_400.0


@dataclass
class AuditCounts:
    written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    failing: bool = False
    last_error: str | None = None


class ImageKeeper:
    """Input images by sha256 in a folder (two-level fan-out), for explaining them later."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / sha256

    def keep(self, sha256: str, data: bytes) -> None:
        path = self.path(sha256)
        if path.exists():
            path.touch()  # kept again: its retention starts over
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)

    def load(self, sha256: str) -> bytes | None:
        path = self.path(sha256)
        return path.read_bytes() if path.is_file() else None

    def delete_older_than(self, cutoff: float) -> int:
        deleted = 0
        if not self.folder.is_dir():
            return 0
        for path in self.folder.glob("*/*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
        return deleted


Hook = Callable[[str, int], None]


@dataclass(eq=False)
class _Pending:
    """A buffered record: the function that makes it, and its input images when they are kept."""

    make: Callable[[], AuditRecord]
    blobs: list[bytes]
    record: AuditRecord | None = None
    """Made once: a batch tried again writes the same records, with the same record_ids, so a
    retry after a commit whose answer was lost cannot store a record twice."""


def _ignore(_kind: str, _count: int) -> None:
    return None


class AuditWriter:
    def __init__(
        self,
        store: Store,
        *,
        fail_closed: bool,
        buffer_records: int,
        batch_records: int,
        flush_interval_s: float,
        retention_days: float,
        retention_check_s: float,
        images: ImageKeeper | None = None,
        image_retention_days: float = 30.0,
        on_count: Hook = _ignore,
    ) -> None:
        self.store = store
        self.fail_closed = fail_closed
        self.images = images
        self._buffer: deque[_Pending] = deque()
        self._max = buffer_records
        self._batch = batch_records
        self._interval = flush_interval_s
        self._retention_s = retention_days * DAY_S
        self._image_retention_s = image_retention_days * DAY_S
        self._retention_check_s = retention_check_s
        self._on_count = on_count
        self._wake = threading.Condition()
        self._stopping = False
        self._closed = False
        self.counts = AuditCounts()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)

    def start(self) -> None:
        self.store.open()  # migrations run here: a store that cannot start stops the service
        self._thread.start()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def check_accepting(self) -> None:
        """Fail-closed only: refuse a request up front while records cannot be kept."""
        if not self.fail_closed:
            return
        if self.counts.failing:
            raise AuditUnavailable(
                f"the audit store is not taking records ({self.counts.last_error}): retry later"
            )
        if len(self._buffer) >= self._max:
            raise AuditUnavailable("the audit buffer is full: retry shortly")

    def submit(self, record: Callable[[], AuditRecord], images: list[bytes] | None = None) -> None:
        """Queue a record, as the function that makes it: its summary and the inputs' sha256 are
        computed by the writer thread, off the request path (and, when images are kept, the
        inputs are written there too)."""
        if self._closed:  # a request that finished after the stop: no thread writes it now
            if self.fail_closed:
                raise AuditUnavailable("the audit writer has stopped: retry on another replica")
            self._count_dropped("shutdown", 1)
            return
        if len(self._buffer) >= self._max:
            if self.fail_closed:
                raise AuditUnavailable("the audit buffer is full: retry shortly")
            self._count_dropped("buffer_full", 1)
            return
        self._buffer.append(_Pending(record, images if self.images is not None and images else []))
        if len(self._buffer) >= self._batch:
            with self._wake:
                self._wake.notify()

    def _count_dropped(self, reason: str, count: int) -> None:
        self.counts.dropped[reason] = self.counts.dropped.get(reason, 0) + count
        self._on_count(f"dropped_{reason}", count)

    def _run(self) -> None:
        next_retention = time.monotonic()
        while True:
            with self._wake:
                if not self._stopping and len(self._buffer) < self._batch:
                    self._wake.wait(self._interval)
                stopping = self._stopping
            self._flush(everything=stopping)
            if time.monotonic() >= next_retention:
                self._apply_retention()
                next_retention = time.monotonic() + self._retention_check_s
            if stopping:
                return

    def _flush(self, everything: bool) -> None:
        while self._buffer:
            batch = self._made([self._buffer[i] for i in range(min(self._batch, len(self._buffer)))])
            if not batch:
                continue
            try:
                self._keep_images(batch)
                inserted = self.store.insert_many([record for record, _ in batch])
            except Exception as exc:
                self.counts.failing, self.counts.last_error = True, f"{type(exc).__name__}: {exc}"[:300]
                logger.warning("audit store write failed: %s", self.counts.last_error)
                if self.fail_closed:
                    if not everything:
                        time.sleep(min(1.0, self._interval))  # keep the records; try again
                    return
                for _ in batch:
                    self._buffer.popleft()
                self._count_dropped("store_error", len(batch))
                continue
            for _ in batch:
                self._buffer.popleft()
            self.counts.failing, self.counts.last_error = False, None
            self.counts.written += inserted
            self._on_count("written", inserted)
            if inserted < len(batch):
                # Only a record_id the database already held is skipped: a batch retried after
                # its first commit landed. Counted all the same, so that no skip goes unseen.
                logger.warning("the audit store skipped %d of %d records", len(batch) - inserted, len(batch))
                self._count_dropped("not_inserted", len(batch) - inserted)
            if not everything and len(self._buffer) < self._batch:
                return

    def _made(self, pending: list[_Pending]) -> list[tuple[AuditRecord, list[bytes]]]:
        """The records of these buffered entries, in order. One whose summary cannot be made is
        taken out of the buffer and counted: trying it again would fail again, and under
        fail-closed would hold every record behind it."""
        made = []
        for entry in pending:
            if entry.record is None:
                try:
                    entry.record = entry.make()
                except Exception:
                    logger.exception("an audit record could not be made; it is dropped")
                    self._buffer.remove(entry)
                    self._count_dropped("invalid_record", 1)
                    continue
            made.append((entry.record, entry.blobs))
        return made

    def _keep_images(self, entries: list[tuple[AuditRecord, list[bytes]]]) -> None:
        if self.images is None:
            return
        for record, blobs in entries:
            for described, data in zip(record.images, blobs, strict=False):
                self.images.keep(described["sha256"], data)

    def _apply_retention(self) -> None:
        now = time.time()
        try:
            removed = self.store.delete_older_than(now - self._retention_s)
            self._deleted("records", removed)
            if self.images is not None:
                self._deleted("images", self.images.delete_older_than(now - self._image_retention_s))
        except Exception as exc:
            logger.warning("audit retention failed: %s", exc)

    def _deleted(self, kind: str, count: int) -> None:
        if count:
            self.counts.deleted[kind] = self.counts.deleted.get(kind, 0) + count
            self._on_count(f"deleted_{kind}", count)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is buffered and stop: a clean shutdown loses no record the store takes."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._closed = True
        left = len(self._buffer)
        if left:  # fail-closed with a store still failing, or a write slower than the timeout
            logger.error("the audit writer stopped with %d records unwritten", left)
            self._count_dropped("shutdown", left)
        self.store.close()
