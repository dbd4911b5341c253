"""`piston bench serve` against a server written for the test (fake_openai.py) that streams
known tokens at known times, and against the real server on the default model.

Two kinds of check on the fake server:
- the figures: every number of the result file is recomputed here with NumPy from the
  per-request timings in the same file, by the definitions (serve.h, vLLM's), and must agree
  to 1e-9 relative: the arithmetic is exact;
- the timings: what the load generator measured against what the server was told to do.
  The server sleeps to absolute deadlines (no drift), so each measured gap is the scheduled
  one plus the delay of one wake-up and one loopback read. On an idle machine that is well
  under a millisecond; on a 2-core CI machine running other work it is a few ms, rarely
  tens. So the *median* error must be under 5 ms (robust to the rare late wake-up) and every
  value within 50 ms (no systematic error such as a timer started at the wrong moment, which
  would shift all of them by ≥ the 50 ms gap).

Poisson arrivals: vLLM scales the gamma draws so that the last request is sent at n/rate; the
start times must show that span (within 50 ms), and their gaps an exponential's coefficient of
variation, 1: for n = 200 gaps the sample CV has a standard error of about
sqrt((kurtosis - 1) / 4n) = sqrt(8 / 800) = 0.1, so [0.7, 1.3] is a 3-sigma band; a constant
rate (burstiness inf) must give a CV near 0 and a burstiness of 0.25 a CV near 2 (1/sqrt(b)).
The concurrency cap is exact: never more in flight than the cap, and the cap reached.
"""
import json
import math
import os
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from fake_openai import FakeOpenAI
from server_fixture import server  # noqa: F401  (the real server for the last tests)


