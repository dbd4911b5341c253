#!/usr/bin/env python3
"""Reference chat-template renderings for tests/unit/test_chat_template.c, made by jinja2
the way transformers' apply_chat_template runs a template (sandboxed, trim_blocks and
lstrip_blocks on, raise_exception available).

Templates: the default model's own (read from its GGUF), and the official templates of the
other families Piston renders natively, copied here from the models' tokenizer_config.json
(Llama-3-8B-Instruct, Llama-3.1-8B-Instruct without its tool branches, Llama-2-7b-chat-hf, Mistral-7B-Instruct-v0.1, zephyr-7b-beta, a plain
ChatML one, Qwen2-7B-Instruct). Each is rendered for several conversations, with and without
add_generation_prompt; a template that raises records the error instead of a text.

Writes tests/fixtures/chat_smollm2.json. Run from the repository root:
  python3 tests/ref/make_chat_fixture.py [MODEL.gguf]
"""
import json
import os
import sys

import gguf
import jinja2
import jinja2.ext
import jinja2.sandbox

MODEL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "PISTON_MODEL", os.path.expanduser("~/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf"))
OUT = "tests/fixtures/chat_smollm2.json"

LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
          "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
          "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
          "{% endif %}")

LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
          "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
          "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
          "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
          "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
          "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
          "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
          "{% endfor %}")

# Llama-3.1-8B-Instruct's, the parts that run without tools (the tool branches need tool
# definitions that a chat without tools never passes).
LLAMA31 = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
           "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")

ZEPHYR = ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
          "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
          "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
          "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
          "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

QWEN2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
         "You are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
         "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
         "{{ '<|im_start|>assistant\n' }}{% endif %}")

CONVERSATIONS = {
    "single": [("user", "Hello!")],
    "system": [("system", "You are a pirate. Speak like one."), ("user", "Where is the treasure?")],
    "multi": [("user", "What is 2+2?"), ("assistant", "4."), ("user", "And 3+3?")],
    "system_multi": [("system", " Be brief. "), ("user", "Hi"), ("assistant", "Hello! How can I help?"),
                     ("user", "Tell me a joke.")],
    "unicode": [("user", "  Caf\u00e9 \U0001F600 \u4f60\u597d\n\tpadded\u3000 "), ("assistant", "\u00a0\u041e\u0442\u0432\u0435\u0442: \u0434\u0430\n"),
                ("user", "\U0001F468\u200D\U0001F469\u200D\U0001F467 ok?")],
    "empty": [("user", "")],
    "ends_assistant": [("user", "Hi"), ("assistant", "Hello")],
    "not_alternating": [("user", "a"), ("user", "b")],
    "system_only": [("system", "Only system.")],
    "assistant_first": [("assistant", "I start."), ("user", "ok")],
    "system_late": [("user", "Hi"), ("system", "late system")],
}


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def render(source, messages, add_generation_prompt, bos, eos):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                          bos_token=bos, eos_token=eos)


def main():
    reader = gguf.GGUFReader(MODEL)
    toks = reader.fields["tokenizer.ggml.tokens"].contents()
    bos = toks[reader.fields["tokenizer.ggml.bos_token_id"].contents()]
    eos = toks[reader.fields["tokenizer.ggml.eos_token_id"].contents()]
    templates = {
        "smollm2": {"source": reader.fields["tokenizer.chat_template"].contents(), "kind": "chatml", "bos": bos,
                    "eos": eos, "default_system": "You are a helpful AI assistant named SmolLM, trained by Hugging Face"},
        "chatml": {"source": CHATML, "kind": "chatml", "bos": "<|im_start|>", "eos": "<|im_end|>", "default_system": None},
        "qwen2": {"source": QWEN2, "kind": "chatml", "bos": None, "eos": "<|im_end|>",
                  "default_system": "You are a helpful assistant."},
        "llama3": {"source": LLAMA3, "kind": "llama3", "bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "default_system": None},
        "llama31": {"source": LLAMA31, "kind": "llama3", "bos": "<|begin_of_text|>", "eos": "<|eot_id|>",
                    "default_system": None},
        "llama2": {"source": LLAMA2, "kind": "llama2", "bos": "<s>", "eos": "</s>", "default_system": None},
        "mistral": {"source": MISTRAL, "kind": "mistral", "bos": "<s>", "eos": "</s>", "default_system": None},
        "zephyr": {"source": ZEPHYR, "kind": "zephyr", "bos": "<s>", "eos": "</s>", "default_system": None},
    }
    cases = []
    for tname, t in templates.items():
        for cname, conv in CONVERSATIONS.items():
            messages = [{"role": r, "content": c} for r, c in conv]
            for gen in (False, True):
                case = {"template": tname, "conversation": cname, "messages": messages, "add_generation_prompt": gen}
                try:
                    case["text"] = render(t["source"], messages, gen, t["bos"] or "", t["eos"] or "")
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write('{"jinja2":%s,\n"templates":%s,\n"cases":[\n' % (json.dumps(jinja2.__version__),
                                                               json.dumps(templates, ensure_ascii=False, indent=1)))
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    print("wrote %s: %d templates, %d cases" % (OUT, len(templates), len(cases)))


if __name__ == "__main__":
    main()
