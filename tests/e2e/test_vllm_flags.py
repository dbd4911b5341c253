"""vLLM's command line, as a vLLM user types it at Piston: every flag of `vllm serve --help`
(engine, frontend and serve arguments) is a Piston flag, accepted with a note that it has no
effect, or refused by name with what to do; none is "unknown flag". Then the parser's forms
through every command (one parser: serve, run, show, pull, version): an unknown flag wherever
it stands, --flag=value, -tp, --model as vLLM takes it."""
import subprocess

import pytest

# `vllm serve --help` (vLLM 0.8 to 0.11 and main): the flags, without -h/--help
VLLM_SERVE_FLAGS = """
--model --task --runner --convert --tokenizer --hf-config-path --skip-tokenizer-init --revision --code-revision
--tokenizer-revision --tokenizer-mode --trust-remote-code --allowed-local-media-path --allowed-media-domains
--download-dir --load-format --model-loader-extra-config --use-tqdm-on-load --safetensors-load-strategy
--pt-load-map-location --ignore-patterns --config-format --dtype --kv-cache-dtype --max-model-len
--guided-decoding-backend --guided-decoding-disable-fallback --guided-decoding-disable-any-whitespace
--guided-decoding-disable-additional-properties --reasoning-parser --reasoning-parser-plugin
--logits-processor-pattern --logits-processors --model-impl --distributed-executor-backend
--pipeline-parallel-size -pp --tensor-parallel-size -tp --decode-context-parallel-size -dcp
--data-parallel-size -dp --data-parallel-rank -dpn --data-parallel-start-rank -dpr --data-parallel-size-local -dpl
--data-parallel-address -dpa --data-parallel-rpc-port -dpp --data-parallel-backend -dpb --data-parallel-hybrid-lb
--data-parallel-external-lb --enable-expert-parallel -ep --enable-eplb --eplb-config --num-redundant-experts
--expert-placement-strategy --all2all-backend --enable-dbo --nnodes --node-rank --master-addr --master-port
--max-parallel-loading-workers --ray-workers-use-nsight --disable-custom-all-reduce --worker-cls
--worker-extension-cls --enable-multimodal-encoder-data-parallel --block-size --enable-prefix-caching
--prefix-caching-hash-algo --disable-sliding-window --disable-cascade-attn --use-v2-block-manager
--num-lookahead-slots --seed --swap-space --cpu-offload-gb --gpu-memory-utilization --kv-cache-memory-bytes
--num-gpu-blocks-override --max-num-batched-tokens --max-num-partial-prefills --max-long-partial-prefills
--long-prefill-token-threshold --max-num-seqs --max-logprobs --logprobs-mode --disable-log-stats --quantization -q
--rope-scaling --rope-theta --hf-token --hf-overrides --enforce-eager --max-seq-len-to-capture
--tokenizer-pool-size --limit-mm-per-prompt --media-io-kwargs --mm-processor-kwargs --mm-processor-cache-gb
--mm-processor-cache-type --mm-shm-cache-max-object-size-mb --mm-encoder-tp-mode --mm-encoder-attn-backend
--interleave-mm-strings --skip-mm-profiling --video-pruning-rate --disable-mm-preprocessor-cache --enable-lora
--enable-lora-bias --max-loras --max-lora-rank --lora-extra-vocab-size --lora-dtype --max-cpu-loras
--fully-sharded-loras --default-mm-loras --qlora-adapter-name-or-path --speculative-config
--show-hidden-metrics-for-version --otlp-traces-endpoint --collect-detailed-traces --kv-cache-metrics
--cudagraph-metrics --scheduling-policy --enable-chunked-prefill --disable-chunked-mm-input --scheduler-cls
--disable-hybrid-kv-cache-manager --async-scheduling --stream-interval --cuda-graph-sizes --scheduler-delay-factor
--preemption-mode --num-scheduler-steps --multi-step-stream-outputs --kv-transfer-config --kv-events-config
--ec-transfer-config --compilation-config -O -O0 -O3 --optimization-level --additional-config --structured-outputs-config
--profiler-config --attention-backend --generation-config --override-generation-config --enable-sleep-mode
--calculate-kv-scales --kv-sharing-fast-prefill --mamba-cache-dtype --mamba-ssm-cache-dtype --kv-offloading-size
--kv-offloading-backend --override-attention-dtype --enable-prompt-embeds --served-model-name --pooler-config
--override-pooler-config --enable-chunked-local-attention --aggregate-engine-logging --enable-log-requests
--disable-log-requests --host --port --uds --uvicorn-log-level --disable-uvicorn-access-log
--disable-access-log-for-endpoints --allow-credentials --allowed-origins --allowed-methods --allowed-headers
--api-key --lora-modules --chat-template --chat-template-content-format --trust-request-chat-template
--default-chat-template-kwargs --response-role --ssl-keyfile --ssl-certfile --ssl-ca-certs --enable-ssl-refresh
--ssl-cert-reqs --ssl-ciphers --root-path --middleware --return-tokens-as-token-ids
--disable-frontend-multiprocessing --enable-request-id-headers --enable-auto-tool-choice
--exclude-tools-when-tool-choice-none --tool-call-parser --tool-parser-plugin --tool-server --log-config-file
--max-log-len --disable-fastapi-docs --enable-offline-docs --enable-prompt-tokens-details
--enable-server-load-tracking --enable-force-include-usage --enable-tokenizer-info-endpoint --enable-log-outputs
--enable-log-deltas --h11-max-incomplete-event-size --h11-max-header-count --log-error-stack --tokens-only
--headless --api-server-count --config
""".split()