def bench(piston, url, *args, tmp_path, name="r.json", check=True, timeout=300):
    out = tmp_path / name
    cmd = [piston, "bench", "serve", "--base-url", url, "--save-result", str(out), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        with open(out) as f:
            return json.load(f), p
    return None, p


def pct(x, p):
    return float(np.percentile(x, p)) * 1000 if len(x) else 0.0


def check_figures(r, pcts=(99,)):
    """Every aggregate of the result from its per-request lists, by the definitions."""
    ok = [e == "" for e in r["errors"]]
    ttft = [t for t, g in zip(r["ttfts"], ok) if g]
    e2el = [t for t, g in zip(r["e2els"], ok) if g]
    itl = [x for xs, g in zip(r["itls"], ok) if g for x in xs]
    outl = [n for n, g in zip(r["output_lens"], ok) if g]
    inl = [n for n, g in zip(r["input_lens"], ok) if g]
    tpot = [(e - t) / (n - 1) for e, t, n in zip(e2el, ttft, outl) if n > 1]
    dur = r["duration"]
    close = lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)  # noqa: E731
    assert r["completed"] == sum(ok) and r["failed"] == len(ok) - sum(ok)
    assert r["total_input_tokens"] == sum(inl) and r["total_output_tokens"] == sum(outl)
    assert close(r["request_throughput"], sum(ok) / dur)
    assert close(r["output_throughput"], sum(outl) / dur)
    assert close(r["total_token_throughput"], (sum(inl) + sum(outl)) / dur)
    for key, xs in (("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)):
        assert close(r[f"mean_{key}_ms"], float(np.mean(xs)) * 1000 if xs else 0), key
        assert close(r[f"median_{key}_ms"], float(np.median(xs)) * 1000 if xs else 0), key
        assert close(r[f"std_{key}_ms"], float(np.std(xs)) * 1000 if xs else 0), key
        for p in pcts:
            assert close(r[f"p{p}_{key}_ms"], pct(xs, p)), (key, p)
    # the peaks: one-second buckets from the first start (vLLM's)
    starts = [s for s, g in zip(r["start_times"], ok) if g]
    t0 = min(starts)
    nb = int(math.ceil(max(s + e for s, e in zip(starts, e2el)) - t0)) + 1
    tok, conc = np.zeros(nb), np.zeros(nb)
    for s, t, e, xs in zip(starts, ttft, e2el, [x for x, g in zip(r["itls"], ok) if g]):
        times = np.cumsum([s + t, *xs])
        for tt in times:
            tok[int(tt - t0)] += 1
        for b in range(int(s - t0), int(s + e - t0) + 1):
            conc[b] += 1
    assert r["max_output_tokens_per_s"] == tok.max()
    assert r["max_concurrent_requests"] == conc.max()
    return ttft, itl, tpot, e2el


def test_metrics_exact_and_timings_match_the_schedule(piston, tmp_path):
    ttft_s, itl_s, ntok = 0.2, 0.05, 12
    with FakeOpenAI(ttft=ttft_s, itl=itl_s) as fake:
        r, p = bench(piston, fake.url, "--num-prompts", "16", "--max-concurrency", "4", "--random-input-len", "20",
                     "--random-output-len", str(ntok), "--metric-percentiles", "50,90,99", tmp_path=tmp_path)
        assert fake.bodies[0]["model"] == "fake-model"  # the first of /v1/models
        body = fake.bodies[-1]
        assert body["stream"] is True and body["max_tokens"] == ntok and body["stream_options"]["include_usage"]
    assert "Serving Benchmark Result" in p.stdout and "P90 TPOT (ms):" in p.stdout
    assert r["completed"] == 16 and r["failed"] == 0
    assert r["input_lens"] == [20] * 16  # exact through the server's /tokenize
    assert r["output_lens"] == [ntok] * 16  # the usage chunk
    ttft, itl, tpot, e2el = check_figures(r, (50, 90, 99))
    assert all(len(x) == ntok - 1 for x in r["itls"])
    err_ttft = np.abs(np.array(ttft) - ttft_s)
    err_itl = np.abs(np.array(itl) - itl_s)
    err_e2el = np.abs(np.array(e2el) - (ttft_s + (ntok - 1) * itl_s))
    for name, e in (("ttft", err_ttft), ("itl", err_itl), ("e2el", err_e2el)):
        assert np.median(e) < 0.005 and e.max() < 0.05, (name, np.median(e), e.max())
    assert abs(np.median(tpot) - itl_s) < 0.005


def test_chat_endpoint_role_chunk_is_not_the_first_token(piston, tmp_path):
    with FakeOpenAI(ttft=0.15, itl=0.02) as fake:
        r, _ = bench(piston, fake.url, "--endpoint", "/v1/chat/completions", "--num-prompts", "4",
                     "--random-input-len", "8", "--random-output-len", "5", tmp_path=tmp_path)
        assert fake.bodies[-1]["messages"][0]["role"] == "user"
    check_figures(r)
    assert all(abs(t - 0.15) < 0.05 for t in r["ttfts"])  # the role-only chunk comes at once
    assert all(len(x) == 4 for x in r["itls"])


def test_failed_requests_are_counted_and_explained(piston, tmp_path):
    # the ready check is arrival 1, the run arrivals 2..13: fail_every 4 -> 500s at 4, 8, 12; drop_every 5 -> cut at 5, 10
    with FakeOpenAI(ttft=0.02, itl=0.01, fail_every=4, drop_every=5) as fake:
        r, p = bench(piston, fake.url, "--num-prompts", "12", "--max-concurrency", "1", "--random-input-len", "4",
                     "--random-output-len", "6", tmp_path=tmp_path)
    assert r["failed"] == 5 and r["completed"] == 7
    errs = [e for e in r["errors"] if e]
    assert sum(e.startswith("HTTP 500: injected failure") for e in errs) == 3
    assert sum("closed the connection" in e for e in errs) == 2
    assert "Failed requests:                         5" in p.stdout
    check_figures(r)


def test_without_tokenize_or_usage_counts_chunks(piston, tmp_path):
    with FakeOpenAI(ttft=0.01, itl=0.01, usage=False, tokenize=False) as fake:
        r, p = bench(piston, fake.url, "--num-prompts", "3", "--random-input-len", "10", "--random-output-len", "7",
                     tmp_path=tmp_path)
    assert "estimates" in p.stderr
    assert r["output_lens"] == [7, 7, 7] and r["length_oracle"] == "none (estimates)"


def test_poisson_arrivals(piston, tmp_path):
    n, rate = 200, 100.0
    with FakeOpenAI(ttft=0.001, itl=0.001) as fake:
        r, _ = bench(piston, fake.url, "--num-prompts", str(n), "--request-rate", str(rate), "--random-input-len", "2",
                     "--random-output-len", "2", "--seed", "7", tmp_path=tmp_path)
    s = np.sort(np.array(r["start_times"]))
    assert abs(s[-1] - n / rate) < 0.05, s[-1]
    gaps = np.diff(np.concatenate([[0.0], s]))
    cv = gaps.std() / gaps.mean()
    assert 0.7 < cv < 1.3, cv


@pytest.mark.parametrize("burstiness,lo,hi", [("inf", 0.0, 0.3), ("0.25", 1.5, 2.6)])
def test_burstiness_shapes_the_gaps(piston, tmp_path, burstiness, lo, hi):
    n, rate = 200, 100.0
    with FakeOpenAI(ttft=0.001, itl=0.001) as fake:
        r, _ = bench(piston, fake.url, "--num-prompts", str(n), "--request-rate", str(rate), "--burstiness", burstiness,
                     "--random-input-len", "2", "--random-output-len", "2", tmp_path=tmp_path)
    s = np.sort(np.array(r["start_times"]))
    gaps = np.diff(np.concatenate([[0.0], s]))
    cv = gaps.std() / gaps.mean()
    assert lo < cv < hi, cv


def test_concurrency_cap_is_exact(piston, tmp_path):
    with FakeOpenAI(ttft=0.1, itl=0.02) as fake:
        bench(piston, fake.url, "--num-prompts", "12", "--max-concurrency", "3", "--random-input-len", "2",
              "--random-output-len", "4", tmp_path=tmp_path)
        assert fake.max_inflight == 3
    with FakeOpenAI(ttft=0.3, itl=0.02) as fake:
        bench(piston, fake.url, "--num-prompts", "12", "--random-input-len", "2", "--random-output-len", "4",
              tmp_path=tmp_path)
        assert fake.max_inflight == 12  # inf rate, no cap: all at once


def test_jsonl_prompts_in_order(piston, tmp_path):
    """--dataset-name jsonl: one record a line ("prompt" or "text", an optional output_len),
    blank lines skipped, sent in file order; lengths by the server's /tokenize."""
    data = tmp_path / "p.jsonl"
    data.write_text('{"prompt": "a b c d e"}\n\n{"text": "one two", "output_len": 3}\n{"prompt": "x y z w"}\n'
                    '{"prompt": "not taken"}\n')
    with FakeOpenAI(ttft=0.01, itl=0.01) as fake:
        r, p = bench(piston, fake.url, "--dataset-name", "jsonl", "--dataset-path", str(data), "--num-prompts", "3",
                     "--custom-output-len", "5", "--max-concurrency", "1", tmp_path=tmp_path)
        run = fake.bodies[1:]  # the first is the ready check
    assert [b["prompt"] for b in run] == ["a b c d e", "one two", "x y z w"]
    assert [b["max_tokens"] for b in run] == [5, 3, 5]
    assert r["num_prompts"] == 3 and r["input_lens"] == [5, 2, 4] and r["output_lens"] == [5, 3, 5]
    assert r["dataset_name"] == "jsonl"
    check_figures(r)


def conv(prompt, reply):
    return {"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": reply}]}


