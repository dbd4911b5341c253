"""bench/llamacpp_build.py, bench/compare-llamacpp-server and bench/server_proc.py, without
building llama.cpp.

The CPU-flag -> cmake-switch mapping is checked on the /proc/cpuinfo flag sets of real CPUs
(an AMX-capable Sapphire Rapids never gets an AMX switch, an AVX2-only Haswell no AVX-512,
an AVX-only Sandy Bridge has every switch that ggml turns on by default named OFF), then the
sdist checks, the build cache, the command lines of both servers and of the load generator,
the table's ratios, and the start/readiness/stop of a server process group on a stand-in
server. Nothing here downloads or compiles; the real build is `python3 bench/llamacpp_build.py`.
"""
import importlib.machinery
import importlib.util
import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import llamacpp_build as lb  # noqa: E402
import server_proc as sp  # noqa: E402


def load_compare():
    path = os.path.join(ROOT, "bench", "compare-llamacpp-server")
    loader = importlib.machinery.SourceFileLoader("compare_llamacpp_server", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


cmp = load_compare()

COMMON = "fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt"
CPUS = {
    # Intel Xeon Sapphire Rapids (a GCP/AWS guest): AMX and everything AVX-512
    "sapphire_rapids": COMMON + " avx avx2 fma f16c bmi1 bmi2 avx_vnni avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx512ifma avx512vbmi avx512_vbmi2 avx512_vnni avx512_bf16 avx512_fp16 "
    "amx_bf16 amx_tile amx_int8",
    # Intel Haswell: AVX2, FMA, F16C, BMI2, no AVX-512
    "haswell": COMMON + " avx avx2 fma f16c bmi1 bmi2",
    # Intel Sandy Bridge: AVX only
    "sandy_bridge": COMMON + " avx",
    # Intel Knights Landing: AVX-512F/CD without VL/BW/DQ, which GGML_AVX512 compiles for
    "knights_landing": COMMON + " avx avx2 fma f16c bmi2 avx512f avx512cd avx512er avx512pf",
    # AMD Zen 4: AVX-512 with VBMI, VNNI and BF16, no AVX-VNNI, no AMX
    "zen4": COMMON + " avx avx2 fma f16c bmi2 avx512f avx512dq avx512cd avx512bw avx512vl "
    "avx512vbmi avx512_vnni avx512_bf16",
}


def switches(cpu):
    return dict(lb.cpu_switches(set(CPUS[cpu].split()), "x86_64"))


def test_amx_never_on():
    sw = switches("sapphire_rapids")
    for name in lb.ALWAYS_OFF:
        assert sw[name] is False
    args = lb.switch_args(lb.cpu_switches(set(CPUS["sapphire_rapids"].split()), "x86_64"))
    assert not [x for x in args if "AMX" in x and x.endswith("=ON")]
    assert "-DGGML_NATIVE=OFF" in args and not [x for x in args if "march" in x]
    # everything else it has is on
    for name in ("GGML_AVX2", "GGML_AVX512", "GGML_AVX512_VBMI", "GGML_AVX512_VNNI",
                 "GGML_AVX512_BF16", "GGML_AVX_VNNI", "GGML_FMA", "GGML_F16C", "GGML_BMI2"):
        assert sw[name] is True, name


def test_avx2_only_gets_no_avx512():
    sw = switches("haswell")
    assert sw["GGML_AVX2"] and sw["GGML_FMA"] and sw["GGML_F16C"] and sw["GGML_BMI2"]
    for name, on in sw.items():
        if "AVX512" in name or "VNNI" in name or "AMX" in name:
            assert on is False, name


def test_avx_only_names_the_default_on_switches_off():
    # with GGML_NATIVE=OFF, ggml turns AVX2, FMA, F16C and BMI2 on unless told otherwise
    sw = switches("sandy_bridge")
    assert sw["GGML_AVX"] and sw["GGML_SSE42"]
    for name in ("GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2", "GGML_AVX512"):
        assert sw[name] is False, name
    args = lb.switch_args(lb.cpu_switches(set(CPUS["sandy_bridge"].split()), "x86_64"))
    assert "-DGGML_AVX2=OFF" in args and "-DGGML_FMA=OFF" in args and "-DGGML_F16C=OFF" in args


def test_partial_avx512_is_off_with_its_extensions():
    sw = switches("knights_landing")
    assert sw["GGML_AVX2"] and not sw["GGML_AVX512"]
    # an extension without the base it builds on stays off
    flags = set(CPUS["haswell"].split()) | {"avx512_vnni", "avx512vbmi", "avx512_bf16"}
    sw = dict(lb.cpu_switches(flags, "x86_64"))
    assert not sw["GGML_AVX512_VNNI"] and not sw["GGML_AVX512_VBMI"] and not sw["GGML_AVX512_BF16"]
    # AVX-VNNI builds on AVX2
    sw = dict(lb.cpu_switches(set(CPUS["sandy_bridge"].split()) | {"avx_vnni"}, "x86_64"))
    assert not sw["GGML_AVX_VNNI"]


def test_zen4_gets_avx512_extensions_without_avx_vnni():
    sw = switches("zen4")
    assert sw["GGML_AVX512"] and sw["GGML_AVX512_VBMI"] and sw["GGML_AVX512_VNNI"] and sw["GGML_AVX512_BF16"]
    assert not sw["GGML_AVX_VNNI"]


def test_every_switch_named_once_on_x86():
    for cpu in CPUS:
        names = [n for n, _ in lb.cpu_switches(set(CPUS[cpu].split()), "x86_64")]
        assert len(names) == len(set(names)) == len(lb.X86_SWITCHES) + len(lb.ALWAYS_OFF)


def test_not_x86_is_the_portable_build():
    assert lb.cpu_switches({"fp", "asimd", "sve"}, "aarch64") == []
    assert lb.switch_args([]) == ["-DGGML_NATIVE=OFF"]


def test_read_cpu_flags(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 amx_tile\n\n"
                 "processor\t: 1\nflags\t\t: fpu\n")
    assert lb.read_cpu_flags(str(p)) == {"fpu", "avx2", "amx_tile"}
    p.write_text("processor\t: 0\nFeatures\t: fp asimd\n")
    assert lb.read_cpu_flags(str(p)) == {"fp", "asimd"}
    assert lb.read_cpu_flags(str(tmp_path / "missing")) == set()


def test_cmake_args():
    sw = lb.cpu_switches(set(CPUS["haswell"].split()), "x86_64")
    args = lb.cmake_args("/src", "/build", sw, "abc1234")
    assert args[:5] == ["cmake", "-S", "/src", "-B", "/build"]
    for want in ("-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", "-DLLAMA_CURL=OFF",
                 "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_USE_PREBUILT_UI=OFF",
                 "-DGGML_AVX2=ON", "-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF"):
        assert want in args, want
    assert not [a for a in args if a.startswith("-DGGML_OPENMP")]  # llama.cpp's default: on


def test_build_key():
    a = lb.cpu_switches(set(CPUS["haswell"].split()), "x86_64")
    b = lb.cpu_switches(set(CPUS["zen4"].split()), "x86_64")
    assert lb.build_key("0.3.36", a) == lb.build_key("0.3.36", a)
    assert lb.build_key("0.3.36", a) != lb.build_key("0.3.36", b)
    assert lb.build_key("0.3.36", a) != lb.build_key("0.3.35", a)


def fake_sdist(root, version, with_server=True, changelog=True):
    top = root / f"src-{version}" / f"llama_cpp_python-{version}"
    src = top / "vendor" / "llama.cpp"
    (src / "tools" / "llama-bench").mkdir(parents=True)
    (src / "CMakeLists.txt").write_text("")
    (src / "tools" / "llama-bench" / "CMakeLists.txt").write_text("")
    if with_server:
        (src / "tools" / "server").mkdir()
        (src / "tools" / "server" / "CMakeLists.txt").write_text("")
    if changelog:
        (top / "CHANGELOG.md").write_text(textwrap.dedent(f"""\
            # Changelog
            ## [Unreleased]
            ## [{version}]
            - feat: update llama.cpp to ggml-org/llama.cpp@0c1e57098
            ## [0.0.1]
            - feat: update llama.cpp to ggml-org/llama.cpp@1111111
            """))
    return str(src)


def test_sources_and_commit(tmp_path):
    src = fake_sdist(tmp_path, "9.9.9")
    lb.check_sources(src, "9.9.9")
    assert lb.llama_cpp_commit(src) == "0c1e57098"
    bare = fake_sdist(tmp_path / "b", "9.9.8", with_server=False, changelog=False)
    with pytest.raises(RuntimeError, match="no server sources"):
        lb.check_sources(bare, "9.9.8")
    assert lb.llama_cpp_commit(bare) == "unknown"


def test_cached_build_is_not_rebuilt(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t: " + CPUS["haswell"] + "\n")
    sw = lb.cpu_switches(lb.read_cpu_flags(str(cpuinfo)))
    build = tmp_path / f"build-9.9.9-{lb.build_key('9.9.9', sw)}"
    (build / "bin").mkdir(parents=True)
    for t in lb.DEFAULT_TARGETS:
        exe = build / "bin" / t
        exe.write_text("#!/bin/sh\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    (build / "build.json").write_text(json.dumps({"version": "9.9.9", "llama_cpp": "x",
                                                  "switches": [], "build_seconds": 1.0}))

    def no_build(*a, **k):
        raise AssertionError("rebuilt a cached build")
    monkeypatch.setattr(lb, "build_now", no_build)
    info = lb.ensure_built("9.9.9", cache=str(tmp_path), cpuinfo=str(cpuinfo), quiet=True)
    assert info["llama-server"] == str(build / "bin" / "llama-server")
    # a different CPU is a different build
    cpuinfo.write_text("flags\t: " + CPUS["zen4"] + "\n")
    with pytest.raises(AssertionError, match="rebuilt"):
        lb.ensure_built("9.9.9", cache=str(tmp_path), cpuinfo=str(cpuinfo), quiet=True)


