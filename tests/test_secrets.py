"""Credentials in a ``base_url`` never reach a file nextevent writes (issue 14, item 6):
a base URL with userinfo ``user:SECRET2@`` and ``?api-key=SECRET`` against a loopback
server that fails every call and echoes the request it got (request line with the query,
every header, Basic auth included) into its error body. ``nextevent build --llm-config``
and ``nextevent bench eval`` are run through the CLI; then every file under their output
folders (SQLite included, read as bytes) is searched for the secrets, raw, URL-encoded and
in their Basic-auth base64 form."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from test_bench_eval import make_items
from typer.testing import CliRunner

from nextevent.bench.build import write_items
from nextevent.cli import app
from nextevent.llm.client import LLMClient
from nextevent.llm.config import LLMConfig, RoleConfig
from nextevent.llm.wire import redact_url, split_base_url

SECRET, SECRET2 = "SECRETqueryKey123", "SECRETuserPass456"
FORMS = [SECRET, SECRET2, "SECRET", base64.b64encode(f"user:{SECRET2}".encode()).decode()]


class EchoFailServer:
    """Answers every request with HTTP 500 whose error message repeats the request line
    (path and query) and all request headers; records the request lines."""

    def __init__(self) -> None:
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def _fail(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                seen.append((self.requestline, dict(self.headers)))
                body = json.dumps({"error": {"message": f"scripted failure of "
                                   f"{self.requestline} {dict(self.headers)}"}}).encode()
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = _fail  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.httpd.server_address[1]
        self.url = f"http://user:{SECRET2}@127.0.0.1:{port}/v1?api-key={SECRET}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> EchoFailServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def leaks(folder: Path) -> list[str]:
    """``file: form`` for every secret form found in any file under ``folder``."""
    found = []
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        found += [f"{path.name}: {form}" for form in FORMS if form.encode() in data]
    return found


def test_url_credentials_are_redacted_and_the_query_reaches_the_server() -> None:
    url = f"https://user:{SECRET2}@gw.example/v1?api-key={SECRET}&key=abc%2Fdef"
    client = LLMClient(LLMConfig(roles={"planner": RoleConfig(base_url=url, model="m")}))
    text = client.redact(f"failed at {url} (Basic {FORMS[3]}; key abc/def)")
    assert not [f for f in [*FORMS, "abc%2Fdef", "abc/def"] if f in text], text
    assert "gw.example/v1" in text
    assert redact_url(url) == "https://***@gw.example/v1?api-key=***&key=***"
    assert split_base_url(url) == ("https://gw.example/v1",
                                   {"api-key": SECRET, "key": "abc/def"},
                                   {"Authorization": f"Basic {FORMS[3]}"})


def test_no_secret_in_a_build_or_an_eval_against_a_failing_server(
        tmp_path: Path, bunny: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(bunny, videos / bunny.name)
    run = tmp_path / "run"
    bench = tmp_path / "bench.jsonl"
    write_items(make_items(3, None), bench)
    evald = tmp_path / "eval"
    with EchoFailServer() as server:
        cfg = tmp_path / "llm.yaml"
        cfg.write_text(
            f"defaults: {{base_url: '{server.url}', timeout_s: 2, max_retries: 1, "
            "backoff_s: 0.05}\nroles:\n"
            + "".join(f"  {r}: {{model: m-{r}}}\n" for r in
                      ("captioner", "grounder", "planner", "reasoner", "rewriter",
                       "critic")))
        build = CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(run),
                                         "--llm-config", str(cfg), "--workers", "1",
                                         "--no-progress"])
        calls_after_build = len(server.seen)
        ev = CliRunner().invoke(app, ["bench", "eval", str(bench), "--base-url", server.url,
                                      "--model", "m", "--out", str(evald), "--text-only",
                                      "--no-progress", "--max-retries", "1"])
    assert calls_after_build >= 1 and len(server.seen) > calls_after_build
    # the query reached the server whole, as a query, and the userinfo as Basic auth
    line, headers = server.seen[-1]
    assert f"/v1/chat/completions?api-key={SECRET} " in line, line
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == f"Basic {FORMS[3]}"
    # the failures were recorded (and name the server's error), but no secret anywhere
    failures = (run / "failures.jsonl").read_text()
    assert "scripted failure of" in failures and "127.0.0.1" in failures
    assert (run / "state.sqlite").is_file()
    assert "scripted failure of" in (evald / "failures.jsonl").read_text()
    assert (evald / "results.json").is_file()
    assert leaks(run) == [] and leaks(evald) == []
    for result in (build, ev):
        assert "Traceback" not in result.output
        assert not [f for f in FORMS if f in result.output], result.output
