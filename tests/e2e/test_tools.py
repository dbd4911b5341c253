"""Tool calling end to end through the official clients on the real default model (SmolLM2:
ChatML, Hermes-style <tool_call>): OpenAI's tools with tool_choice required, a named
function, auto and none, parallel calls, streamed and not (the streamed tool_calls deltas
must add up to the whole answer's calls), history with assistant tool_calls and tool
results; Ollama's tools; Anthropic's tools (tool_use blocks, streamed input_json_delta).
OpenAI's auto and Ollama's tools must make real calls (a few-shot history gets them from the
model), and every call's arguments must validate against the function's parameters schema.
Mistral's [TOOL_CALLS]name[ARGS] format too, on a copy of the model that carries
Mistral-Small-3.2's template (llama.cpp's copy): required and named calls, streamed and not,
with Mistral's 9-character ids, and a history of calls and results sent back.
"""
import json
import os
import subprocess
import sys

import jsonschema
import openai
import pytest

from server_fixture import Server, server  # noqa: F401
from test_chat_tools import template_dir  # noqa: F401

WEATHER = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
                                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
           "required": ["city"], "additionalProperties": False}
SEARCH = {"type": "object", "properties": {"query": {"type": "string", "maxLength": 40},
                                           "top_k": {"type": "integer", "minimum": 1, "maximum": 10}},
          "required": ["query"], "additionalProperties": False}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather in a city",
                                           "parameters": WEATHER}},
         {"type": "function", "function": {"name": "search", "description": "Search the web", "parameters": SEARCH}}]
SCHEMAS = {"get_weather": WEATHER, "search": SEARCH}
ASK = [{"role": "user", "content": "What is the weather in Paris and in Rome?"}]
# A history in which every question got a call: with it the small model calls in `auto` too
# (asked plainly, it answers in text). The results are left out, so that what it copies is
# "<tool_call>", not "<tool_response>".
FEW_SHOT = [m for i, city in enumerate(["Berlin", "Rome", "Tokyo", "Oslo"]) for m in (
    {"role": "user", "content": f"What is the weather in {city}?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}", "type": "function", "function": {
        "name": "get_weather", "arguments": json.dumps({"city": city})}}]})] + [
    {"role": "user", "content": "What is the weather in Paris?"}]


def client(srv):
    return openai.OpenAI(base_url=srv("/v1"), api_key="none", max_retries=0, timeout=300)


def check_calls(calls, names=None):
    assert calls, "no tool call"
    for c in calls:
        assert c.type == "function" and c.id
        assert c.function.name in (names or SCHEMAS)
        jsonschema.validate(json.loads(c.function.arguments), SCHEMAS[c.function.name])


def call_history(id1, id2):
    """ASK, answered with two get_weather calls (ids id1, id2), and their results."""
    return ASK + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": id1, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": id2, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": id1, "content": "21 C, sunny"},
        {"role": "tool", "tool_call_id": id2, "content": "25 C, cloudy"}]


def stream_calls(chunks):
    """Rebuild tool calls from OpenAI tool_calls deltas, as client libraries do."""
    calls, content, finish = {}, "", None
    for ch in chunks:
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        content += d.content or ""
        for t in d.tool_calls or []:
            c = calls.setdefault(t.index, {"id": None, "name": None, "arguments": ""})
            if t.id:
                c["id"] = t.id
            if t.function and t.function.name:
                c["name"] = t.function.name
            if t.function and t.function.arguments:
                c["arguments"] += t.function.arguments
        finish = ch.choices[0].finish_reason or finish
    return [calls[k] for k in sorted(calls)], content, finish


