#!/usr/bin/env python3
"""llama.cpp's own binaries (llama-server, llama-bench) for the peer comparisons in bench/.

Nothing of llama.cpp is committed here. Its source comes from the PyPI sdist of
llama-cpp-python, which carries a full llama.cpp checkout under vendor/llama.cpp (server and
llama-bench sources included); it is downloaded with pip, extracted and built with cmake in a
cache outside the repository ($PISTON_HOME/llama.cpp, default ~/.cache/piston/llama.cpp):

  sdist/llama_cpp_python-V.tar.gz   pip download --no-binary :all: --no-deps llama-cpp-python==V
  src-V/                            the extracted sdist
  build-V-KEY/                      one cmake build per (version, CPU switches); KEY hashes the
                                    cmake arguments, build.json records them and the build time

The CPU features are named explicitly (GGML_NATIVE=OFF plus one switch per feature that
/proc/cpuinfo reports), never left to -march=native: on some Intel VMs a native build picks
AMX, which the hypervisor does not let the guest execute, and the binary dies of SIGILL.
Every switch is passed ON or OFF, because with GGML_NATIVE=OFF ggml turns AVX, AVX2, FMA,
F16C, BMI2 and SSE4.2 on by default, which would be wrong on an older CPU. AMX is always OFF.

The same switches install the Python binding (`pip-install`), for `tests/ref/` and for
`compare-llamacpp.py --python`.

Usage:
  python3 bench/llamacpp_build.py [build] [--version V|latest] [--targets llama-server,llama-bench]
                                  [--cache DIR] [--jobs N] [--force]
  python3 bench/llamacpp_build.py flags          # the switches this CPU gets; builds nothing
  python3 bench/llamacpp_build.py pip-install    # llama-cpp-python V built with those switches
As a module: ensure_built(...) -> {"llama-server": path, "llama-bench": path, ...}.
"""
import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time

# The llama-cpp-python release tests/fixtures/ was made with (llama.cpp 0c1e57098).
PINNED_VERSION = "0.3.36"
DEFAULT_TARGETS = ("llama-server", "llama-bench")

# x86 feature switches of ggml (ggml/CMakeLists.txt, ggml/src/ggml-cpu/CMakeLists.txt):
# (cmake switch, /proc/cpuinfo flags it needs, all of them; the switch it builds on).
# GGML_AVX512 compiles with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw, so it
# needs all five; the AVX-512 extensions are only used on top of it.
X86_SWITCHES = (
    ("GGML_SSE42", ("sse4_2",), None),
    ("GGML_AVX", ("avx",), None),
    ("GGML_AVX2", ("avx2",), "GGML_AVX"),
    ("GGML_BMI2", ("bmi2",), None),
    ("GGML_FMA", ("fma",), "GGML_AVX"),
    ("GGML_F16C", ("f16c",), "GGML_AVX"),
    ("GGML_AVX_VNNI", ("avx_vnni",), "GGML_AVX2"),
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"), "GGML_AVX2"),
    ("GGML_AVX512_VBMI", ("avx512vbmi",), "GGML_AVX512"),
    ("GGML_AVX512_VNNI", ("avx512_vnni",), "GGML_AVX512"),
    ("GGML_AVX512_BF16", ("avx512_bf16",), "GGML_AVX512"),
)
# Never on, whatever the CPU says (see the top of this file).
ALWAYS_OFF = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")


def log(msg):
    print(f"llamacpp_build: {msg}", file=sys.stderr, flush=True)


def cache_root():
    home = os.environ.get("PISTON_HOME") or os.path.expanduser("~/.cache/piston")
    return os.path.join(home, "llama.cpp")


# --- CPU features -> cmake switches -------------------------------------------------------

def read_cpu_flags(path="/proc/cpuinfo"):
    """The feature flags of the first CPU in /proc/cpuinfo (x86 "flags", ARM "Features")."""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def is_x86(machine=None):
    return (machine or platform.machine()).lower() in ("x86_64", "amd64", "i686", "i386")