def parse_only(piston, *args):
    """serve's parser and nothing more: --help after the flags prints the help once they parsed."""
    return subprocess.run([piston, "serve", *args, "--help"], capture_output=True, timeout=30)


@pytest.mark.parametrize("flag", VLLM_SERVE_FLAGS)
def test_no_vllm_flag_is_unknown(piston, flag):
    p = parse_only(piston, flag, "1")
    err = p.stderr.decode()
    assert "unknown flag" not in err, err
    if p.returncode != 0:  # refused (or its value "1" is): by name, in one line, saying what to do
        lines = err.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1, err
        assert (flag in lines[0]) if flag.startswith("--") else " --" in lines[0], err
    else:
        assert p.stdout.startswith(b"usage: piston serve"), p.stdout[:200]


@pytest.mark.parametrize("args, words", [
    (["--enable-auto-tool-choice", "--tool-call-parser", "hermes"], ["--enable-auto-tool-choice has no effect",
                                                                     "chat template"]),
    (["--enable-log-outputs"], ["--enable-log-outputs has no effect"]),
    (["--trust-remote-code"], ["--trust-remote-code has no effect"]),
])
def test_vllm_flags_accepted_with_a_note(piston, args, words):
    p = parse_only(piston, *args)
    err = p.stderr.decode()
    assert p.returncode == 0 and all(w in err for w in words), err


@pytest.mark.parametrize("args, words", [
    (["-tp", "2"], ["--tensor-parallel-size 2", "replica per GPU"]),
    (["--reasoning-parser", "deepseek_r1"], ["--reasoning-parser", "reasoning"]),
    (["--enable-lora=true"], ["--enable-lora", "merge the adapter"]),
    (["--enable-log-outputs=maybe"], ["--enable-log-outputs expects true or false"]),
    (["--task", "embed"], ["--task embed", "text only"]),
    (["--preemption-mode", "swap"], ["--preemption-mode swap", "recompute"]),
    (["--headless"], ["--headless", "replica"]),
])
def test_vllm_flags_refused_by_name(piston, args, words):
    p = parse_only(piston, *args)
    err = p.stderr.decode()
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err


def test_switches_turned_off_are_quiet(piston):
    """--no-X and --X=false of a switch Piston ignores or refuses: off is what Piston does."""
    for args in (["--no-enable-log-outputs"], ["--enable-lora=false"], ["--no-enable-lora"],
                 ["--trust-remote-code=0"]):
        p = parse_only(piston, *args)
        assert p.returncode == 0 and p.stderr == b"", (args, p.stderr)


def test_tp_1_is_accepted(piston):
    assert parse_only(piston, "-tp", "1").returncode == 0
    assert parse_only(piston, "--tensor-parallel-size=1").returncode == 0


