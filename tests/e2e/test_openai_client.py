"""The official `openai` Python client against a real `tandem serve` on loopback (the `server`
fixture of conftest.py).
"""

import os
import urllib.request

import numpy as np
import openai
import pytest

from tandem_server import CHAT_MODEL, EMBEDDING_MODEL


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
    assert "tandem/local" in ids
    assert client.models.retrieve("tandem/local").id == "tandem/local"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


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
    # A separate request after a cached prompt prefix: the same greedy answer up to a late near-tie
    # (tests/support/test_support.h, agree_for_the_first_half).
    answer = completion.choices[0].message.content
    assert 2 * len(os.path.commonprefix([text, answer])) >= max(len(text), len(answer)), (text, answer)
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
    answer = completion.choices[0].message.content
    assert answer
    # Each passage says whether the answer cites it; numbers that are no passage are listed apart.
    for citation in knowledge["citations"]:
        assert isinstance(citation["cited"], bool)
        if f"[{citation['number']}]" in answer:
            assert citation["cited"], (answer, citation)
    assert isinstance(knowledge["unknown_citations"], list)