@pytest.mark.parametrize("seed", [1, 2])
def test_required_whole_and_streamed(server, seed):
    c = client(server)
    kw = dict(model="smollm2", messages=ASK, tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed,
              max_tokens=300)
    r = c.chat.completions.create(**kw)
    assert r.choices[0].finish_reason == "tool_calls"
    check_calls(r.choices[0].message.tool_calls)
    calls, content, finish = stream_calls(c.chat.completions.create(stream=True, **kw))
    assert finish == "tool_calls" and content == ""
    whole = [(t.function.name, t.function.arguments) for t in r.choices[0].message.tool_calls]
    assert [(x["name"], x["arguments"]) for x in calls] == whole  # the same seed: the same calls, piece by piece
    assert all(x["id"] and x["id"].startswith("call_") for x in calls)


def test_named_and_parallel(server):
    c = client(server)
    r = c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, seed=4, max_tokens=300,
                                  tool_choice={"type": "function", "function": {"name": "search"}})
    check_calls(r.choices[0].message.tool_calls, names={"search"})
    r = c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, seed=5, max_tokens=300,
                                  tool_choice="required", parallel_tool_calls=False)
    assert len(r.choices[0].message.tool_calls) == 1
    check_calls(r.choices[0].message.tool_calls)
    several = 0
    for seed in range(6, 10):
        r = c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, seed=seed, max_tokens=300,
                                      tool_choice="required", temperature=1.0)
        check_calls(r.choices[0].message.tool_calls)
        several += len(r.choices[0].message.tool_calls) > 1
    assert several > 0, "no seed made parallel calls"


def test_auto_none_and_history(server):
    c = client(server)
    for seed in (1, 2):  # auto: the model chooses, and after the few shots it calls
        r = c.chat.completions.create(model="smollm2", messages=FEW_SHOT, tools=TOOLS, seed=seed, max_tokens=200)
        assert r.choices[0].finish_reason == "tool_calls", r.choices[0].message.content
        check_calls(r.choices[0].message.tool_calls)
    calls, content, finish = stream_calls(c.chat.completions.create(model="smollm2", messages=FEW_SHOT, tools=TOOLS, seed=3,
                                                                    max_tokens=200, stream=True))
    assert finish == "tool_calls" and calls, content
    for x in calls:
        jsonschema.validate(json.loads(x["arguments"]), SCHEMAS[x["name"]])
    for seed in (1, 2):  # with the plain question it may answer in text, but never with a broken call
        m = c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, seed=seed, max_tokens=200).choices[0].message
        if m.tool_calls:
            check_calls(m.tool_calls)
        else:
            assert "<tool_call>" not in (m.content or "")
    r = c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=20)
    assert not r.choices[0].message.tool_calls and r.choices[0].finish_reason in ("stop", "length")
    history = call_history("call_1", "call_2")
    r = c.chat.completions.create(model="smollm2", messages=history, tools=TOOLS, tool_choice="none", max_tokens=40,
                                  temperature=0)
    assert r.choices[0].message.content
    with pytest.raises(openai.BadRequestError, match="not valid JSON"):
        bad = [dict(history[1])]
        bad[0]["tool_calls"] = [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]
        c.chat.completions.create(model="smollm2", messages=ASK + bad, max_tokens=5)
    with pytest.raises(openai.BadRequestError, match="response_format"):
        c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, max_tokens=5,
                                  response_format={"type": "json_object"})
    with pytest.raises(openai.BadRequestError, match="'nope'"):
        c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, max_tokens=5,
                                  tool_choice={"type": "function", "function": {"name": "nope"}})


def test_ollama_tools(server):
    import ollama
    oc = ollama.Client(host=server(""))
    few = [{"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": t["function"]["name"], "arguments": json.loads(t["function"]["arguments"])}}
        for t in m["tool_calls"]]} if m.get("tool_calls") else m for m in FEW_SHOT]  # Ollama's arguments are objects
    for seed in (1, 2):
        r = oc.chat(model="smollm2", messages=few, tools=TOOLS, options={"seed": seed, "num_predict": 300})
        assert r.message.tool_calls, r.message.content
        for t in r.message.tool_calls:
            assert t.function.name in SCHEMAS
            jsonschema.validate(dict(t.function.arguments), SCHEMAS[t.function.name])
    # streamed: the calls come whole
    got = []
    for part in oc.chat(model="smollm2", messages=few, tools=TOOLS, stream=True, options={"seed": 3, "num_predict": 300}):
        got += part.message.tool_calls or []
    assert got, "no tool call in the stream"
    for t in got:
        assert t.function.name in SCHEMAS
        jsonschema.validate(dict(t.function.arguments), SCHEMAS[t.function.name])
    show = oc.show("smollm2")
    assert "tools" in (show.capabilities or [])


