"""The audit trail through real HTTP, against SQLite and against a real PostgreSQL server.

Each store gets an application of its own (the classifier and the explainer, images kept),
restarted by deleting and deploying it again, as an operator's rollout would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.helpers import image_bytes
from visionserve.audit import store as store_module
from visionserve.audit.store import MIGRATIONS, PostgresStore, Query, SqliteStore, Store
from visionserve.audit.store import AuditRecord as StoredRecord
from visionserve.audit.writer import AuditWriter
from visionserve.config import AuditConfig, ServiceConfig
from visionserve.local import LocalService
from visionserve.settings import Settings
from visionserve_client.types import AuditPage, AuditRecord, AuditStatus, ExplainResponse

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of this test session (Debian's, scripts/install-postgresql), on a
    free port with trust authentication on loopback; its DSN."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is needed: scripts/install-postgresql installs it")
    bindir = found[-1].parent
    home = Path(tempfile.mkdtemp(prefix="vs-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(home, "postgres", "postgres")
    data, port = home / "data", free_port()
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "visionserve",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [*as_postgres, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(home),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://visionserve@127.0.0.1:{port}/postgres", autocommit=True
                ) as c:
                    c.execute("CREATE DATABASE audit")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        yield f"postgresql://visionserve@127.0.0.1:{port}/audit"
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Audited:
    store: str
    url: str
    config: ServiceConfig
    restart: Callable[[AuditConfig | None], str]
    sql: Callable[[str], None]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audited(
    request: pytest.FixtureRequest,
    local_config: ServiceConfig,
    local_service: LocalService,
    settings: Settings,
) -> Iterator[Audited]:
    from ray import serve

    from visionserve.local import deploy_app

    store = request.param
    name = f"audited-{store}"
    folder = Path(tempfile.mkdtemp(prefix="vs-audit-"))
    audit = AuditConfig(
        store=store,
        sqlite_path=str(folder / "audit.sqlite3"),
        postgres_dsn=request.getfixturevalue("postgres") if store == "postgresql" else None,
        keep_images=True,
        image_dir=str(folder / "images"),
        flush_interval_s=0.1,
        retention_check_s=1.0,
    )
    classifier = local_config.models[0]
    config = local_config.model_copy(
        update={
            "ingress": local_config.ingress.model_copy(update={"num_cpus": 0}),
            "explainer": local_config.explainer.model_copy(update={"num_cpus": 0}),
            "models": [classifier],  # in the ingress, with its CPUs
            "pipelines": [],
            "audit": audit,
        }
    )

    def deploy(cfg: ServiceConfig) -> str:
        port = deploy_app(cfg, name=name, route_prefix=f"/{name}", settings=settings)
        return f"http://{local_service.host}:{port}/{name}"

    state = {"config": config}

    def restart(new_audit: AuditConfig | None = None) -> str:
        if new_audit is not None:
            state["config"] = state["config"].model_copy(update={"audit": new_audit})
        serve.delete(name)  # a graceful stop: the ingress writes its buffer before it goes
        app.url = deploy(state["config"])
        return app.url

    def sql(statement: str) -> None:
        """A change made to the store from outside the service (as a DBA would)."""
        if store == "sqlite":
            with sqlite3.connect(audit.sqlite_path) as conn:  # type: ignore[arg-type]
                conn.executescript(statement)
        else:
            import psycopg

            with psycopg.connect(audit.postgres_dsn, autocommit=True) as conn:  # type: ignore[arg-type]
                conn.execute(statement)

    app = Audited(store, deploy(config), config, restart, sql)
    try:
        yield app
    finally:
        serve.delete(name)
        shutil.rmtree(folder, ignore_errors=True)


def _classify(url: str, *names: str) -> dict[str, Any]:
    files = [("images", (n, image_bytes(n))) for n in names]
    answer = httpx.post(f"{url}/v1/classify", files=files, data={"top_k": "3"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _record(url: str, request_id: str, wait_s: float = 10.0) -> AuditRecord:
    deadline = time.monotonic() + wait_s
    while True:
        answer = httpx.get(f"{url}/v1/audit/predictions/{request_id}", timeout=30)
        if answer.status_code == 200 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            return AuditRecord.model_validate_json(answer.content)
        time.sleep(0.1)


def _classified_twice(url: str, request_id: str) -> list[AuditRecord]:
    """Two predictions sent with one x-request-id, and their records (newest first) once written."""
    for name in ("chelsea.png", "coffee.png"):
        files = [("images", (name, image_bytes(name)))]
        answer = httpx.post(
            f"{url}/v1/classify", files=files, headers={"x-request-id": request_id}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["request_id"] == answer.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 10
    while True:
        listed = httpx.get(f"{url}/v1/audit/predictions", params={"request_id": request_id}, timeout=30)
        page = AuditPage.model_validate_json(listed.content)
        if len(page.records) == 2 or time.monotonic() > deadline:
            assert len(page.records) == 2, page
            return page.records
        time.sleep(0.1)


def _status(url: str) -> AuditStatus:
    return AuditStatus.model_validate_json(httpx.get(f"{url}/v1/audit/status", timeout=30).content)


def test_every_prediction_is_found_again_after_a_restart(audited: Audited) -> None:
    # A writer that would wait a minute to flush: only the clean stop can write these records.
    audited.restart(audited.config.audit.model_copy(update={"flush_interval_s": 60.0}))
    sent = [
        _classify(audited.url, "chelsea.png"),
        _classify(audited.url, "coffee.png", "rocket.jpg"),
        _classify(audited.url, "dog_bike_car.jpg"),
    ]
    assert _status(audited.url).buffered == 3
    url = audited.restart(audited.config.audit)
    for answer in sent:
        record = _record(url, answer["request_id"], wait_s=0)
        assert record.model == "efficientnet-lite0"
        assert record.model_version == answer["model_version"]
        assert record.endpoint == "/v1/classify"
        assert record.params == {"top_k": 3}
        assert record.response["results"] == answer["results"]
        assert len(record.images) == len(answer["results"])
        assert all(len(i.sha256) == 64 and i.width and i.height for i in record.images)
        assert record.image_kept
    # Filters and pages.
    cat = sent[0]["results"][0]["classes"][0]["label"]
    found = httpx.get(f"{url}/v1/audit/predictions", params={"label": cat}, timeout=30).json()
    assert sent[0]["request_id"] in [r["request_id"] for r in found["records"]]
    assert all(cat in r["labels"] for r in found["records"])
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"model": "efficientnet-lite0", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = AuditPage.model_validate_json(
            httpx.get(f"{url}/v1/audit/predictions", params=params, timeout=30).content
        )
        seen += [(r.request_id, r.record_id) for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert {a["request_id"] for a in sent} <= {request_id for request_id, _ in seen}
    assert len(seen) == len(set(seen))  # no record twice across pages
    since = httpx.get(f"{url}/v1/audit/predictions", params={"since": "2999-01-01T00:00:00Z"}, timeout=30)
    assert since.json()["records"] == []


def test_a_recorded_prediction_explains_as_the_original_does(audited: Audited) -> None:
    answer = _classify(audited.url, "chelsea.png")
    _record(audited.url, answer["request_id"])
    body = {"methods": ["gradcam", "saliency"]}
    again = httpx.post(
        f"{audited.url}/v1/audit/predictions/{answer['request_id']}/explain", json=body, timeout=120
    )
    assert again.status_code == 200, again.text
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    direct = httpx.post(
        f"{audited.url}/v1/explain", files=files, data={"methods": ["gradcam", "saliency"]}, timeout=120
    )
    stored = ExplainResponse.model_validate_json(again.content).results[0]
    original = ExplainResponse.model_validate_json(direct.content).results[0]
    assert stored.target == original.target
    for a, b in zip(stored.explanations, original.explanations, strict=True):
        assert (a.method, a.raw.data, a.raw.scale) == (b.method, b.raw.data, b.raw.scale)
    # The weights changed since (here: the record says other weights): said plainly, 409.
    audited.sql(
        f"UPDATE predictions SET model_version = '{'0' * 64}' WHERE request_id = '{answer['request_id']}'"
    )
    moved = httpx.post(
        f"{audited.url}/v1/audit/predictions/{answer['request_id']}/explain", json=body, timeout=60
    )
    assert moved.status_code == 409
    assert "now runs version" in moved.json()["error"]["message"]


def test_one_request_id_sent_twice_keeps_both_records(audited: Audited) -> None:
    request_id = f"twice-{time.time_ns()}"
    newer, older = _classified_twice(audited.url, request_id)
    assert newer.record_id != older.record_id
    assert [older.images[0].sha256, newer.images[0].sha256] == [
        hashlib.sha256(image_bytes(name)).hexdigest() for name in ("chelsea.png", "coffee.png")
    ]
    for record in (newer, older):
        assert _record(audited.url, record.record_id, wait_s=0) == record
    for answer in (
        httpx.get(f"{audited.url}/v1/audit/predictions/{request_id}", timeout=30),
        httpx.post(
            f"{audited.url}/v1/audit/predictions/{request_id}/explain",
            json={"methods": ["gradcam"]},
            timeout=60,
        ),
    ):
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["code"] == "ambiguous_request_id"
        assert newer.record_id in error["message"]
        assert older.record_id in error["message"]
    assert "not_inserted" not in _status(audited.url).dropped


def test_retention_deletes_old_records_and_counts_them(audited: Audited) -> None:
    audited.sql(
        "INSERT INTO predictions (record_id, request_id, created, endpoint, model, model_version, caller, "
        "latency_ms, params, images, labels, response, image_kept) VALUES ('ancient', 'ancient', 1000, "
        "'/v1/classify', 'efficientnet-lite0', 'x', NULL, 1, '{}', '[]', '[]', '{}', FALSE)"
    )
    deadline = time.monotonic() + 15
    while httpx.get(f"{audited.url}/v1/audit/predictions/ancient", timeout=30).status_code != 404:
        assert time.monotonic() < deadline, "the 90-day retention did not delete a record from 1970"
        time.sleep(0.5)
    assert _status(audited.url).deleted.get("records", 0) >= 1


def test_an_unwritable_store_fail_open_keeps_serving_fail_closed_refuses(audited: Audited) -> None:
    if audited.store == "sqlite":
        block = (
            "CREATE TRIGGER no_writes BEFORE INSERT ON predictions "
            "BEGIN SELECT RAISE(ABORT, 'read-only'); END;"
        )
        unblock = "DROP TRIGGER no_writes;"
    else:
        block = (
            "CREATE FUNCTION no_writes() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'read-only'; END $$ "
            "LANGUAGE plpgsql; CREATE TRIGGER no_writes BEFORE INSERT ON predictions "
            "FOR EACH ROW EXECUTE FUNCTION no_writes();"
        )
        unblock = "DROP TRIGGER no_writes ON predictions; DROP FUNCTION no_writes();"
    url = audited.url
    audited.sql(block)
    try:
        for _ in range(3):
            _classify(url, "chelsea.png")  # fail-open: served
        deadline = time.monotonic() + 10
        while _status(url).dropped.get("store_error", 0) < 3:
            assert time.monotonic() < deadline, _status(url)
            time.sleep(0.2)
        assert _status(url).failing
        closed = audited.config.audit.model_copy(update={"on_failure": "closed"})
        url = audited.restart(closed)
        files = [("images", ("c.png", image_bytes("chelsea.png")))]
        refused = None
        deadline = time.monotonic() + 15
        while refused is None and time.monotonic() < deadline:
            answer = httpx.post(f"{url}/v1/classify", files=files, timeout=60)
            if answer.status_code == 503:
                refused = answer
            else:
                assert answer.status_code == 200  # the first ones, before the store's first refusal
                time.sleep(0.2)
        assert refused is not None, "fail-closed kept serving with a store that takes no records"
        assert refused.json()["error"]["code"] == "audit_unavailable"
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
    finally:
        audited.sql(unblock)
    # The store takes writes again: what fail-closed held is written, and serving resumes.
    deadline = time.monotonic() + 15
    while True:
        answer = httpx.post(
            f"{url}/v1/classify", files=[("images", ("c.png", image_bytes("chelsea.png")))], timeout=60
        )
        if answer.status_code == 200:
            break
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)
    _record(url, answer.json()["request_id"])
    audited.restart(audited.config.audit)


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/v1/audit/predictions/no-such-request", {}, 404, "no recorded prediction"),
        ("/v1/audit/predictions", {"since": "yesterday"}, 422, "ISO 8601"),
        ("/v1/audit/predictions", {"until": "2026-13-45"}, 422, "ISO 8601"),
        ("/v1/audit/predictions", {"limit": 100_000}, 422, "page size limit"),
        ("/v1/audit/predictions", {"limit": 0}, 422, "limit"),
        ("/v1/audit/predictions", {"cursor": "not-a-cursor"}, 422, "cursor"),
    ],
)
def test_bad_audit_queries(service: str, path: str, params: dict[str, Any], status: int, words: str) -> None:
    answer = httpx.get(f"{service}{path}", params=params, timeout=30)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


def test_a_prediction_whose_image_was_not_kept_cannot_be_explained(service: str) -> None:
    answer = _classify(service, "chelsea.png")  # the default config keeps no images
    record = _record(service, answer["request_id"])
    assert not record.image_kept
    refused = httpx.post(
        f"{service}/v1/audit/predictions/{answer['request_id']}/explain",
        json={"methods": ["gradcam"]},
        timeout=60,
    )
    assert refused.status_code == 409
    assert "was not kept" in refused.json()["error"]["message"]
    unknown = httpx.post(
        f"{service}/v1/audit/predictions/nope/explain", json={"methods": ["gradcam"]}, timeout=60
    )
    assert unknown.status_code == 404


def test_the_client_and_cli_read_and_explain_the_trail(audited: Audited) -> None:
    import asyncio
    import sys

    from visionserve_client import AsyncVisionServe, ConflictError, NotFoundError, VisionServe

    answer = _classify(audited.url, "chelsea.png")
    request_id = answer["request_id"]
    record_id = _record(audited.url, request_id).record_id
    with VisionServe(audited.url) as client:
        record = client.audit_prediction(request_id)
        assert record.record_id == record_id
        assert record.response["results"] == answer["results"]
        page = client.audit_predictions(request_id=request_id)
        assert [(r.record_id, r.request_id) for r in page.records] == [(record_id, request_id)]
        explained = client.explain_recorded(record_id, methods=["gradcam"])
        assert explained.results[0].explanations[0].method == "gradcam"
        assert client.audit_status().written >= 1
        with pytest.raises(NotFoundError):
            client.audit_prediction("never-made")
        shared = _classified_twice(audited.url, f"client-{time.time_ns()}")
        with pytest.raises(ConflictError) as ambiguous:
            client.audit_prediction(shared[0].request_id)
        assert ambiguous.value.code == "ambiguous_request_id"
        assert client.audit_prediction(shared[1].record_id) == shared[1]

    async def newest() -> str:
        async with AsyncVisionServe(audited.url) as client:
            return (await client.audit_predictions(limit=1)).records[0].request_id

    assert asyncio.run(newest())
    cli = [sys.executable, "-m", "visionserve.cli", "--url", audited.url, "audit"]
    listed = subprocess.run([*cli, "list", "--limit", "5"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "record_id" in listed.stdout
    assert request_id in listed.stdout
    for asked in (request_id, record_id):
        shown = subprocess.run([*cli, "show", asked], capture_output=True, text=True, timeout=60)
        assert json.loads(shown.stdout)["model_version"] == answer["model_version"]
        assert json.loads(shown.stdout)["record_id"] == record_id
    both = subprocess.run(
        [*cli, "list", "--request-id", shared[0].request_id], capture_output=True, text=True, timeout=60
    )
    assert all(r.record_id in both.stdout for r in shared), both.stdout
    refused = subprocess.run([*cli, "show", shared[0].request_id], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "409 ambiguous_request_id" in refused.stderr
    again = subprocess.run(
        [*cli, "explain", request_id, "--json"], capture_output=True, text=True, timeout=120
    )
    assert json.loads(again.stdout)["results"][0]["explanations"][0]["method"] == "gradcam"
    missing = subprocess.run([*cli, "show", "never-made"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert "404 prediction_not_found" in missing.stderr


def _fresh_database(postgres: str, name: str) -> str:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"


def _plain_record(request_id: str) -> StoredRecord:
    return StoredRecord(request_id, time.time(), "/v1/classify", "m", "v", None, 1.0, {}, [], ["cat"], {})


def test_postgres_replicas_starting_together_migrate_once(postgres: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    dsn = _fresh_database(postgres, "together")
    stores = [PostgresStore(dsn) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: s.open(), stores))
    one = _plain_record("one")
    stores[0].insert_many([one])
    assert all(s.get(one.record_id) == one for s in stores)
    for store in stores:
        store.close()


def test_the_postgres_store_reconnects_after_its_connection_is_cut(postgres: str) -> None:
    import psycopg

    dsn = _fresh_database(postgres, "reconnect")
    store = PostgresStore(dsn)
    store.open()
    before, after = _plain_record("before"), _plain_record("after")
    store.insert_many([before])
    with psycopg.connect(postgres, autocommit=True) as admin:  # as a database restart would
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'reconnect'")
    with pytest.raises(psycopg.OperationalError):
        store.insert_many([_plain_record("cut")])  # this batch is lost (the writer counts it)
    store.insert_many([after])
    assert store.get(before.record_id) == before
    assert store.get(after.record_id) == after
    store.close()


def test_grpc_answers_and_records_under_the_request_id_of_its_trailer(grpc_target: str, service: str) -> None:
    import grpc

    from visionserve.v1 import visionserve_pb2 as pb
    from visionserve.v1.visionserve_pb2_grpc import VisionServeStub

    stub = VisionServeStub(grpc.insecure_channel(grpc_target))
    asked = pb.ClassifyRequest(images=[image_bytes("chelsea.png")], top_k=1)
    mine = f"grpc-{time.time_ns()}"
    for metadata in ([("request_id", mine)], []):
        answer, call = stub.Classify.with_call(asked, metadata=metadata, timeout=60)
        trailer = dict(call.trailing_metadata())["request_id"]
        assert answer.request_id == trailer
        assert trailer == mine or not metadata
        assert _record(service, trailer).endpoint == "grpc"


# The schema before records had a record_id: predictions keyed by the caller's request_id.
FIRST_SCHEMA = MIGRATIONS[:4]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_of_the_first_schema_migrates_keeping_its_records(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: Store
    if kind == "sqlite":
        store = SqliteStore(tmp_path / "first.sqlite3")
    else:
        store = PostgresStore(_fresh_database(request.getfixturevalue("postgres"), "first_schema"))
    with monkeypatch.context() as first_release:
        first_release.setattr(store_module, "MIGRATIONS", FIRST_SCHEMA)
        store.open()
    with store._connection() as conn:  # a record as the first release wrote it
        conn.execute(
            "INSERT INTO predictions (request_id, created, endpoint, model, model_version, caller, "
            "latency_ms, params, images, labels, response, image_kept) VALUES ('kept', 1700000000, "
            """'/v1/classify', 'm', 'v', NULL, 1, '{}', '[]', '["cat"]', '{}', FALSE)"""
        )
        conn.execute("INSERT INTO prediction_labels (request_id, label) VALUES ('kept', 'cat')")
        conn.commit()
    store.close()

    store.open()  # this release: its migrations run on the database as it is
    kept = store.get("kept")
    assert kept is not None
    assert (kept.record_id, kept.request_id, kept.created, kept.labels) == ("kept", "kept", 1.7e9, ["cat"])
    assert [r.record_id for r in store.query(Query(label="cat"))] == ["kept"]
    with store._connection() as conn:
        assert conn.execute("SELECT version FROM audit_schema").fetchone()[0] == len(MIGRATIONS)
    # The same request_id again: a record of its own; a record_id names one record still.
    again = _plain_record("kept")
    assert store.insert_many([again]) == 1
    assert {r.record_id for r in store.query(Query(request_id="kept"))} == {"kept", again.record_id}
    assert [r.record_id for r in store.find("kept", 10)] == ["kept"]
    # Records made in the same instant page once each: record_id breaks the tie.
    tied = [StoredRecord("tie", 2e9, "/v1/classify", "m", "v", None, 1.0, {}, [], [], {}) for _ in range(3)]
    store.insert_many(tied)
    seen: list[str] = []
    after = None
    while page := store.query(Query(request_id="tie", limit=1, after=after)):
        seen.append(page[0].record_id)
        after = (page[0].created, page[0].record_id)
    assert sorted(seen) == sorted(r.record_id for r in tied)
    store.close()


def _counting_writer(store: Store, counted: dict[str, int], *, fail_closed: bool) -> AuditWriter:
    def count(kind: str, n: int) -> None:
        counted[kind] = counted.get(kind, 0) + n

    writer = AuditWriter(
        store,
        fail_closed=fail_closed,
        buffer_records=3,
        batch_records=10,
        flush_interval_s=60.0,  # nothing is written before close
        retention_days=90.0,
        retention_check_s=3600.0,
        on_count=count,
    )
    writer.start()
    return writer


def test_every_record_the_writer_does_not_write_is_counted(tmp_path: Path) -> None:
    counted: dict[str, int] = {}
    writer = _counting_writer(SqliteStore(tmp_path / "w.sqlite3"), counted, fail_closed=False)
    same = _plain_record("same")

    def unmakeable() -> StoredRecord:
        raise ValueError("no summary")

    writer.submit(lambda: same)
    writer.submit(lambda: same)  # one record_id twice: the database inserts it once
    writer.submit(unmakeable)
    writer.submit(lambda: same)  # over buffer_records
    writer.close()
    writer.submit(lambda: same)  # after the stop
    assert counted == {
        "written": 1,
        "dropped_not_inserted": 1,
        "dropped_invalid_record": 1,
        "dropped_buffer_full": 1,
        "dropped_shutdown": 1,
    }
    assert writer.counts.written == 1
    assert sum(writer.counts.dropped.values()) == 4


def test_a_fail_closed_writer_counts_what_it_could_not_write_before_it_stopped(tmp_path: Path) -> None:
    class Unwritable(SqliteStore):
        def insert_many(self, records: Any) -> int:
            raise OSError("disk gone")

    counted: dict[str, int] = {}
    writer = _counting_writer(Unwritable(tmp_path / "w.sqlite3"), counted, fail_closed=True)
    writer.submit(lambda: _plain_record("a"))
    writer.submit(lambda: _plain_record("b"))
    writer.close(timeout_s=10)
    assert counted == {"dropped_shutdown": 2}
