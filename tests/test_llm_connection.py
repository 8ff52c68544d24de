"""The client names a dead or absent server for what it is (issue 11): connection refused
when nothing listens, closed after N s when the server drops the connection mid-request,
and a timeout only when it really waited ``timeout_s``. Real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
from test_llm import ask, client_for

from nextevent.llm import LLMCallError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dropper:
    """Accepts connections, reads the request head, waits ``delay_s``, then closes the
    socket without answering: what a server that crashes on a request looks like."""

    def __init__(self, delay_s: float = 0.2, answer: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.delay_s, self.answer = delay_s, answer
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            with conn:
                conn.settimeout(1.0)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                time.sleep(self.delay_s)

    def __enter__(self) -> Dropper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_nothing_listening_is_connection_refused(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(LLMCallError) as info:
        ask(client_for(url, timeout_s=30, max_retries=1))
    assert time.monotonic() - started < 30  # it did not wait for a timeout
    text = str(info.value)
    assert "connection refused" in text and "timeout" not in text.split("gave up")[0]
    assert url in text


def test_server_dropping_the_connection_is_closed_after_seconds(tmp_path: Path) -> None:
    with Dropper(delay_s=0.3) as server, pytest.raises(LLMCallError) as info:
        ask(client_for(server.url, timeout_s=60, max_retries=1))
    text = str(info.value)
    assert server.accepted >= 1
    assert "connection closed by the server after" in text, text
    assert "no answer within timeout_s" not in text


def test_a_real_wait_is_still_a_timeout(tmp_path: Path) -> None:
    with Dropper(delay_s=3.0) as server, pytest.raises(LLMCallError) as info:
        ask(client_for(server.url, timeout_s=0.5, max_retries=0))
    assert "no answer within timeout_s=0.5 s" in str(info.value)
