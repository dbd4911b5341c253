"""Every dialect through its official client, as a user runs it, on the real default model:
anthropic (messages whole and streamed, stop_sequences, count_tokens, errors in Anthropic's
shape, x-api-key), ollama (chat, generate, streaming, list, show, ps; an empty images list
accepted as litellm sends it, a non-empty one refused by name), huggingface_hub's
InferenceClient (text_generation with details and decoder_input_details, streaming,
chat_completion), and prompt logprobs through openai (echo with logprobs, vLLM's
prompt_logprobs, top_logprobs up to 20).
"""
import math

import openai
import pytest
import requests

from server_fixture import Server, server  # noqa: F401


def test_anthropic_messages(server):
    import anthropic
    ac = anthropic.Anthropic(base_url=server(""), api_key="none", max_retries=0)
    r = ac.messages.create(model="smollm2", max_tokens=20, system="You answer in one word.",
                           messages=[{"role": "user", "content": "Capital of France?"}], extra_body={"temperature": 0})
    assert r.type == "message" and r.role == "assistant" and r.content[0].type == "text" and r.content[0].text
    assert r.stop_reason in ("end_turn", "max_tokens") and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    r2 = ac.messages.create(model="smollm2", max_tokens=60, messages=[
        {"role": "user", "content": [{"type": "text", "text": "Count: one, two,"}]}],
        stop_sequences=["four"], extra_body={"temperature": 0})
    if r2.stop_reason == "stop_sequence":
        assert r2.stop_sequence == "four" and "four" not in r2.content[0].text
    with ac.messages.stream(model="smollm2", max_tokens=20, system="You answer in one word.",
                            messages=[{"role": "user", "content": "Capital of France?"}],
                            extra_body={"temperature": 0}) as st:
        text = "".join(st.text_stream)
        final = st.get_final_message()
    assert text == r.content[0].text == final.content[0].text  # greedy: the same answer streamed
    n = ac.messages.count_tokens(model="smollm2", messages=[{"role": "user", "content": "Capital of France?"}])
    assert n.input_tokens > 0
    with pytest.raises(anthropic.BadRequestError) as e:
        ac.messages.create(model="smollm2", max_tokens=5, messages=[{"role": "user", "content": "x"}],
                           thinking={"type": "enabled", "budget_tokens": 1024})
    assert "thinking" in str(e.value) and e.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError):
        ac.messages.create(model="claude-9", max_tokens=5, messages=[{"role": "user", "content": "x"}])