def cpu_switches(flags, machine=None):
    """[(switch, on)] for this CPU: every x86 switch named ON or OFF, AMX always OFF.

    Off x86 there is nothing to name: GGML_NATIVE=OFF alone gives ggml's portable build."""
    if not is_x86(machine):
        return []
    on = {}
    for name, needs, base in X86_SWITCHES:
        on[name] = all(f in flags for f in needs) and (base is None or on[base])
    return list(on.items()) + [(name, False) for name in ALWAYS_OFF]


def switch_args(switches):
    return ["-DGGML_NATIVE=OFF"] + [f"-D{name}={'ON' if v else 'OFF'}" for name, v in switches]


def describe_switches(switches, machine=None):
    if not switches:
        return f"GGML_NATIVE=OFF, no x86 switches ({machine or platform.machine()}: ggml's portable build)"
    on = [n for n, v in switches if v]
    off = [n for n, v in switches if not v]
    return f"GGML_NATIVE=OFF; ON: {' '.join(on) or '-'}; OFF: {' '.join(off)}"


# --- the sdist ----------------------------------------------------------------------------

def resolve_version(version):
    """'latest' -> the newest llama-cpp-python on PyPI (through pip); anything else as given."""
    if version != "latest":
        return version
    p = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "llama-cpp-python"],
                       capture_output=True, text=True)
    m = re.search(r"llama-cpp-python \(([^)]+)\)", p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"cannot ask PyPI for the latest llama-cpp-python (pip index versions: "
                           f"{(p.stderr or p.stdout).strip()[-500:]}); pass --version {PINNED_VERSION}")
    return m.group(1)


def fetch_sdist(version, root):
    """The sdist tarball of llama-cpp-python==version, downloaded once into root/sdist."""
    d = os.path.join(root, "sdist")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"llama_cpp_python-{version}.tar.gz")
    if os.path.exists(path):
        return path
    log(f"downloading the sdist of llama-cpp-python=={version} (~75 MB) into {d}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
           "--quiet", "-d", d, f"llama-cpp-python=={version}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    # pip names the file after the normalized project name; older sdists used a dash
    for name in (f"llama_cpp_python-{version}.tar.gz", f"llama-cpp-python-{version}.tar.gz"):
        if os.path.exists(os.path.join(d, name)):
            if name != os.path.basename(path):
                os.rename(os.path.join(d, name), path)
            return path
    raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{(p.stderr or p.stdout)[-2000:]}")


def extract_sdist(tarball, version, root):
    """root/src-V/ with the sdist's contents; returns the llama.cpp source dir inside it."""
    dest = os.path.join(root, f"src-{version}")
    done = os.path.join(dest, ".extracted")
    if not os.path.exists(done):
        log(f"extracting {tarball}")
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        with tarfile.open(tarball) as tf:
            # the "data" filter refuses absolute paths, links out of dest and device files
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, filter="data")
            else:
                tf.extractall(dest)
        open(done, "w").close()
    tops = [e for e in os.listdir(dest) if not e.startswith(".")]
    if len(tops) != 1:
        raise RuntimeError(f"{dest}: expected one top-level folder in the sdist, found {tops}")
    src = os.path.join(dest, tops[0], "vendor", "llama.cpp")
    check_sources(src, version)
    return src


def check_sources(src, version):
    """The sdist must carry llama.cpp's CMake project with the server and llama-bench.

    Checked for 0.3.36: vendor/llama.cpp/tools/server/ (server sources; the web UI is not
    built, it needs npm or a download) and tools/llama-bench/ are there. Older sdists
    (llama.cpp before mid-2025) had them under examples/; both layouts are accepted."""
    if not os.path.exists(os.path.join(src, "CMakeLists.txt")):
        raise RuntimeError(f"{src}: no CMakeLists.txt: the sdist of llama-cpp-python=={version} does "
                           f"not carry llama.cpp's source; use --version {PINNED_VERSION}")
    for tool in ("server", "llama-bench"):
        if not any(os.path.exists(os.path.join(src, d, tool, "CMakeLists.txt"))
                   for d in ("tools", "examples")):
            raise RuntimeError(f"{src}: the sdist of llama-cpp-python=={version} has no {tool} "
                               f"sources (looked in tools/{tool} and examples/{tool}); use "
                               f"--version {PINNED_VERSION}, whose sdist has them")


