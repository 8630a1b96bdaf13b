"""The command line's parser and its answers to whatever a server says, in process: every
command and option in the help, options after the command, and one clear line (never a
traceback) for a server that is not VisionServe."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import IMAGES
from visionserve import cli
from visionserve_client._tables import top_predictions

OPTIONS = {
    (): ["--url", "--timeout", "--api-key", "classify", "detect", "segment", "explain", "models", "labels",
         "audit", "serve"],
    ("classify",): ["--url", "--timeout", "--api-key", "--model", "--json", "--top-k", "IMAGE"],
    ("detect",): ["--url", "--score-threshold", "--save-overlay", "--json"],
    ("segment",): ["--url", "--save-overlay", "--json"],
    ("explain",): ["--url", "--method", "--target-label", "--target-class", "--fidelity", "--save-overlay",
                   "--progress"],
    ("models",): ["--url", "--api-key", "--json"],
    ("labels",): ["--url", "--json", "name"],
    ("audit",): ["--url", "list", "show", "explain"],
    ("audit", "list"): ["--url", "--model", "--model-version", "--label", "--since", "--until",
                        "--request-id", "--cursor", "--limit", "--json"],
    ("audit", "show"): ["--url", "id"],
    ("audit", "explain"): ["--url", "--method", "--target-label", "--target-class", "--json"],
    ("serve",): ["config", "--host", "--port", "--grpc-port", "--metrics-port", "--no-dashboard",
                 "--start-timeout"],
}  # fmt: skip


@pytest.mark.parametrize("command", OPTIONS, ids=lambda c: " ".join(c) or "visionserve")
def test_help_shows_every_command_and_option(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    for option in OPTIONS[command]:
        assert option in shown, (command, option)


class _NotVisionServe(BaseHTTPRequestHandler):
    """A web server that is not VisionServe: a page for every path."""

    def _page(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = b"<html><body>hello</body></html>"
        if self.path == "/v1/models/empty/labels":
            self.send_response(204)
            self.end_headers()
            return
        self.send_response(200 if self.path.startswith("/v1/models") else 404)
        self.send_header("content-type", "text/html")
        if self.path == "/v1/models/gzip/labels":
            self.send_header("content-encoding", "gzip")  # and a body that is not gzip
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotVisionServe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_server_that_is_not_visionserve_gets_one_line_and_a_status(
    elsewhere: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chelsea = str(IMAGES / "chelsea.png")
    assert cli.main(["models", "--url", elsewhere]) == 1  # the option after the command
    said = capsys.readouterr().err
    assert said.startswith(f"visionserve: {elsewhere} did not answer as VisionServe does")
    assert "Traceback" not in said
    assert cli.main(["--url", elsewhere, "classify", chelsea]) == 1
    said = capsys.readouterr().err
    assert f"{chelsea}: 404" in said
    assert "Traceback" not in said
    for broken in ("gzip", "empty"):  # an answer that cannot be read, an empty one
        assert cli.main(["labels", broken, "--url", elsewhere]) == 1
        said = capsys.readouterr().err
        assert said.count("\n") == 1, said
        assert "Traceback" not in said
    assert cli.main(["models", "--url", "localhost:8000"]) == 2  # no scheme
    assert "http://" in capsys.readouterr().err


def test_a_key_a_header_cannot_carry_is_refused_without_printing_it(
    elsewhere: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["models", "--url", elsewhere, "--api-key", "sk-SECRET\r"]) == 2
    said = capsys.readouterr().err
    assert "API key" in said
    assert "SECRET" not in said


def test_missing_files_are_named_and_the_others_still_run(
    elsewhere: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["classify", "--url", elsewhere, "no-such.png", str(IMAGES / "chelsea.png")]) == 1
    said = capsys.readouterr().err
    assert "no-such.png:" in said
    assert "[2/2]" in said  # the second file was still sent
    assert "2 of 2 images failed" in said


def test_audit_lists_a_records_best_scored_predictions_first() -> None:
    response = {
        "results": [
            {"classes": [{"label": "ant", "score": 0.01}, {"label": "tabby", "score": 0.9}]},
            {
                "detections": [
                    {"label": "dog", "score": 0.5, "box": [0, 0, 1, 1]},
                    {"label": "tabby", "score": 0.2},
                ]
            },
        ]
    }
    assert top_predictions(response) == "tabby 0.90, dog 0.50, ant 0.01"
    assert top_predictions(response, count=1) == "tabby 0.90"
    assert top_predictions({"results": []}) == ""


@pytest.mark.parametrize("given", [["--url", "http://elsewhere:1"], ["--api-key=k"], ["--timeout", "5"]])
def test_serve_refuses_the_client_commands_options(
    given: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Given before ``serve``, the parser takes them; serve would ignore them: refused instead."""
    with pytest.raises(SystemExit) as done:
        cli.main([*given, "serve"])
    assert done.value.code == 2
    assert f"{given[0].split('=')[0]} is for the client commands" in capsys.readouterr().err
