"""Chat templates with tools, checked against jinja2 on the real templates.

llama.cpp keeps copies of the models' own chat templates (models/templates/*.jinja); the
PyPI sdist of llama-cpp-python carries them, and scripts/fetch-templates.sh fetches them into
the cache at test time (they are not committed). Each template here is rendered with jinja2
the way transformers' apply_chat_template runs it (sandboxed, trim_blocks and lstrip_blocks,
its tojson, raise_exception, strftime_now) for conversations with tools, assistant tool
calls, tool results and plain turns; build/tests/test_chat_tools then renders the same cases
natively and must match byte for byte (or fail where Jinja raised).
"""
import datetime
import json
import os
import subprocess
import tempfile

import jinja2
import jinja2.ext
import jinja2.sandbox
import pytest

from conftest import ROOT

TEMPLATES = {  # file, bos, eos
    "qwen2.5": ("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>"),
    "llama3.1": ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "llama3.2": ("meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "llama3.3": ("meta-llama-Llama-3.3-70B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "mistral-nemo": ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    "qwen3": ("Qwen-Qwen3-0.6B.jinja", "", "<|im_end|>"),
    "hermes-2-pro": ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    "hermes-3": ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    "smollm3": ("HuggingFaceTB-SmolLM3-3B.jinja", "", "<|im_end|>"),
    "mistral-small-3.2": ("Mistral-Small-3.2-24B-Instruct-2506.jinja", "<s>", "</s>"),
    "devstral": ("unsloth-mistral-Devstral-Small-2507.jinja", "<s>", "</s>"),
    "ministral-3": ("mistralai-Ministral-3-14B-Reasoning-2512.jinja", "<s>", "</s>"),
}
# Templates whose plain chats (the conversations of tests/fixtures/chat_smollm2.json, which
# the chat-template unit test renders for the families with a committed template) are also
# compared here, through chat_template_apply.
PLAIN = ("mistral-small-3.2", "devstral", "ministral-3")
# Templates whose tool format Piston does not write: tools must be refused with an error that
# names the reason. A [TOOL_CALLS]name[ARGS] template Piston does not know (Devstral's, its
# marker renamed) stands for them.
REFUSED = {  # name: (file, (old, new) in its source, a word the error must contain)
    "unknown-mistral-args": ("unsloth-mistral-Devstral-Small-2507.jinja", ("tools_description", "tools_text"),
                             "does not know"),
}

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city, in \u00b0C or \u00b0F",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "search", "description": "Search the web",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "top_k": {"type": "integer", "minimum": 1}},
                   "required": ["query"]}}}

NOTES = {"type": "function", "function": {  # the types Hermes' json_to_python_type writes
    "name": "save", "description": "Save notes",
    "parameters": {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string"}, "description": "  labels\n"},
        "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
        "flag": {"type": ["boolean", "number"]}, "extra": {}}, "required": ["tags"]}}}


def call(cid, name, args):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