def test_anthropic_tools(server):
    import anthropic
    ac = anthropic.Anthropic(base_url=server(""), api_key="none", max_retries=0)
    tools = [{"name": "get_weather", "description": "Get the weather", "input_schema": WEATHER}]
    # greedy: the Messages API has no seed, and a sampled 135M model may go on making calls to max_tokens
    r = ac.messages.create(model="smollm2", max_tokens=300, messages=ASK, tools=tools, tool_choice={"type": "any"},
                           extra_body={"temperature": 0})
    assert r.stop_reason == "tool_use"
    uses = [b for b in r.content if b.type == "tool_use"]
    assert uses
    for u in uses:
        jsonschema.validate(u.input, WEATHER)
    with ac.messages.stream(model="smollm2", max_tokens=300, messages=ASK, tools=tools, extra_body={"temperature": 0},
                            tool_choice={"type": "tool", "name": "get_weather"}) as st:
        final = st.get_final_message()
    assert final.stop_reason == "tool_use"
    for u in [b for b in final.content if b.type == "tool_use"]:
        jsonschema.validate(u.input, WEATHER)
    # a tool result in the history
    follow = ASK + [{"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                      "input": {"city": "Paris"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21 C"}]}]
    r = ac.messages.create(model="smollm2", max_tokens=30, messages=follow, tools=tools, tool_choice={"type": "none"})
    assert r.content[0].type == "text"


@pytest.fixture(scope="module")
def mistral_server(piston, model, template_dir, tmp_path_factory):  # noqa: F811
    path = str(tmp_path_factory.mktemp("mistral") / "smollm2-mistral-small.gguf")
    template = os.path.join(template_dir, "Mistral-Small-3.2-24B-Instruct-2506.jinja")
    subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--chat-template-file", template, model, path],
                   check=True, capture_output=True, timeout=300)
    s = Server(piston, path)
    yield s
    s.check_clean_exit()
    os.unlink(path)


def test_mistral_args_format(mistral_server):
    """The model never learnt the format: the grammar writes it, and the calls must come back
    whole, the same streamed, and render back into the history as the template does."""
    c = client(mistral_server)
    kw = dict(model="smollm2", messages=ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
              temperature=1.0, seed=1, max_tokens=200)
    r = c.chat.completions.create(**kw)
    assert r.choices[0].finish_reason == "tool_calls"
    check_calls(r.choices[0].message.tool_calls)
    calls, content, finish = stream_calls(c.chat.completions.create(stream=True, **kw))
    assert finish == "tool_calls" and content == ""
    whole = r.choices[0].message.tool_calls
    assert [(x["name"], x["arguments"]) for x in calls] == [(t.function.name, t.function.arguments) for t in whole]
    assert all(len(x["id"]) == 9 and x["id"].isalnum() for x in calls)
    r = c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, seed=2, max_tokens=200,
                                  parallel_tool_calls=False,
                                  tool_choice={"type": "function", "function": {"name": "search"}})
    check_calls(r.choices[0].message.tool_calls, names={"search"})
    history = call_history("abcdefgh1", "abcdefgh2")
    r = c.chat.completions.create(model="smollm2", messages=history, tools=TOOLS, tool_choice="none", max_tokens=20,
                                  temperature=0)
    assert r.choices[0].message.content
    with pytest.raises(openai.BadRequestError, match="length 9"):  # the template's own check of the ids
        bad = [dict(history[1], tool_calls=[dict(history[1]["tool_calls"][0], id="call_1")])]
        c.chat.completions.create(model="smollm2", messages=ASK + bad, max_tokens=5)