def llama_cpp_commit(src):
    """The llama.cpp commit the sdist vendors, from llama-cpp-python's CHANGELOG (the sdist has
    no .git): the first 'update llama.cpp to ggml-org/llama.cpp@HASH' under this version."""
    changelog = os.path.join(os.path.dirname(os.path.dirname(src)), "CHANGELOG.md")
    try:
        with open(changelog) as f:
            text = f.read()
    except OSError:
        return "unknown"
    m = re.search(r"llama\.cpp@([0-9a-f]{7,40})", text.split("## [Unreleased]")[-1])
    return m.group(1) if m else "unknown"


# --- the cmake build ----------------------------------------------------------------------

def cmake_args(src, build, switches, commit):
    """The cmake configure line: Release, explicit CPU switches, OpenMP as llama.cpp defaults
    (on), static libraries (the binaries stand alone), no curl/OpenSSL (models are local files),
    no tests or examples, and no web UI (LLAMA_USE_PREBUILT_UI would download it)."""
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    return (["cmake", "-S", src, "-B", build] + gen
            + ["-DCMAKE_BUILD_TYPE=Release"] + switch_args(switches)
            + ["-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DBUILD_SHARED_LIBS=OFF",
               "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=ON",
               "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
               "-DGGML_CCACHE=OFF", f"-DLLAMA_BUILD_COMMIT={commit}"])