SHAREGPT = [conv("w " * 6, "r " * 5), conv("too short", "r " * 5), conv("w " * 5, "short reply"),
            {"conversations": [{"from": "human", "value": "w " * 9}]}, conv("q " * 4, "r " * 8)]


def test_sharegpt_filters_and_output_lengths(piston, tmp_path):
    """ShareGPT: the first turn is the prompt, the reply's length max_tokens; vLLM's filter
    drops prompts or replies under 4 tokens and records of one turn; fewer prompts than asked
    is what the file holds; --sharegpt-output-len replaces the reply's length (and its filter);
    the same records one a line under --dataset-name jsonl are taken in file order."""
    arr, lines = tmp_path / "sg.json", tmp_path / "sg.jsonl"
    arr.write_text(json.dumps(SHAREGPT))
    lines.write_text("".join(json.dumps(c) + "\n" for c in SHAREGPT))
    with FakeOpenAI(ttft=0.01, itl=0.01) as fake:
        r, _ = bench(piston, fake.url, "--dataset-name", "sharegpt", "--dataset-path", str(arr), "--num-prompts", "10",
                     "--max-concurrency", "1", tmp_path=tmp_path)
        run = fake.bodies[1:]
    assert r["num_prompts"] == 2 and r["completed"] == 2
    assert sorted(zip(r["input_lens"], r["output_lens"])) == [(4, 8), (6, 5)]
    assert sorted((b["prompt"].split()[0], b["max_tokens"]) for b in run) == [("q", 8), ("w", 5)]
    with FakeOpenAI(ttft=0.01, itl=0.01) as fake:
        r, _ = bench(piston, fake.url, "--dataset-name", "sharegpt", "--dataset-path", str(arr), "--num-prompts", "10",
                     "--sharegpt-output-len", "7", tmp_path=tmp_path, name="fixed.json")
    assert sorted(r["input_lens"]) == [4, 5, 6] and r["output_lens"] == [7, 7, 7]
    with FakeOpenAI(ttft=0.01, itl=0.01) as fake:
        r, _ = bench(piston, fake.url, "--dataset-name", "jsonl", "--dataset-path", str(lines), "--num-prompts", "10",
                     "--max-concurrency", "1", tmp_path=tmp_path, name="lines.json")
        run = fake.bodies[1:]
    assert r["input_lens"] == [6, 4] and r["output_lens"] == [5, 8]
    assert [b["prompt"].split()[0] for b in run] == ["w", "q"]


