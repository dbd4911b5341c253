"""/metrics parsed with prometheus_client's text parser: vLLM's metric names and labels, and
counters that move exactly by what the requests just made report in their usage."""
import requests

from server_fixture import MODEL_NAME, metric, metrics, server  # noqa: F401  (the fixture)

HISTOGRAMS = ["vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
              "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds"]


def test_metric_names(server):  # noqa: F811
    m = metrics(server)
    names = {name for name, _ in m}
    for n in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
              "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
              "vllm:num_preemptions_total", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total"):
        assert n in names, n
    for h in HISTOGRAMS:
        assert h + "_bucket" in names and h + "_count" in names and h + "_sum" in names, h
    for reason in ("stop", "length", "abort"):
        assert ("vllm:request_success_total", frozenset({"finished_reason": reason, "model_name": MODEL_NAME}.items())) in m


def test_counters_follow_requests(server):  # noqa: F811
    before = metrics(server)
    prompt = completion = 0
    n = 4
    for i in range(n):
        r = requests.post(server("/v1/completions"), json={"model": MODEL_NAME, "prompt": f"Count to {i + 3}:",
                                                           "max_tokens": 5, "temperature": 0, "ignore_eos": True},
                          timeout=60).json()
        prompt += r["usage"]["prompt_tokens"]
        completion += r["usage"]["completion_tokens"]
    after = metrics(server)

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("vllm:prompt_tokens_total") == prompt
    assert delta("vllm:generation_tokens_total") == completion == 5 * n
    assert delta("vllm:request_success_total", finished_reason="length") == n
    assert delta("vllm:request_success_total", finished_reason="stop") == 0
    for h in ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds",
              "vllm:request_queue_time_seconds"):
        assert delta(h + "_count") == n, h
        assert delta(h + "_bucket", le="+Inf") == n, h
        assert delta(h + "_sum") >= 0
    # 4 tokens after the first in each request: 4 inter-token gaps each
    assert delta("vllm:inter_token_latency_seconds_count") == 4 * n
    # the same prompt twice: its full blocks come from the prefix cache the second time
    long_prompt = "The quick brown fox jumps over the lazy dog. " * 8
    for _ in range(2):
        requests.post(server("/v1/completions"), json={"model": MODEL_NAME, "prompt": long_prompt, "max_tokens": 1},
                      timeout=60)
    final = metrics(server)
    assert metric(final, "vllm:prefix_cache_hits_total") > metric(after, "vllm:prefix_cache_hits_total")
    assert metric(final, "vllm:prefix_cache_queries_total") >= metric(final, "vllm:prefix_cache_hits_total")
    assert metric(final, "vllm:num_requests_running") == 0
    assert metric(final, "vllm:num_requests_waiting") == 0
    assert metric(final, "vllm:kv_cache_usage_perc") == 0