def build_key(version, switches):
    """The cache key of a build: the version and the CPU switches (paths left out)."""
    text = json.dumps({"version": version, "switches": switch_args(switches)}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


# Debian packages for the tools the build runs, installed only when the tool is missing.
BUILD_TOOLS = (("cmake", "cmake"), ("c++", "g++"), ("cc", "gcc"), ("make", "make"))


def ensure_build_tools():
    missing = [pkg for tool, pkg in BUILD_TOOLS if not shutil.which(tool)]
    if shutil.which("ninja"):
        missing = [p for p in missing if p != "make"]
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise RuntimeError(f"missing build tools (Debian packages {' '.join(missing)}) and no apt-get")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    log(f"installing {' '.join(missing)} (apt-get)")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + missing, check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def find_binaries(build, targets):
    out = {}
    for t in targets:
        p = os.path.join(build, "bin", t)
        if os.access(p, os.X_OK):
            out[t] = p
    return out


def ensure_built(version=PINNED_VERSION, targets=DEFAULT_TARGETS, cache=None, jobs=None,
                 force=False, cpuinfo="/proc/cpuinfo", quiet=False):
    """Builds what is not in the cache yet; returns {target: path, "version", "llama_cpp",
    "switches", "build_dir", "build_seconds"} (build_seconds of the build that made it)."""
    root = cache or cache_root()
    version = resolve_version(version)
    switches = cpu_switches(read_cpu_flags(cpuinfo))
    build = os.path.join(root, f"build-{version}-{build_key(version, switches)}")
    stamp = os.path.join(build, "build.json")
    if not quiet:
        log(f"llama-cpp-python {version}; CPU switches: {describe_switches(switches)}")
    os.makedirs(root, exist_ok=True)
    # one build at a time per cache: a second caller waits, then finds the stamp
    with open(build + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = None
        if os.path.exists(stamp) and not force:
            with open(stamp) as f:
                info = json.load(f)
            if set(targets) - set(find_binaries(build, targets)):
                info = None  # a target that was not built then
        if info is None:
            info = build_now(version, targets, root, build, switches, jobs)
            with open(stamp, "w") as f:
                json.dump(info, f, indent=1)
        elif not quiet:
            log(f"cached: {build} (built in {info['build_seconds']:.0f} s)")
    bins = find_binaries(build, targets)
    return dict(info, **bins, build_dir=build)


def build_now(version, targets, root, build, switches, jobs):
    ensure_build_tools()
    src = extract_sdist(fetch_sdist(version, root), version, root)
    commit = llama_cpp_commit(src)
    configure = cmake_args(src, build, switches, commit)
    jobs = jobs or os.cpu_count() or 1
    compile_ = ["cmake", "--build", build, "--config", "Release", "-j", str(jobs),
                "--target"] + list(targets)
    log_path = build + ".log"
    log(f"building {' '.join(targets)} of llama.cpp {commit} with {jobs} jobs "
        f"(log: {log_path}); on 2 cores this takes several minutes")
    log("  " + " ".join(configure))
    t0 = time.time()
    with open(log_path, "w") as lf:
        for cmd in (configure, compile_):
            lf.write("$ " + " ".join(cmd) + "\n")
            lf.flush()
            if subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT).returncode != 0:
                with open(log_path) as f:
                    tail = f.read()[-3000:]
                raise RuntimeError(f"{' '.join(cmd[:3])} failed; the end of {log_path}:\n{tail}")
    seconds = time.time() - t0
    missing = set(targets) - set(find_binaries(build, targets))
    if missing:
        raise RuntimeError(f"{build}/bin: the build finished without {' '.join(sorted(missing))}")
    log(f"built in {seconds:.0f} s: {build}/bin")
    return {"version": version, "llama_cpp": commit, "switches": switch_args(switches),
            "cmake": configure, "targets": list(targets), "build_seconds": round(seconds, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpu_flags_source": "/proc/cpuinfo"}


# --- the Python binding, same switches ----------------------------------------------------

def pip_install(version=PINNED_VERSION, cache=None, cpuinfo="/proc/cpuinfo"):
    """pip installs llama-cpp-python==version from the cached sdist, compiled with this CPU's
    switches (CMAKE_ARGS) rather than natively; a no-op when that version is importable."""
    version = resolve_version(version)
    p = subprocess.run([sys.executable, "-c", "import llama_cpp; print(llama_cpp.__version__)"],
                       capture_output=True, text=True)
    if p.returncode == 0 and p.stdout.strip() == version:
        return
    switches = cpu_switches(read_cpu_flags(cpuinfo))
    env = dict(os.environ, CMAKE_ARGS=" ".join(switch_args(switches)), FORCE_CMAKE="1")
    tarball = fetch_sdist(version, cache or cache_root())
    log(f"pip installing llama-cpp-python {version} with CMAKE_ARGS=\"{env['CMAKE_ARGS']}\" "
        "(a full llama.cpp build: several minutes on 2 cores)")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-binary",
                    "llama-cpp-python", tarball], check=True, env=env)


def main():
    ap = argparse.ArgumentParser(description="llama.cpp's llama-server/llama-bench from the "
                                 "llama-cpp-python sdist, built with explicit CPU switches")
    ap.add_argument("action", nargs="?", default="build", choices=("build", "flags", "pip-install"))
    ap.add_argument("--version", default=PINNED_VERSION,
                    help=f"llama-cpp-python release (default {PINNED_VERSION}; 'latest' asks PyPI)")
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    ap.add_argument("--cache", default=None, help=f"cache folder (default {cache_root()})")
    ap.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (default: nproc)")
    ap.add_argument("--force", action="store_true", help="rebuild even when cached")
    ap.add_argument("--cpuinfo", default="/proc/cpuinfo", help=argparse.SUPPRESS)
    a = ap.parse_args()
    try:
        if a.action == "flags":
            sw = cpu_switches(read_cpu_flags(a.cpuinfo))
            print(describe_switches(sw))
            print(" ".join(switch_args(sw)))
        elif a.action == "pip-install":
            pip_install(a.version, a.cache, a.cpuinfo)
        else:
            info = ensure_built(a.version, tuple(a.targets.split(",")), a.cache, a.jobs, a.force,
                                a.cpuinfo)
            for t in a.targets.split(","):
                print(f"{t}: {info[t]}")
    except (RuntimeError, subprocess.CalledProcessError) as e:
        sys.exit(f"llamacpp_build: {e}")


if __name__ == "__main__":
    main()