def test_random_range_ratio_spreads_lengths(piston, tmp_path):
    """--random-range-ratio R: each input and output length uniform in [len (1-R), len (1+R)],
    every prompt still exactly its drawn length by the server's count."""
    with FakeOpenAI(ttft=0.005, itl=0.002) as fake:
        r, _ = bench(piston, fake.url, "--num-prompts", "40", "--random-input-len", "20", "--random-output-len", "10",
                     "--random-range-ratio", "0.5", "--max-concurrency", "1", "--seed", "3", tmp_path=tmp_path)
        run = fake.bodies[1:]
    ins, outs = r["input_lens"], r["output_lens"]
    assert all(10 <= n <= 30 for n in ins) and all(5 <= n <= 15 for n in outs), (ins, outs)
    assert min(ins) < 14 and max(ins) > 26 and len(set(ins)) > 8, ins  # spread, not one length
    assert min(outs) < 8 and max(outs) > 12, outs
    assert [len(b["prompt"].split()) for b in run] == ins  # exact by the server's /tokenize
    assert [b["max_tokens"] for b in run] == outs
    with FakeOpenAI(ttft=0.005, itl=0.002) as fake:
        r, _ = bench(piston, fake.url, "--num-prompts", "5", "--random-input-len", "20", "--random-output-len", "10",
                     tmp_path=tmp_path, name="r0.json")
    assert r["input_lens"] == [20] * 5 and r["output_lens"] == [10] * 5  # ratio 0: every length as given


@pytest.mark.parametrize("how", ["--model", "/v1/models"])
def test_no_tokenize_uses_our_tokenizer_on_the_model(piston, model, server, tmp_path, how):  # noqa: F811
    """A server without /tokenize: the model it serves (--model, or the first of /v1/models),
    found where Piston finds models, counts the lengths with our tokenizer, checked here
    against the real server's /tokenize of the very prompts sent."""
    args = ["--model", model] if how == "--model" else []
    with FakeOpenAI(ttft=0.01, itl=0.01, tokenize=False, model_id="fake-model" if args else model) as fake:
        r, p = bench(piston, fake.url, "--num-prompts", "4", "--random-input-len", "24", "--random-output-len", "3",
                     "--max-concurrency", "1", *args, tmp_path=tmp_path)
        run = fake.bodies[1:]
    assert "estimates" not in p.stderr, p.stderr
    assert r["length_oracle"] == "the local tokenizer" and r["tokenizer_id"] == model
    assert r["input_lens"] == [24] * 4
    for b in run:
        t = json.loads(urllib.request.urlopen(urllib.request.Request(
            server.url + "/tokenize", data=json.dumps({"prompt": b["prompt"], "add_special_tokens": False}).encode(),
            headers={"Content-Type": "application/json"})).read())
        assert t["count"] == 24, (b["prompt"], t)


