"""The official `openai` Python client against a real `tandem serve` on loopback.

Runs $TANDEM_BIN (set by CTest) with the chat model from TANDEM_TEST_CHAT_MODEL (default: the
setup.sh location) and the embedding model from TANDEM_TEST_EMBEDDING_MODEL.
"""

import json
import os
import selectors
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import openai
import pytest


def _cache_dir() -> Path:
    if os.environ.get("TANDEM_CACHE"):
        return Path(os.environ["TANDEM_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "tandem"
    return Path.home() / ".cache" / "tandem"


CHAT_MODEL = Path(os.environ.get("TANDEM_TEST_CHAT_MODEL") or _cache_dir() / "models" / "gemma-3-270m-q4_k_m.gguf")
EMBEDDING_MODEL = Path(
    os.environ.get("TANDEM_TEST_EMBEDDING_MODEL") or _cache_dir() / "models" / "all-minilm-l6-v2-f32.gguf"
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary = os.environ.get("TANDEM_BIN")
    assert binary, "set TANDEM_BIN to the tandem binary (CTest does)"
    if not CHAT_MODEL.exists():
        pytest.skip(f"no chat model at {CHAT_MODEL} (run scripts/setup.sh)")
    work = tmp_path_factory.mktemp("serve")
    stderr_path = work / "stderr.txt"
    # The server's data (its knowledge base, its API keys) lives in the test's temporary directory.
    env = dict(os.environ, TANDEM_DATA=str(work / "data"))
    created = subprocess.run([binary, "keys", "create", "--tenant", "e2e", "--scope", "admin", "--json"],
                             env=env, capture_output=True, text=True, check=True)
    key = json.loads(created.stdout)["key"]
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [binary, "--set", f"engine.model={CHAT_MODEL}", "--set", f"engine.embedding_model={EMBEDDING_MODEL}",
             "serve", "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        try:
            line = _read_listening_line(process, timeout_s=120)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; stderr:\n{stderr_path.read_text()}") from None
        yield {"port": int(line.rsplit(":", 1)[1]), "key": key}
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server['port']}/v1", api_key=server["key"], timeout=300,
                         max_retries=0)


def test_a_wrong_api_key_is_refused(server):
    intruder = openai.OpenAI(base_url=f"http://127.0.0.1:{server['port']}/v1", api_key="tdm_000000000000_wrong",
                             max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        intruder.models.list()


def _greedy(client, prompt, **kwargs):
    return client.chat.completions.create(
        model="tandem/local", messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=24, **kwargs)


def test_models_lists_the_chat_model(client):
    ids = [m.id for m in client.models.list().data]
    assert CHAT_MODEL.stem in ids


def test_chat_completion(client):
    completion = _greedy(client, "What is the capital of France?")
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= 24
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert completion.model == CHAT_MODEL.stem


def test_stream_equals_non_streaming_greedy_text(client):
    prompt = "Name three animals."
    expected = _greedy(client, prompt).choices[0].message.content
    chunks = list(_greedy(client, prompt, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes in (["stop"], ["length"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_errors_become_openai_exceptions(client):
    with pytest.raises(openai.NotFoundError) as not_found:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "Hi"}])
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="tandem/local", messages=[{"role": "user", "content": "Hi"}], n=2)
    assert bad.value.param == "n"


def test_embeddings(client):
    if not EMBEDDING_MODEL.exists():
        pytest.skip(f"no embedding model at {EMBEDDING_MODEL} (run scripts/setup.sh, then tandem convert)")
    inputs = ["a small cat", "a little kitten", "the stock market fell today"]
    result = client.embeddings.create(model=EMBEDDING_MODEL.stem, input=inputs)
    assert [d.index for d in result.data] == [0, 1, 2]
    vectors = np.array([d.embedding for d in result.data], dtype=np.float32)
    assert vectors.shape[0] == 3 and vectors.shape[1] > 0
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert result.usage.prompt_tokens > 0
    floats = client.embeddings.create(model=EMBEDDING_MODEL.stem, input=inputs[0], encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, vectors[0], atol=1e-6)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="hello")


def test_auto_routing_reports_its_decision(client):
    raw = client.chat.completions.with_raw_response.create(
        model="tandem/auto", messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0, max_tokens=8)
    assert raw.headers["x-tandem-route"] == "local"
    completion = raw.parse()
    assert completion.choices[0].message.content
    decision = completion.model_extra["tandem"]
    assert decision["route"] == "local" and decision["mode"] == "auto"
    assert decision["intent"]["source"] == "local"
    assert decision["reasons"][-1] == "no cloud provider is configured"

    chunks = list(client.chat.completions.create(
        model="tandem/auto", messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0, max_tokens=8, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content
    last = [c for c in chunks if c.choices and c.choices[0].finish_reason][-1]
    assert last.model_extra["tandem"]["route"] == "local"


def test_grounded_answer_carries_citations(server, client):
    upload = urllib.request.Request(
        f"http://127.0.0.1:{server['port']}/tandem/v1/kb/documents?collection=e2e&name=lease.md",
        data="# Lease\n\nThe lease of the flat at 12 Elm Street ends on 31 March 2027.\n".encode(), method="POST",
        headers={"Authorization": f"Bearer {server['key']}"})
    with urllib.request.urlopen(upload, timeout=120) as response:
        assert response.status == 201
    completion = client.chat.completions.create(
        model="tandem/auto", messages=[{"role": "user", "content": "When does the lease end?"}], temperature=0,
        max_tokens=24, extra_body={"tandem": {"knowledge": "always", "collections": ["e2e"]}})
    knowledge = completion.model_extra["tandem"]["knowledge"]
    assert knowledge["found"] is True
    assert knowledge["citations"][0]["path"] == "lease.md"
    assert "31 March 2027" in knowledge["citations"][0]["snippet"]
    assert completion.choices[0].message.content
