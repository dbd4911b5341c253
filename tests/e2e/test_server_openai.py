"""The OpenAI dialect through the official `openai` client against `piston serve` on the
default model: completions and chat, whole and streamed, usage in streams, stop strings, n,
seed reproducibility, logprobs, echo, token-id prompts, prompt lists, /v1/models."""
import openai
import pytest
import requests

from server_fixture import MODEL_NAME, server  # noqa: F401  (the fixture)

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def client(server):  # noqa: F811
    return openai.OpenAI(base_url=server("/v1"), api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def greedy_ref(client):
    r = client.completions.create(model=MODEL_NAME, prompt=PROMPT, max_tokens=16, temperature=0)
    return r.choices[0].text


def test_models(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL_NAME]
    assert models.data[0].object == "model"
    assert client.models.retrieve(MODEL_NAME).id == MODEL_NAME


def test_completion(client, greedy_ref):
    r = client.completions.create(model=MODEL_NAME, prompt=PROMPT, max_tokens=16, temperature=0)
    assert r.object == "text_completion"
    assert r.id.startswith("cmpl-") and r.created > 0 and r.model == MODEL_NAME
    c = r.choices[0]
    assert c.index == 0 and c.finish_reason == "length"
    assert c.text == greedy_ref and "Paris" in c.text
    assert r.usage.prompt_tokens == 5
    assert r.usage.completion_tokens == 16
    assert r.usage.total_tokens == 21


def test_completion_stream_matches_whole(client, greedy_ref):
    chunks = list(client.completions.create(model=MODEL_NAME, prompt=PROMPT, max_tokens=16, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    assert text == greedy_ref
    finals = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finals == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 16
    assert chunks[-1].usage.prompt_tokens == 5
    assert all(ch.usage is None for ch in chunks[:-1])


def test_chat(client):
    msgs = [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "What is 2+2?"}]
    r = client.chat.completions.create(model=MODEL_NAME, messages=msgs, max_tokens=12, temperature=0)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    m = r.choices[0].message
    assert m.role == "assistant" and len(m.content) > 0
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens <= 12 and r.usage.prompt_tokens > 10
    s = list(client.chat.completions.create(model=MODEL_NAME, messages=msgs, max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    assert s[0].choices[0].delta.role == "assistant"
    assert "".join(ch.choices[0].delta.content or "" for ch in s if ch.choices) == m.content
    assert s[-1].usage.completion_tokens == r.usage.completion_tokens
    assert s[-1].usage.prompt_tokens == r.usage.prompt_tokens


def test_chat_multi_turn_and_max_completion_tokens(client):
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "Name a color."}]}]
    r = client.chat.completions.create(model=MODEL_NAME, messages=msgs, max_completion_tokens=5, temperature=0)
    assert r.usage.completion_tokens <= 5


def test_stop_strings(client, greedy_ref):
    # stop at the first newline of the greedy text: the text before it, finish_reason stop
    assert "\n" in greedy_ref
    want = greedy_ref[:greedy_ref.index("\n")]
    r = client.completions.create(model=MODEL_NAME, prompt=PROMPT, max_tokens=16, temperature=0, stop=["\n"])
    assert r.choices[0].text == want
    assert r.choices[0].finish_reason == "stop"
    s = list(client.completions.create(model=MODEL_NAME, prompt=PROMPT, max_tokens=16, temperature=0, stop="\n",
                                       stream=True))
    assert "".join(ch.choices[0].text for ch in s) == want
    assert s[-1].choices[0].finish_reason == "stop"


def test_n_and_seed(client):
    kw = dict(model=MODEL_NAME, prompt="Once upon a time", max_tokens=10, temperature=1.0, top_p=0.95)
    a = client.completions.create(n=3, seed=1234, **kw)
    b = client.completions.create(n=3, seed=1234, **kw)
    assert [c.index for c in a.choices] == [0, 1, 2]
    assert [c.text for c in a.choices] == [c.text for c in b.choices]
    assert a.usage.prompt_tokens == b.usage.prompt_tokens
    assert 3 <= a.usage.completion_tokens <= 30
    others = {client.completions.create(seed=s, **kw).choices[0].text for s in (1, 2, 3, 4)}
    assert len(others) > 1, "different seeds should give different samples"
    chat = dict(model=MODEL_NAME, messages=[{"role": "user", "content": "Tell me a story."}], max_tokens=8,
                temperature=1.0, seed=7)
    assert client.chat.completions.create(**chat).choices[0].message.content == \
        client.chat.completions.create(**chat).choices[0].message.content


def test_n_streaming(client):
    s = list(client.chat.completions.create(model=MODEL_NAME, messages=[{"role": "user", "content": "Hi"}],
                                            max_tokens=6, n=2, seed=3, temperature=0.8, stream=True))
    done = {ch.choices[0].index for ch in s if ch.choices and ch.choices[0].finish_reason}
    assert done == {0, 1}


def test_completion_logprobs(client, greedy_ref):
    r = client.completions.create(model=MODEL_NAME, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 6
    assert "".join(lp.tokens) == r.choices[0].text == greedy_ref[:len(r.choices[0].text)]
    for tok, p, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert p <= 0 and len(top) == 3
        # greedy: the chosen token is the most likely one
        assert max(top.values()) == pytest.approx(p, abs=1e-5) and tok in top
    assert lp.text_offset[0] == 0


def test_chat_logprobs(client):
    r = client.chat.completions.create(model=MODEL_NAME, messages=[{"role": "user", "content": "Hi"}], max_tokens=4,
                                       temperature=0, logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert 1 <= len(content) <= 4
    for e in content:
        assert e.logprob <= 0 and len(e.top_logprobs) == 2 and isinstance(e.bytes, list)
        assert e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob


def test_echo_and_prompt_lists(client, greedy_ref):
    r = client.completions.create(model=MODEL_NAME, prompt=PROMPT, max_tokens=4, temperature=0, echo=True)
    assert r.choices[0].text.startswith(PROMPT) and r.choices[0].text[len(PROMPT):] == greedy_ref[:len(
        r.choices[0].text) - len(PROMPT)]
    r = client.completions.create(model=MODEL_NAME, prompt=[PROMPT, "Hello"], max_tokens=4, temperature=0)
    assert [c.index for c in r.choices] == [0, 1]
    assert greedy_ref.startswith(r.choices[0].text)
    ids = requests.post(str(client.base_url).replace("/v1/", "/tokenize"), json={"prompt": PROMPT}).json()["tokens"]
    r = client.completions.create(model=MODEL_NAME, prompt=ids, max_tokens=4, temperature=0)
    assert greedy_ref.startswith(r.choices[0].text) and r.usage.prompt_tokens == len(ids)
    r = client.completions.create(model=MODEL_NAME, prompt=[ids, ids], max_tokens=2, temperature=0)
    assert len(r.choices) == 2 and r.choices[0].text == r.choices[1].text


def test_vllm_extensions(client):
    # ignore_eos + min_tokens: exactly max_tokens outputs
    r = client.completions.create(model=MODEL_NAME, prompt="Hi", max_tokens=8, temperature=0,
                                  extra_body={"ignore_eos": True, "top_k": 5, "min_p": 0.01,
                                              "repetition_penalty": 1.1})
    assert r.usage.completion_tokens == 8 and r.choices[0].finish_reason == "length"


def test_openai_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL_NAME, prompt="x", max_tokens=5000)
    assert "maximum context length is 2048" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL_NAME, prompt="x", max_tokens=2, temperature=-1)
