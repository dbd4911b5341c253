"""A benchmarked server as a child process, and whether the machine is quiet enough to time it.

Server starts a command in its own session (process group) with its output in a log file,
waits for GET /health to answer 200 (Piston and llama-server both answer 503 while loading),
and on leaving its with block, whatever the reason (the end, an error, Ctrl-C), terminates
the whole group, then kills it: no server or child of one outlives a benchmark.
CpuMeter says how much of the CPUs the server, the load generator and everything else used
over a run, and cpu_busy() how busy other processes keep them now, so that a benchmark on a
shared machine can wait, warn, and show how noisy each run was. Used by
bench/compare-llamacpp-server.
"""
import contextlib
import json
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def log(msg):
    print(f"{os.path.basename(sys.argv[0])}: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process in its own process group, its output in a log file; stopped (SIGTERM,
    then SIGKILL after `grace` seconds) on leaving the with block, whatever the reason."""

    def __init__(self, label, argv, port, log_path, grace=15):
        self.label, self.argv, self.port, self.log_path, self.grace = label, argv, port, log_path, grace
        self.proc = None

    def __enter__(self):
        log(f"starting {self.label}: {shlex.join(self.argv)}")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        if self.proc is None:
            return
        # the whole group, even when the leader is gone: nothing it started outlives the run
        for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                log(f"{self.label} did not stop within {wait} s of {sig.name}")
        self.logf.close()
        self.proc = None

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def wait_ready(self, timeout):
        """GET /health until 200 (both answer 503 while loading), or the process exits."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited ({self.proc.returncode}) while starting; "
                                   f"the end of {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/health"), timeout=2) as r:
                    if r.status == 200:
                        log(f"{self.label} ready on port {self.port} after {time.time() - t0:.1f} s")
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.label} not ready after {timeout} s; see {self.log_path}")

    def warm_up(self, name):
        body = json.dumps({"model": name, "prompt": "Hello, my name is", "max_tokens": 16,
                           "temperature": 0}).encode()
        req = urllib.request.Request(self.url("/v1/completions"), body,
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()


def proc_ticks(pid):
    """CPU time of process pid, all its threads, in /proc/stat's units; 0 where unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError, IndexError):
        return 0


class CpuMeter:
    """Shares of all the CPUs over an interval, from /proc/stat: the server (its process, all
    threads), the children this process reaped meanwhile (the load generator), and the rest,
    which is other people's work and what makes a run on a shared machine noisy."""

    def __init__(self, server_pid):
        self.pid = server_pid
        self.t0 = None

    def _sample(self):
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        hz = os.sysconf("SC_CLK_TCK")
        # total, busy (all but idle and iowait), the server's ticks, reaped children's ticks
        return (sum(v), sum(v) - v[3] - (v[4] if len(v) > 4 else 0), proc_ticks(self.pid),
                (kids.ru_utime + kids.ru_stime) * hz)

    def start(self):
        try:
            self.t0 = self._sample()
        except (OSError, ValueError, IndexError):
            self.t0 = None
        return self

    def stop(self):
        """{"server", "loadgen", "others"} as shares of all CPUs since start(), {} where unreadable."""
        if self.t0 is None:
            return {}
        try:
            t1 = self._sample()
        except (OSError, ValueError, IndexError):
            return {}
        total, busy, server, kids = (b - a for a, b in zip(self.t0, t1))
        total = max(1, total)
        return {"server": round(server / total, 3), "loadgen": round(kids / total, 3),
                "others": round(max(0.0, busy - server - kids) / total, 3)}


def cpu_busy(seconds=1.0, exclude_pid=None):
    """The share of all CPUs that processes other than exclude_pid (and our reaped children)
    kept busy over `seconds`, None where unreadable."""
    m = CpuMeter(exclude_pid).start()
    time.sleep(seconds)
    return m.stop().get("others")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return 0.0


def check_quiet(label, server_pid, wait):
    """Warns when other work keeps the CPUs busy; first waits up to `wait` s for it to stop."""
    t0 = time.time()
    while True:
        busy, la = cpu_busy(exclude_pid=server_pid), loadavg()
        if busy is None or busy <= 0.25 or time.time() - t0 >= wait:
            break
    if busy is not None and busy > 0.25:
        log(f"warning: before {label}: other processes keep the CPUs {busy:.0%} busy (load "
            f"average {la:.2f}): the numbers will be noisy")
    return {"cpu_busy_others": None if busy is None else round(busy, 3), "loadavg": la}