@pytest.mark.parametrize("command", [["serve"], ["run"], ["show"], ["generate", "-p", "x"], ["eval"]])
@pytest.mark.parametrize("where", ["last", "before_model"])
def test_unknown_flag_wherever_it_stands(piston, model, command, where):
    args = [*command, model, "--max-num-seq"] if where == "last" else [*command, "--max-num-seq", model]
    p = subprocess.run([piston, *args], capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode != 0 and len(err.strip().splitlines()) == 1, err
    assert "unknown flag --max-num-seq" in err and "did you mean --max-num-seqs" in err, err


@pytest.mark.parametrize("args, words", [
    (["pull", "a/b", "--revision=main", "--bogus"], ["unknown flag --bogus"]),
    (["pull", "a/b", "--revision"], ["--revision needs a value"]),
    (["pull", "a/b", "--revisoin", "x"], ["unknown flag --revisoin", "did you mean --revision"]),
    (["version", "--bogus"], ["unknown flag --bogus"]),
    (["version", "extra"], ["unexpected argument 'extra'"]),
    (["show", "smollm2", "--json=maybe"], ["--json expects true or false"]),
])
def test_one_parser_for_every_command(piston, args, words):
    p = subprocess.run([piston, *args], capture_output=True, timeout=30, env={"HF_HUB_OFFLINE": "1"})
    err = p.stderr.decode()
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err


def test_show_json_forms_and_model_flag(piston, model):
    import json
    for args in (["show", model, "--json"], ["show", model, "--json=1"], ["show", "--model", model, "--json=true"]):
        p = subprocess.run([piston, *args], capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        assert json.loads(p.stdout)["architecture"] == "llama"
    p = subprocess.run([piston, "show", model, "--model", "other"], capture_output=True, timeout=60)
    assert p.returncode == 2 and b"named twice" in p.stderr


def test_show_help_lists_the_engine_flags(piston):
    out = subprocess.run([piston, "show", "--help"], capture_output=True, timeout=10).stdout.decode()
    for flag in ("--json", "--dtype", "--load-format", "--chat-template", "--max-model-len"):
        assert flag in out, out
    serve = subprocess.run([piston, "serve", "--help"], capture_output=True, timeout=10).stdout.decode()
    for line in serve.splitlines():
        if line.strip().startswith(("--disable-log-stats", "--num-gpu-blocks-override", "--disable-log-requests")):
            assert "[default:" in line, line


def test_config_file_as_vllm_reads_it(piston, model, tmp_path):
    """--config FILE: vLLM's YAML config, keys are flag names; the command line wins."""
    import requests
    from server_fixture import Server
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("# as vLLM's docs write one\n"
                   f"model: {model}\n"
                   "max_model_len: 1024   # underscores as vLLM takes them\n"
                   "enable-prefix-caching: false\n"
                   "served-model-name: [first, \"second\"]\n"
                   "allowed-origins:\n  - http://a.example\n  - http://b.example\n"
                   "allowed-headers: [\"*\"]\n"
                   "trust-remote-code: true\n"
                   "enable-lora: false\n"
                   "chat-template: zephyr\n")
    s = Server(piston, f"--config={cfg}", "--chat-template", "chatml")  # MODEL from the file
    try:
        ids = [m["id"] for m in requests.get(s("/v1/models")).json()["data"]]
        text = s.text()
        # BASE_ARGS' --served-model-name and --max-model-len come after, on the command line: they win
        assert ids == ["smollm2"], ids
        assert "max_model_len=2048" in text and "prefix_caching=off" in text and "chat_template=chatml" in text
        assert "allowed_origins=http://a.example,http://b.example" in text and 'allowed_headers=*' in text
        assert "note: --trust-remote-code has no effect" in text
    finally:
        s.check_clean_exit()
    names = tmp_path / "names.yaml"
    names.write_text("served-model-name:\n  - one\n  - two\n")
    p = subprocess.run([piston, "serve", "--config", str(names), "--help"], capture_output=True, timeout=10)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("text, words", [
    ("a:\n  b: 1\n", ["serve.yaml:2", "flat YAML"]),
    ("port: &p 8000\n", ["serve.yaml:1", "flat YAML"]),
    ("port:\n", ["port has no value"]),
    ("bogus-flag: 1\n", ["unknown flag --bogus-flag"]),
    ("port: x\n", ["--port expects an integer"]),
    ("enable-lora: true\n", ["--enable-lora", "LoRA"]),
])
def test_config_file_errors(piston, model, tmp_path, text, words):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(text)
    p = subprocess.run([piston, "serve", model, "--config", str(cfg)], capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