def test_no_tokenize_and_no_local_model_says_so_in_one_line(piston, tmp_path):
    with FakeOpenAI(ttft=0.01, itl=0.01, tokenize=False, model_id="org/not-here") as fake:
        r, p = bench(piston, fake.url, "--num-prompts", "2", "--random-input-len", "10", "--random-output-len", "3",
                     tmp_path=tmp_path)
    warn = [line for line in p.stderr.splitlines() if "estimates" in line]
    assert len(warn) == 1 and "'org/not-here' is not a model Piston finds here" in warn[0], p.stderr
    assert "downloading" not in p.stderr  # never from the network
    assert r["length_oracle"] == "none (estimates)" and r["tokenizer_id"] == ""


def test_unreachable_server_is_one_clear_error(piston, tmp_path):
    _, p = bench(piston, "http://127.0.0.1:9", "--num-prompts", "2", "--model", "m", "--ready-check-timeout-sec", "1",
                 tmp_path=tmp_path, check=False)
    assert p.returncode == 1 and "cannot connect to 127.0.0.1:9" in p.stderr
    _, p = bench(piston, "https://example.invalid", tmp_path=tmp_path, check=False)
    assert p.returncode == 1 and "https is not supported" in p.stderr


def test_against_the_real_server(piston, model, server, tmp_path):  # noqa: F811
    r, p = bench(piston, server.url, "--num-prompts", "6", "--max-concurrency", "3", "--random-input-len", "48",
                 "--random-output-len", "16", "--ignore-eos", "--save-detailed", tmp_path=tmp_path)
    assert r["failed"] == 0 and r["completed"] == 6
    assert r["input_lens"] == [48] * 6 and r["output_lens"] == [16] * 6
    assert r["length_oracle"] == "the server's /tokenize"
    assert r["server_num_preemptions"] == 0 and r["server_num_gpu_blocks"] > 0
    for key in ("duration", "total_input_tokens", "total_output_tokens", "request_throughput", "output_throughput",
                "total_token_throughput", "max_output_tokens_per_s", "max_concurrent_requests", "max_concurrency",
                "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "p99_tpot_ms",
                "mean_itl_ms", "median_itl_ms", "p99_itl_ms", "mean_e2el_ms", "median_e2el_ms", "p99_e2el_ms",
                "ttfts", "itls", "input_lens", "output_lens", "errors", "generated_texts", "start_times"):
        assert key in r, key
    assert all(len(x) == 15 for x in r["itls"])  # one chunk per token
    check_figures(r)
    # the chat endpoint, and the local tokenizer when asked for one
    # (random tokens of the local tokenizer merge and split when re-tokenized: the lengths are
    # still exact, by the server's count)
    r, _ = bench(piston, server.url, "--endpoint", "/v1/chat/completions", "--num-prompts", "8",
                 "--random-input-len", "64", "--random-output-len", "4", "--ignore-eos", "--tokenizer", model,
                 tmp_path=tmp_path, name="chat.json")
    assert r["failed"] == 0 and r["output_lens"] == [4] * 8
    assert r["input_lens"] == [64] * 8 and r["tokenizer_id"] == model


def test_serve_overhead_smoke(piston, model, tmp_path):
    """bench/serve-overhead end to end, as short as it goes: bench latency's ms per token, bench
    serve's mean TPOT at concurrency 1 against piston serve, and the ratio (no speed asserted)."""
    out = tmp_path / "ov.json"
    script = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "serve-overhead")
    p = subprocess.run([sys.executable, script, "--piston", piston, "--model", model, "--threads", "2", "--reps", "1", "--num-prompts",
                        "2", "--output-len", "8", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["bench latency tg8 (ms/token)", "bench serve c=1 mean TPOT (ms)",
                                                  "ratio TPOT / tg ms per token"]
    r = json.loads(out.read_text())
    assert r["bench_serve"]["failed"] == 0 and r["bench_serve"]["max_concurrency"] == 1
    assert r["tg_ms_per_token"] > 0 and abs(r["ratio"] - r["mean_tpot_ms"] / r["tg_ms_per_token"]) < 1e-12