def test_server_command_lines():
    ll = cmp.llama_server_args("/b/llama-server", "/m.gguf", 8123, 2, 1024, 32, "m", ["--foo"])
    assert ll[0] == "/b/llama-server"
    s = " ".join(ll)
    for want in ("-m /m.gguf", "--host 127.0.0.1", "--port 8123", "-t 2", "-tb 2", "-cb",
                 "-np 32", f"-c {32 * 1024}", "--alias m"):
        assert want in s, want
    assert ll[-1] == "--foo"
    pi = cmp.piston_serve_args("bin/piston", "/m.gguf", 8124, 2, 1024, 32, "m")
    assert pi[:3] == ["bin/piston", "serve", "/m.gguf"]
    s = " ".join(pi)
    for want in ("--host 127.0.0.1", "--port 8124", "--threads 2", "--max-model-len 1024",
                 "--max-num-seqs 32", "--served-model-name m", "--device cpu"):
        assert want in s, want


def test_loadgen_command_line():
    argv = cmp.loadgen_args(["bin/piston", "bench", "serve"], "http://127.0.0.1:9", "m", "/m.gguf",
                            128, 64, 0.0, 16, 8, 0, "/tmp/r.json")
    assert argv[:3] == ["bin/piston", "bench", "serve"]
    rest = [a for a in argv[3:] if a != "--ignore-eos"]
    flags = dict(zip(rest[::2], rest[1::2]))
    assert "--ignore-eos" in argv
    assert flags == {"--base-url": "http://127.0.0.1:9", "--endpoint": "/v1/completions",
                     "--model": "m", "--dataset-name": "random", "--random-input-len": "128",
                     "--random-output-len": "64", "--random-range-ratio": "0.0",
                     "--num-prompts": "16", "--max-concurrency": "8", "--request-rate": "inf",
                     "--seed": "0", "--tokenizer": "/m.gguf", "--save-result": "/tmp/r.json"}
    assert cmp.prompts_for(1, None) == 16 and cmp.prompts_for(32, None) == 128
    assert cmp.prompts_for(32, 10) == 10