def test_anthropic_api_key(piston, model):
    import anthropic
    s = Server(piston, model, "--api-key", "sekret")
    try:
        ok = anthropic.Anthropic(base_url=s(""), api_key="sekret", max_retries=0)
        assert ok.messages.create(model="smollm2", max_tokens=2, messages=[{"role": "user", "content": "hi"}]).content
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=s(""), api_key="wrong", max_retries=0).messages.create(
                model="smollm2", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        # Bearer works for the same route
        r = requests.post(s("/v1/messages"), headers={"Authorization": "Bearer sekret"}, timeout=60,
                          json={"model": "smollm2", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
    finally:
        s.check_clean_exit()


def test_ollama_client(server):
    import ollama
    oc = ollama.Client(host=server(""))
    assert any(m.model.startswith("smollm2") for m in oc.list().models)
    show = oc.show("smollm2")
    assert show.modelinfo and "completion" in show.capabilities
    assert oc.ps().models
    r = oc.chat(model="smollm2", messages=[{"role": "user", "content": "Hi!", "images": []}],
                options={"temperature": 0, "num_predict": 10})
    assert r.message.role == "assistant" and r.message.content and r.done
    parts = list(oc.chat(model="smollm2", messages=[{"role": "user", "content": "Hi!"}], stream=True,
                         options={"temperature": 0, "num_predict": 10}))
    assert "".join(p.message.content for p in parts) == r.message.content and parts[-1].done
    g = oc.generate(model="smollm2", prompt="The sky is", options={"temperature": 0, "num_predict": 8})
    assert g.response and g.context
    gs = list(oc.generate(model="smollm2", prompt="The sky is", stream=True, options={"temperature": 0, "num_predict": 8}))
    assert "".join(p.response for p in gs) == g.response
    with pytest.raises(ollama.ResponseError, match="images"):
        oc.generate(model="smollm2", prompt="what is this?", images=["aGVsbG8="], options={"num_predict": 2})


def test_huggingface_inference_client(server):
    from huggingface_hub import InferenceClient
    hf = InferenceClient(base_url=server(""))
    out = hf.text_generation("The capital of France is", max_new_tokens=5, details=True, decoder_input_details=True,
                             top_n_tokens=3)
    d = out.details
    assert d.generated_tokens == len(d.tokens) and d.prefill[0].logprob is None
    assert all(p.logprob is not None and p.logprob <= 0 for p in d.prefill[1:])
    assert all(len(t) == 3 for t in d.top_tokens)
    stream = list(hf.text_generation("The capital of France is", max_new_tokens=5, stream=True, details=True))
    assert "".join(s.token.text for s in stream) == out.generated_text
    assert stream[-1].details.finish_reason in ("length", "eos_token")
    chat = hf.chat_completion(model="smollm2", messages=[{"role": "user", "content": "Say hello"}], max_tokens=10,
                              temperature=0)
    assert chat.choices[0].message.content


def test_prompt_logprobs_openai(server):
    c = openai.OpenAI(base_url=server("/v1"), api_key="none", max_retries=0)
    r = c.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=2, temperature=0, echo=True,
                             logprobs=3)
    lp = r.choices[0].logprobs
    n_prompt = r.usage.prompt_tokens
    assert lp.token_logprobs[0] is None and all(x is not None for x in lp.token_logprobs[1:])
    assert len(lp.tokens) == n_prompt + r.usage.completion_tokens and r.choices[0].text.startswith("The capital")
    r2 = c.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=2, temperature=0,
                              extra_body={"prompt_logprobs": 2})
    plp = r2.model_extra.get("prompt_logprobs") or r2.choices[0].model_extra["prompt_logprobs"]
    assert plp[0] is None and len(plp) == n_prompt
    for i, entry in enumerate(plp[1:], 1):  # the prompt token itself is in each entry, with the same logprob as echo
        vals = [v for v in entry.values()]
        assert any(math.isclose(v["logprob"], lp.token_logprobs[i], abs_tol=1e-5) for v in vals)
        assert all(v["rank"] >= 1 and "decoded_token" in v for v in vals)
    r3 = c.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=3,
                                   logprobs=True, top_logprobs=20)
    for t in r3.choices[0].logprobs.content:
        assert len(t.top_logprobs) == 20
        assert t.top_logprobs == sorted(t.top_logprobs, key=lambda x: -x.logprob)
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=3,
                                  logprobs=True, top_logprobs=21)


def test_unimplemented_fields_refused_by_name(server):
    c = openai.OpenAI(base_url=server("/v1"), api_key="none", max_retries=0)
    msgs = [{"role": "user", "content": "Hi"}]
    for extra, name in (({"functions": [{"name": "f"}]}, "functions"), ({"use_beam_search": True}, "use_beam_search"),
                        ({"modalities": ["text", "audio"]}, "modalities"), ({"allowed_token_ids": [1, 2]}, "allowed_token_ids"),
                        ({"chat_template": "{{ x }}"}, "chat_template")):
        with pytest.raises(openai.BadRequestError, match=name):
            c.chat.completions.create(model="smollm2", messages=msgs, max_tokens=2, extra_body=extra)
    # what is neutral passes: a text-only modality, the defaults of vLLM's flags
    c.chat.completions.create(model="smollm2", messages=msgs, max_tokens=2,
                              extra_body={"modalities": ["text"], "use_beam_search": False, "add_generation_prompt": True})
    r = requests.post(server("/generate"), json={"inputs": "Hi", "parameters": {"max_new_tokens": 2, "adapter_id": "lora1"}},
                      timeout=60)
    assert r.status_code == 422 and "adapter_id" in r.json()["error"]
