"""Bounded model calls (issue 14, item 3): a server sending a 50 MB body (announced or
chunked, as an answer or as an error) is cut off after ``max_response_bytes`` and the call
fails at once naming the role, the size and the setting; a ``Retry-After`` past the call's
deadline fails the call at once; a server that never answers is given up on at
``deadline_s``. Real sockets on 127.0.0.1 (`HugeBodyServer`, `ScriptedServer`)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from scripted_server import Faults, ScriptedServer, completion
from test_llm import Sequence, ask, client_for

from nextevent.llm import LLMCallError
from nextevent.llm.config import RoleConfig

MB = 1024 * 1024


class HugeBodyServer:
    """Answers every request with a ``total``-byte body, sent in 64 KiB chunks as fast
    as the client takes them: with ``Content-Length`` or chunked (``chunked=True``),
    status ``status``. ``sent`` counts the body bytes written before the client hung up.
    A body that starts as a chat completion, so only its size is wrong."""

    def __init__(self, total: int = 50 * MB, *, chunked: bool = False,
                 status: int = 200) -> None:
        self.total, self.chunked, self.status = total, chunked, status
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.sent: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        sent = 0
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            framing = (b"Transfer-Encoding: chunked\r\n" if self.chunked
                       else f"Content-Length: {self.total}\r\n".encode())
            conn.sendall(f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                         .encode() + framing + b"\r\n")
            start = json.dumps(completion("A", "m"))[:-1].encode() + b', "pad": "'
            chunk = b"x" * 65536
            pieces = [start] + [chunk] * (self.total // len(chunk))
            for piece in pieces:
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if self.chunked else piece)
                sent += len(piece)
        self.sent.append(sent)

    def __enter__(self) -> HugeBodyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("status", [200, 500], ids=["answer", "error"])
def test_a_50_mb_body_is_cut_off_and_fails_the_call_at_once(tmp_path: Path, chunked: bool,
                                                            status: int) -> None:
    with HugeBodyServer(chunked=chunked, status=status) as server:
        client = client_for(server.url, tmp_path, timeout_s=20, max_retries=3,
                            max_response_bytes=1 * MB)
        started = time.monotonic()
        with pytest.raises(LLMCallError) as info:
            ask(client)
        took = time.monotonic() - started
        time.sleep(0.3)  # let the server notice the hang-up
    err = info.value
    assert err.kind == "too_large" and err.stage == "events"
    text = f"{err} {err.hint}"
    assert "planner" in text and "max_response_bytes" in text and "1048576" in text
    if not chunked:
        assert "announced 52428800 bytes" in text  # refused on the header, nothing read
    assert took < 10
    assert len(server.sent) == 1  # no retry: the same body would come again
    assert server.sent[0] < 20 * MB  # the client hung up long before the 50 MB
    assert client.usage["planner"].failures == 1
    # nothing was cached: a server that behaves is asked again
    with ScriptedServer(Sequence()) as good:
        assert ask(client_for(good.url, tmp_path, max_response_bytes=1 * MB)) == 7


def test_a_body_under_the_cap_is_read() -> None:
    with ScriptedServer(Sequence()) as server:
        assert ask(client_for(server.url, max_response_bytes=1024)) == 7


def test_retry_after_past_the_deadline_fails_at_once() -> None:
    faults = Faults(rate=1.0, kinds=("http429",), retry_after="590")
    with ScriptedServer(Sequence(), faults=faults) as server:
        started = time.monotonic()
        with pytest.raises(LLMCallError) as info:
            ask(client_for(server.url, timeout_s=5, max_retries=4, deadline_s=30))
        assert time.monotonic() - started < 5
        assert len(server.calls) == 1
    err = info.value
    assert err.kind == "deadline"
    assert "590 s" in str(err) and "deadline_s=30" in str(err) and "not waiting" in str(err)


def test_default_deadline_covers_the_retries() -> None:
    cfg = RoleConfig(base_url="http://x/v1", model="m", timeout_s=10, max_retries=2,
                     max_backoff_s=5)
    assert cfg.call_deadline_s() == 10 * 3 + 5 * 2
    assert cfg.model_copy(update={"deadline_s": 4.0}).call_deadline_s() == 4.0


def test_a_server_that_never_answers_is_given_up_at_the_deadline() -> None:
    faults = Faults(rate=1.0, kinds=("slow",), slow_s=60)
    with ScriptedServer(Sequence(), faults=faults) as server:
        started = time.monotonic()
        with pytest.raises(LLMCallError) as info:
            ask(client_for(server.url, timeout_s=1.0, max_retries=10, deadline_s=2.5))
        took = time.monotonic() - started
        assert 2.0 < took < 5, took
        assert len(server.calls) == 3  # 1 s, 1 s, then the 0.5 s left
    assert info.value.kind in ("deadline", "exhausted")
    assert "deadline_s=2.5" in str(info.value)


def test_retry_after_past_the_longest_honoured_fails_without_format_fallback() -> None:
    faults = Faults(rate=1.0, kinds=("http429",), retry_after="900")
    with ScriptedServer(Sequence(), faults=faults) as server:
        with pytest.raises(LLMCallError) as info:
            ask(client_for(server.url, timeout_s=5, max_retries=4, deadline_s=5000))
        assert len(server.calls) == 1  # not re-sent as json_object / prompt-only
    assert info.value.kind == "deadline" and "900 s" in str(info.value)