CONVERSATIONS = {
    "ask": ([WEATHER, SEARCH], [{"role": "user", "content": "What's the weather in Paris?"}]),
    "system_ask": ([WEATHER], [{"role": "system", "content": "You are terse. "},
                               {"role": "user", "content": "  Weather in Lyon?\n"}]),
    "one_call": ([WEATHER], [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [call("call00001", "get_weather", {"city": "Paris", "unit": "celsius"})]},
        {"role": "tool", "tool_call_id": "call00001", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"},
    ]),
    "two_calls": ([WEATHER, SEARCH], [
        {"role": "user", "content": "Weather in Paris and news about it"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            call("abcdefghi", "get_weather", {"city": "Paris"}), call("jklmnopqr", "search", {"query": "Paris news", "top_k": 3})]},
        {"role": "tool", "tool_call_id": "abcdefghi", "content": "18 C"},
        {"role": "tool", "tool_call_id": "jklmnopqr", "content": "caf\u00e9s reopen"},
        {"role": "assistant", "content": "It is 18 C; caf\u00e9s reopen."},
        {"role": "user", "content": "Thanks! And Rome?"},
    ]),
    "no_tools_history": (None, [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [call("zzzzzzzz1", "get_weather", {"city": "Oslo"})]},
        {"role": "tool", "tool_call_id": "zzzzzzzz1", "content": "-3 C"},
        {"role": "assistant", "content": "Cold."},
        {"role": "user", "content": "ok"},
    ]),
    "plain": (None, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"},
                     {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Bye"}]),
    "typed_tools": ([NOTES, SEARCH], [{"role": "user", "content": "Save it"}]),
    "tools_no_user": ([WEATHER], [{"role": "system", "content": "x"}]),
    # as the server passes them: a null content is "" (OpenAI clients send null with tool_calls)
    "empty_content_call": ([WEATHER], [
        {"role": "system", "content": "Use tools. /no_think"},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call("call00002", "get_weather", {"city": "Oslo"})]},
        {"role": "tool", "tool_call_id": "call00002", "content": "-3 C"},
        {"role": "assistant", "content": "<think>\ncold\n</think>\n\nIt is -3 C."},
    ]),
    "thinking_last": (None, [
        {"role": "user", "content": "<tool_response>\nx\n</tool_response>"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "\n\n4"},
    ]),
}


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def render(source, messages, tools, gen, bos, eos):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    kw = {"tools": tools} if tools is not None else {}
    return env.from_string(source).render(messages=messages, add_generation_prompt=gen, bos_token=bos, eos_token=eos, **kw)


@pytest.fixture(scope="module")
def template_dir():
    try:
        out = subprocess.run([os.path.join(ROOT, "scripts", "fetch-templates.sh")], capture_output=True, text=True,
                             timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("fetching llama.cpp's templates timed out")
    if out.returncode != 0:
        pytest.skip(f"cannot fetch llama.cpp's templates (no network to PyPI?): {out.stderr[-500:]}")
    return out.stdout.strip()


def test_tool_templates_match_jinja(template_dir):
    templates, cases = {}, []
    for tname, (fname, bos, eos) in TEMPLATES.items():
        with open(os.path.join(template_dir, fname), encoding="utf-8") as f:
            source = f.read()
        templates[tname] = {"source": source, "bos": bos, "eos": eos}
        for cname, (tools, messages) in CONVERSATIONS.items():
            for gen in (False, True):
                case = {"template": tname, "conversation": cname, "messages": messages, "add_generation_prompt": gen}
                if tools is not None:
                    case["tools"] = tools
                try:
                    case["text"] = render(source, messages, tools, gen, bos, eos)
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    with open(os.path.join(ROOT, "tests", "fixtures", "chat_smollm2.json"), encoding="utf-8") as f:
        plain = {c["conversation"]: c["messages"] for c in json.load(f)["cases"]}
    for tname in PLAIN:
        t = templates[tname]
        for cname, messages in plain.items():
            for gen in (False, True):
                case = {"template": tname, "conversation": "plain/" + cname, "messages": messages,
                        "add_generation_prompt": gen, "plain": True}
                try:
                    case["text"] = render(t["source"], messages, None, gen, t["bos"], t["eos"])
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    for tname, (fname, (old, new), word) in REFUSED.items():
        with open(os.path.join(template_dir, fname), encoding="utf-8") as f:
            source = f.read()
        assert old in source, f"{fname} no longer has {old}"
        templates[tname] = {"source": source.replace(old, new), "bos": "<s>", "eos": "</s>"}
        tools, messages = CONVERSATIONS["ask"]
        cases.append({"template": tname, "conversation": "ask", "messages": messages, "tools": tools,
                      "add_generation_prompt": True, "refused": word})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump({"source": template_dir, "templates": templates, "cases": cases}, f, ensure_ascii=False)
        path = f.name
    try:
        binary = os.path.join(ROOT, "build", "tests", "test_chat_tools")
        if not os.access(binary, os.X_OK):
            pytest.fail(f"{binary} not built: run `make unit`")
        out = subprocess.run([binary], env=dict(os.environ, PISTON_CHAT_TOOLS_FIXTURE=path), capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0 and " 0 failed" in out.stdout, out.stdout[-3000:] + out.stderr[-6000:]
        assert f"{len(cases)} cases" in out.stdout
    finally:
        os.unlink(path)
