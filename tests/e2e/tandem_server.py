"""A real `tandem serve` for the end-to-end tests, shared by every test file (the `server` fixture in
conftest.py): a free loopback port, its own data directory (knowledge base, API keys, usage log) and
an admin key made with the real `tandem keys create`.

Runs $TANDEM_BIN (set by CTest) with the chat model from TANDEM_TEST_CHAT_MODEL (default: the
setup.sh location) and the embedding model from TANDEM_TEST_EMBEDDING_MODEL.
"""

import contextlib
import json
import os
import selectors
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def cache_dir() -> Path:
    if os.environ.get("TANDEM_CACHE"):
        return Path(os.environ["TANDEM_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "tandem"
    return Path.home() / ".cache" / "tandem"


CHAT_MODEL = Path(os.environ.get("TANDEM_TEST_CHAT_MODEL") or cache_dir() / "models" / "gemma-3-270m-q4_k_m.gguf")
EMBEDDING_MODEL = Path(
    os.environ.get("TANDEM_TEST_EMBEDDING_MODEL") or cache_dir() / "models" / "all-minilm-l6-v2-bf16.gguf"
)
LISTENING = "tandem: listening on http://"


def _read_listening_line(process: subprocess.Popen, timeout_s: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.1):
            continue
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("tandem serve exited before listening")
        if line.startswith(LISTENING):
            return line.strip()
    raise RuntimeError(f"tandem serve did not listen within {timeout_s} s")


def _stop(process: subprocess.Popen):
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_llama_server(work: Path):
    """llama.cpp's own server (built beside tandem, or $TANDEM_LLAMA_SERVER) with the chat model: the
    "public cloud model" of a test. Yields its OpenAI base URL; always stopped after."""
    binary = os.environ.get("TANDEM_LLAMA_SERVER") or str(Path(os.environ["TANDEM_BIN"]).parent / "llama-server")
    if not Path(binary).exists():
        pytest.skip(f"no llama-server at {binary} (built with TANDEM_BUILD_BENCH=ON)")
    port = _free_loopback_port()
    with open(work / "llama-server.txt", "w") as log:
        process = subprocess.Popen([binary, "-m", str(CHAT_MODEL), "-np", "2", "-c", "2048", "-t", "2", "--host",
                                    "127.0.0.1", "--port", str(port), "--no-webui", "--no-jinja", "--chat-template",
                                    "gemma"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as health:
                    if health.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama-server did not become healthy:\n{(work / 'llama-server.txt').read_text()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(process)


@contextlib.contextmanager
def running_server(work: Path, settings=(), env=None):
    """Yields {"port", "key"} (an admin key of tenant e2e); the server is always stopped after.
    `settings` are extra `--set key=value` pairs, `env` extra environment variables."""
    binary = os.environ.get("TANDEM_BIN")
    assert binary, "set TANDEM_BIN to the tandem binary (CTest does)"
    if not CHAT_MODEL.exists():
        pytest.skip(f"no chat model at {CHAT_MODEL} (run scripts/setup.sh)")
    stderr_path = work / "stderr.txt"
    env = dict(os.environ, TANDEM_DATA=str(work / "data"), **(env or {}))
    created = subprocess.run([binary, "keys", "create", "--tenant", "e2e", "--scope", "admin", "--json"],
                             env=env, capture_output=True, text=True, check=True)
    key = json.loads(created.stdout)["key"]
    args = [binary, "--set", f"engine.model={CHAT_MODEL}", "--set", f"engine.embedding_model={EMBEDDING_MODEL}"]
    for setting in settings:
        args += ["--set", setting]
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(args + ["serve", "--host", "127.0.0.1", "--port", "0"],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        try:
            line = _read_listening_line(process, timeout_s=120)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; stderr:\n{stderr_path.read_text()}") from None
        yield {"port": int(line.rsplit(":", 1)[1]), "key": key}
    finally:
        _stop(process)
        process.stdout.close()
