"""Structured outputs end to end, through the official clients, on the real default model
sampled at temperature 1: every schema of tests/fixtures/json_schemas.json over a few seeds
(every output must parse and validate with the jsonschema package, formats included), the
unsupported keywords answered 400 by name, OpenAI's chat.completions.parse with a Pydantic
model, json_object, vLLM's structured_outputs (regex checked with Python's re, choice,
grammar), TGI's grammar through huggingface_hub's InferenceClient, Ollama's format through
the ollama client, logit_bias, and a constraint over the limits refused by name.

The many-seed run is scripts/structured_seeds.py; CI keeps to a few seeds.
"""
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import openai
import pytest

from server_fixture import server  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "tests", "fixtures", "json_schemas.json"), encoding="utf-8") as f:
    CORPUS = json.load(f)
SEEDS = [int(s) for s in os.environ.get("PISTON_STRUCTURED_SEEDS", "1,2").split(",")]
PROMPT = "Fill in the JSON object for a realistic example. Answer with JSON only."


def client(srv):
    return openai.OpenAI(base_url=srv("/v1"), api_key="none", max_retries=0, timeout=300)


def generate(srv, name, schema, seed):
    r = client(srv).chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": f"{PROMPT} ({name})"}], temperature=1.0, seed=seed,
        max_tokens=700, response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
    return r.choices[0]


# Schemas with no bound on their size (recursion without a depth bound, any number of
# additional properties): a sample may go on until max_tokens, which is reported as "length"
# (the grammar cannot force an end the schema does not have).
RECURSIVE = {"file_tree", "linked_list", "expression_ast", "blog_comments", "metadata_extra"}


def as_json_schema(schema):
    """OpenAPI's nullable (which Piston follows) as JSON Schema says it, for jsonschema."""
    if isinstance(schema, list):
        return [as_json_schema(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: as_json_schema(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") is True else out


def validate(value, schema):
    jsonschema.validate(value, as_json_schema(schema), format_checker=jsonschema.FormatChecker())


def test_corpus_validates(server):
    jobs = [(name, schema, seed) for name, schema in CORPUS["schemas"].items() for seed in SEEDS]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda a: (a, generate(server, *a)), jobs))
    bad, ended = [], set()
    for (name, schema, seed), choice in results:
        if choice.finish_reason == "length" and name in RECURSIVE:
            continue
        if choice.finish_reason != "stop":
            bad.append(f"{name} seed {seed}: finish {choice.finish_reason}: {choice.message.content!r}")
            continue
        ended.add(name)
        try:
            validate(json.loads(choice.message.content), schema)
        except (ValueError, jsonschema.ValidationError) as e:
            bad.append(f"{name} seed {seed}: {choice.message.content!r}: {str(e).splitlines()[0]}")
    bad += [f"{name}: no sample ended" for name in CORPUS["schemas"] if name not in ended]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("case", CORPUS["unsupported"], ids=lambda c: c["keyword"][:24])
def test_unsupported_keyword_named(server, case):
    with pytest.raises(openai.BadRequestError) as e:
        client(server).chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "hi"}], max_tokens=5,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": case["schema"]}})
    assert case["keyword"] in str(e.value)


def test_parse_pydantic(server):
    from typing import Literal, Optional

    import pydantic

    class Step(pydantic.BaseModel):
        explanation: str = pydantic.Field(max_length=60)
        output: str = pydantic.Field(max_length=20)

    class Answer(pydantic.BaseModel):
        steps: list[Step] = pydantic.Field(max_length=3)
        final_answer: str = pydantic.Field(max_length=20)
        confidence: Literal["low", "medium", "high"]
        note: Optional[str] = pydantic.Field(default=None, max_length=30)

    for seed in SEEDS:
        r = client(server).chat.completions.parse(
            model="smollm2", messages=[{"role": "user", "content": "Solve 8x + 7 = -23 step by step."}],
            response_format=Answer, temperature=1.0, seed=seed, max_tokens=600)
        msg = r.choices[0].message
        assert r.choices[0].finish_reason == "stop", msg.content
        assert isinstance(msg.parsed, Answer), msg.content