def test_ratios_and_table():
    llama = {"output_throughput": 100.0, "mean_ttft_ms": 50.0, "p99_ttft_ms": 80.0,
             "mean_tpot_ms": 10.0, "p99_tpot_ms": 20.0, "failed": 0}
    piston = {"output_throughput": 300.0, "mean_ttft_ms": 25.0, "p99_ttft_ms": 40.0,
              "mean_tpot_ms": 5.0, "p99_tpot_ms": 10.0, "failed": 1}
    r = cmp.ratios(piston, llama)
    assert r == {"output_throughput": 3.0, "mean_ttft_ms": 0.5, "p99_ttft_ms": 0.5,
                 "mean_tpot_ms": 0.5, "p99_tpot_ms": 0.5}
    assert cmp.ratios({}, llama)["output_throughput"] is None
    t = cmp.table({"llama-server": {8: llama}, "piston": {8: piston}}, [8])
    assert "3.00x" in t and "0.50x" in t and "llama-server" in t
    t = cmp.table({"llama-server": {8: llama}, "piston": {8: {"error": "boom\nmore"}}}, [8])
    assert "failed: boom" in t and "x |" not in t


STANDIN = r'''
import http.server, os, subprocess, sys, time
t0 = time.time()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[2], "w").write(str(child.pid))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = time.time() - t0 > 0.5  # 503 while "loading", as both servers answer
        self.send_response(200 if ok else 503); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_server_ready_and_stopped_with_its_children(tmp_path):
    script = tmp_path / "standin.py"
    script.write_text(STANDIN)
    port = sp.free_port()
    pidfile = tmp_path / "child.pid"
    srv = sp.Server("standin", [sys.executable, str(script), str(port), str(pidfile)], port,
                     str(tmp_path / "standin.log"), grace=5)
    with srv:
        srv.wait_ready(20)
        leader = srv.proc.pid
        child = int(pidfile.read_text())
        assert alive(leader) and alive(child)
    deadline = time.time() + 5
    while (alive(leader) or alive(child)) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(leader) and not alive(child)


def test_server_that_dies_while_starting(tmp_path):
    port = sp.free_port()
    srv = sp.Server("dies", [sys.executable, "-c", "import sys; print('no model'); sys.exit(3)"],
                     port, str(tmp_path / "dies.log"))
    with srv, pytest.raises(RuntimeError, match=r"(?s)exited \(3\).*no model"):
        srv.wait_ready(20)


SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass\n"


def test_cpu_accounting():
    assert sp.proc_ticks(os.getpid()) >= 0
    assert sp.proc_ticks(2 ** 22 + 12345) == 0  # no such process
    busy = sp.cpu_busy(0.05, exclude_pid=os.getpid())
    assert busy is None or 0.0 <= busy <= 1.0
    # 0.2 s of CPU in "the server" (this process) and 0.2 s in a reaped child (the load
    # generator) land in their own shares, not in "others"
    m = sp.CpuMeter(os.getpid()).start()
    exec(SPIN)
    subprocess.run([sys.executable, "-c", SPIN], check=True)
    shares = m.stop()
    assert shares["server"] > 0 and shares["loadgen"] > 0
    assert 0.0 <= shares["others"] <= 1.0


def test_pip_install_never_native(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t: " + CPUS["sapphire_rapids"] + "\n")
    calls = []

    class Done:
        returncode, stdout, stderr = 1, "", ""

    def run(argv, **kw):
        calls.append((argv, kw.get("env")))
        return Done()
    monkeypatch.setattr(lb.subprocess, "run", run)
    monkeypatch.setattr(lb, "fetch_sdist", lambda v, root: f"/cache/llama_cpp_python-{v}.tar.gz")
    lb.pip_install("9.9.9", cache=str(tmp_path), cpuinfo=str(cpuinfo))
    argv, env = calls[-1]
    assert argv[-3:] == ["--no-binary", "llama-cpp-python", "/cache/llama_cpp_python-9.9.9.tar.gz"]
    cm = env["CMAKE_ARGS"].split()
    assert "-DGGML_NATIVE=OFF" in cm and "-DGGML_AVX512=ON" in cm and "-DGGML_AMX_INT8=OFF" in cm
    assert not [x for x in cm if "AMX" in x and x.endswith("=ON")]
