"""A conversation whose last message is left open for the model to continue: vLLM's
continue_final_message (and add_generation_prompt: false) on /v1/chat/completions, and
Anthropic's assistant prefill on /v1/messages, whose reply is the continuation only. The
prompt is the conversation up to the assistant's opening, then the prefill's text, with no end
of turn (checked on the prompt's token ids), and the output is what the model writes from
exactly that prompt (the same ids through /v1/completions). Also Anthropic's tool_result
is_error (the model reads "Error: ...") and cache_control (taken; it changes no token)."""
import pytest
import requests

from server_fixture import server  # noqa: F401

ASK = {"role": "user", "content": "What is the capital of France?"}
PREFILL = "The capital of France is"
CONV = [ASK, {"role": "assistant", "content": PREFILL}]


def chat(server, **kw):
    r = requests.post(server("/v1/chat/completions"), json={"model": "smollm2", "max_tokens": 8, "temperature": 0, **kw},
                      timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def prompt_ids(server, **kw):
    """The prompt's ids, read back from prompt_logprobs (the first from /tokenize: the same BOS)."""
    r = chat(server, prompt_logprobs=0, **kw)
    first = requests.post(server("/tokenize"), json={"messages": [ASK]}, timeout=60).json()["tokens"][0]
    return [first] + [int(next(iter(e))) for e in r["prompt_logprobs"][1:]], r


def text_of(server, ids):
    return "".join(requests.post(server("/detokenize"), json={"tokens": [i]}, timeout=60).json()["prompt"] for i in ids)


def test_continue_final_message(server):
    opened = requests.post(server("/tokenize"), json={"messages": [ASK]}, timeout=60).json()["tokens"]  # ends "assistant\n"
    ids, r = prompt_ids(server, messages=CONV, continue_final_message=True, add_generation_prompt=False)
    assert ids[:len(opened)] == opened and text_of(server, ids[len(opened):]) == PREFILL  # nothing after the prefill
    out = r["choices"][0]["message"]["content"]
    assert out and not out.startswith(PREFILL) and r["usage"]["prompt_tokens"] == len(ids)
    again = requests.post(server("/v1/completions"), json={"model": "smollm2", "prompt": ids, "max_tokens": 8,
                                                           "temperature": 0}, timeout=60).json()
    assert again["choices"][0]["text"] == out  # generated from exactly that prompt
    # add_generation_prompt false alone: the template's own end (the turn closed, no new one)
    closed, _ = prompt_ids(server, messages=CONV, add_generation_prompt=False)
    end = requests.post(server("/tokenize"), json={"prompt": "<|im_end|>\n", "add_special_tokens": False}, timeout=60)
    assert closed == ids + end.json()["tokens"]
    r = requests.post(server("/v1/chat/completions"), json={"model": "smollm2", "messages": CONV, "max_tokens": 2,
                                                            "continue_final_message": True, "add_generation_prompt": True},
                      timeout=60)
    assert r.status_code == 400 and r.json()["error"]["param"] == "continue_final_message"


def test_anthropic_prefill_continues(server):
    import anthropic
    ac = anthropic.Anthropic(base_url=server(""), api_key="none", max_retries=0)
    ref = chat(server, messages=CONV, continue_final_message=True)
    r = ac.messages.create(model="smollm2", max_tokens=8, messages=CONV, extra_body={"temperature": 0})
    assert r.content[0].text == ref["choices"][0]["message"]["content"]  # the continuation only
    assert r.usage.input_tokens == ref["usage"]["prompt_tokens"]
    assert ac.messages.count_tokens(model="smollm2", messages=CONV).input_tokens == r.usage.input_tokens
    with ac.messages.stream(model="smollm2", max_tokens=8, messages=CONV, extra_body={"temperature": 0}) as st:
        assert "".join(st.text_stream) == r.content[0].text
    blocks = [ASK, {"role": "assistant", "content": [{"type": "text", "text": PREFILL}]}]
    assert ac.messages.create(model="smollm2", max_tokens=8, messages=blocks,
                              extra_body={"temperature": 0}).content[0].text == r.content[0].text
    # an empty prefill is a new turn; trailing whitespace and a tool_use are refused, as Anthropic does
    empty = ac.messages.count_tokens(model="smollm2", messages=[ASK, {"role": "assistant", "content": ""}])
    assert empty.input_tokens == ac.messages.count_tokens(model="smollm2", messages=[ASK]).input_tokens
    with pytest.raises(anthropic.BadRequestError, match="trailing whitespace"):
        ac.messages.create(model="smollm2", max_tokens=8, messages=[ASK, {"role": "assistant", "content": PREFILL + " "}])
    use = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    with pytest.raises(anthropic.BadRequestError, match="prefill"):
        ac.messages.create(model="smollm2", max_tokens=8, messages=[ASK, {"role": "assistant", "content": [use]}])


def count(server, messages, **kw):
    r = requests.post(server("/v1/messages/count_tokens"), json={"model": "smollm2", "messages": messages, **kw}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["input_tokens"]


TOOLS = [{"name": "get_weather", "description": "Weather of a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def history(result):
    return [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", **result}]}]


def test_anthropic_tool_result_is_error(server):
    failed = count(server, history({"content": "city not found", "is_error": True}), tools=TOOLS)
    assert failed == count(server, history({"content": "Error: city not found"}), tools=TOOLS)
    assert failed != count(server, history({"content": "city not found"}), tools=TOOLS)
    assert count(server, history({"is_error": True}), tools=TOOLS) == count(server, history({"content": "Error"}), tools=TOOLS)


def test_anthropic_cache_control_taken(server):
    cc = {"type": "ephemeral"}
    plain = count(server, history({"content": "18 C"}), tools=TOOLS, system=[{"type": "text", "text": "Be brief."}])
    marked = history({"content": [{"type": "text", "text": "18 C", "cache_control": cc}], "cache_control": cc})
    marked[0] = {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?", "cache_control": cc}]}
    marked[1]["content"][0]["cache_control"] = cc
    tools = [{**TOOLS[0], "cache_control": cc}]
    assert count(server, marked, tools=tools, system=[{"type": "text", "text": "Be brief.", "cache_control": cc}]) == plain
    r = requests.post(server("/v1/messages"), json={"model": "smollm2", "max_tokens": 2, "messages": marked, "tools": tools},
                      timeout=60)
    assert r.status_code == 200, r.text