def test_json_object_and_streaming(server):
    c = client(server)
    for seed in SEEDS:
        r = c.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "A JSON object please"}],
                                      response_format={"type": "json_object"}, temperature=1.0, seed=seed, max_tokens=600)
        if r.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(r.choices[0].message.content), dict)
        else:  # max_tokens inside the object is reported as length, the text a prefix
            assert r.choices[0].finish_reason == "length" and r.choices[0].message.content.startswith("{")
    schema = CORPUS["schemas"]["weather_args"]
    chunks = list(c.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Weather in Paris?"}], stream=True, seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}}, max_tokens=300))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(text), schema)


def test_vllm_structured_outputs(server):
    c = client(server)
    regex = r"(Mon|Tue|Wed|Thu|Fri) [0-2][0-9]:[0-5][0-9], room [A-D][1-9]"
    for seed in SEEDS:
        r = c.completions.create(model="smollm2", prompt="The meeting is on", temperature=1.0, seed=seed, max_tokens=40,
                                 extra_body={"structured_outputs": {"regex": regex}})
        assert re.fullmatch(regex, r.choices[0].text), r.choices[0].text
        r = c.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Is water wet?"}],
                                      temperature=1.0, seed=seed, max_tokens=10,
                                      extra_body={"structured_outputs": {"choice": ["yes", "no", "it depends"]}})
        assert r.choices[0].message.content in ("yes", "no", "it depends")
        grammar = 'root ::= greeting ", " name "!"\ngreeting ::= "Hello" | "Hi"\nname ::= [A-Z] [a-z]{1,8}\n'
        r = c.completions.create(model="smollm2", prompt="Say hello:", temperature=1.0, seed=seed, max_tokens=20,
                                 extra_body={"structured_outputs": {"grammar": grammar}})
        assert re.fullmatch(r"(Hello|Hi), [A-Z][a-z]{1,8}!", r.choices[0].text), r.choices[0].text
    # vLLM's old name is taken as the new one
    r = c.completions.create(model="smollm2", prompt="Pick:", max_tokens=5, extra_body={"guided_choice": ["a", "b"]})
    assert r.choices[0].text in ("a", "b")
    with pytest.raises(openai.BadRequestError, match="guided_decoding_backend"):
        c.completions.create(model="smollm2", prompt="x", max_tokens=2,
                             extra_body={"guided_choice": ["a"], "guided_decoding_backend": "xgrammar"})
    with pytest.raises(openai.BadRequestError, match="whitespace_pattern"):
        c.completions.create(model="smollm2", prompt="x", max_tokens=2,
                             extra_body={"structured_outputs": {"json": {}, "whitespace_pattern": " "}})
    with pytest.raises(openai.BadRequestError, match="left-recursive"):
        c.completions.create(model="smollm2", prompt="x", max_tokens=2,
                             extra_body={"structured_outputs": {"grammar": 'root ::= root "a" | "b"\n'}})
    with pytest.raises(openai.BadRequestError, match="limit"):
        c.completions.create(model="smollm2", prompt="x", max_tokens=2,
                             extra_body={"structured_outputs": {"regex": "(a{900}b){900}"}})


def test_logit_bias(server):
    c = client(server)
    tok = c.post("/../tokenize", body={"prompt": " Paris", "add_special_tokens": False}, cast_to=object)["tokens"]
    assert len(tok) == 1
    r = c.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=1, temperature=0,
                             logit_bias={str(tok[0]): -100})
    assert r.choices[0].text != " Paris"
    r = c.completions.create(model="smollm2", prompt="My favourite city:", max_tokens=1, temperature=1.0, seed=1,
                             logit_bias={str(tok[0]): 100})
    assert r.choices[0].text == " Paris"


def test_tgi_grammar_inference_client(server):
    from huggingface_hub import InferenceClient
    hf = InferenceClient(base_url=server(""))
    schema = CORPUS["schemas"]["sentiment"]
    for seed in SEEDS:
        out = hf.text_generation("Review: 'great phone'. Sentiment as JSON:", max_new_tokens=100, seed=seed,
                                 do_sample=True, grammar={"type": "json", "value": schema}, details=True)
        jsonschema.validate(json.loads(out.generated_text), schema)
        assert out.details.finish_reason == "eos_token"
    out = hf.text_generation("Code:", max_new_tokens=20, grammar={"type": "regex", "value": "[A-Z]{3}-[0-9]{3}"})
    assert re.fullmatch("[A-Z]{3}-[0-9]{3}", out)


def test_ollama_format(server):
    import ollama
    oc = ollama.Client(host=server(""))
    schema = CORPUS["schemas"]["person"]
    for seed in SEEDS:
        r = oc.chat(model="smollm2", messages=[{"role": "user", "content": "A person as JSON"}], format=schema,
                    options={"seed": seed, "num_predict": 300})
        jsonschema.validate(json.loads(r.message.content), schema)
        r = oc.generate(model="smollm2", prompt="Any JSON object", format="json", options={"seed": seed, "num_predict": 400})
        if r.done_reason == "stop":
            assert isinstance(json.loads(r.response), dict)
