"""`piston bench sweep` end to end on the default model: two settings, servers started and
stopped by the sweep, the table, the recommendation, JSON, CSV and the plots; a setting whose
server cannot start is reported with the server's own reason; bad sweep flags are one line."""
import csv
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, threads


def sweep(piston, model, out, *args, timeout=600):
    cmd = [piston, "bench", "sweep", model, "--out", str(out), "--threads", str(threads()), "--max-model-len", "512",
           "--num-prompts", "4", "--random-input-len", "32", "--random-output-len", "8", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p


def no_server_left(out):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(out) not in ps


def test_two_point_sweep_end_to_end(piston, model, tmp_path):
    out = tmp_path / "sw"
    # --metric-percentiles without 99: the sweep adds it, and reads its P99s by value, not as the
    # first percentile of the list (which once made the table's "P99" the median)
    p = sweep(piston, model, out, "--max-num-seqs", "1,4", "--max-concurrency", "4", "--kv-cache-memory", "64M",
              "--slo-ttft-ms", "600000", "--metric-percentiles", "50")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "recommended: max-num-seqs=" in p.stdout and "loses:" in p.stdout
    assert "KV blocks" in p.stdout and "P99 TPOT ms" in p.stdout
    sw = json.loads((out / "sweep.json").read_text())
    assert sw["swept"] == ["--max-num-seqs"] and len(sw["points"]) == 2
    for pt in sw["points"]:
        assert pt["failed"] == 0 and pt["completed"] == 4 and pt["kv_blocks"] > 0
        assert pt["max_num_seqs"] == int(pt["flags"]["--max-num-seqs"])
        assert pt["max_concurrency"] == pt["max_num_seqs"]  # 64M of KV holds more than 4 requests of 40 tokens
        assert pt["preemptions"] == 0
    assert sw["recommendation"]["setting"] in ("max-num-seqs=1", "max-num-seqs=4")
    best = max(sw["points"], key=lambda q: q["output_throughput"])
    assert sw["recommendation"]["setting"] == best["setting"]
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [r["max-num-seqs"] for r in rows] == ["1", "4"]
    for name in ("sweep.png", "sweep.svg", "server-0.log", "server-1.log", "point-0-0.json", "point-1-0.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (out / "sweep.svg").read_bytes()[:2000]
    # each point's result is a bench serve result file, and the sweep's P99s are its P99s
    r = json.loads((out / "point-0-0.json").read_text())
    assert r["max_concurrency"] == 4 and len(r["ttfts"]) == 4
    for i, (pt, row) in enumerate(zip(sw["points"], rows)):
        r = json.loads((out / f"point-{i}-0.json").read_text())
        assert "p50_tpot_ms" in r and "p99_tpot_ms" in r
        for key in ("p99_ttft_ms", "p99_tpot_ms", "p99_itl_ms", "p99_e2el_ms"):
            assert pt[key] == r[key], (key, pt[key], r[key])
        for key in ("p99_ttft_ms", "p99_tpot_ms"):
            assert abs(float(row[key]) - r[key]) < 1e-3, (key, row[key], r[key])
    no_server_left(out)


def test_two_flag_sweep_end_to_end(piston, model, tmp_path):
    """Two swept flags (2 x 2 settings, one short load): every setting served, the table, the
    files and the plots; panel 3 draws one line per load and value of the second flag."""
    out = tmp_path / "sw2"
    p = sweep(piston, model, out, "--max-num-seqs", "1,4", "--kv-cache-memory", "16M,64M", "--max-concurrency", "2",
              "--num-prompts", "2", "--random-output-len", "4")
    assert p.returncode == 0, p.stdout + p.stderr
    sw = json.loads((out / "sweep.json").read_text())
    assert sw["swept"] == ["--max-num-seqs", "--kv-cache-memory"] and len(sw["points"]) == 4
    got = [(q["flags"]["--max-num-seqs"], q["flags"]["--kv-cache-memory"]) for q in sw["points"]]
    assert got == [("1", "16M"), ("4", "16M"), ("1", "64M"), ("4", "64M")]
    for q in sw["points"]:
        assert q["failed"] == 0 and q["completed"] == 2 and q["kv_blocks"] > 0
    small = {q["flags"]["--kv-cache-memory"]: q["kv_blocks"] for q in sw["points"]}
    assert small["16M"] < small["64M"]
    assert "max-num-seqs=4 kv-cache-memory=64M" in p.stdout and "recommended:" in p.stdout
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [(r["max-num-seqs"], r["kv-cache-memory"]) for r in rows] == got
    for name in ("sweep.png", "sweep.svg", "server-3.log", "point-3-0.json"):
        assert (out / name).stat().st_size > 0, name
    no_server_left(out)


def test_a_setting_that_cannot_start_says_why(piston, model, tmp_path):
    out = tmp_path / "sw"
    p = sweep(piston, model, out, "--kv-cache-memory", "1M,64M", "--max-concurrency", "1", "--no-plot")
    assert p.returncode == 0, p.stdout + p.stderr
    sw = json.loads((out / "sweep.json").read_text())
    bad = [q for q in sw["points"] if "start_error" in q]
    assert len(bad) == 1 and "cannot hold one request" in bad[0]["start_error"]
    assert sw["recommendation"]["setting"] == "kv-cache-memory=64M"
    assert "kv-cache-memory=1M loses: did not start" in p.stdout
    no_server_left(out)


@pytest.mark.parametrize("args,msg", [
    (["--max-concurrency", "1"], "nothing to sweep"),
    (["--max-num-seqs", "1,2"], "no load"),
    (["--max-num-seqs", "1,2", "--request-rate", "1", "--max-concurrency", "2"], "not both"),
    (["--max-num-seqs", "1,2", "--request-rate", "fast"], "--request-rate expects"),
    (["--a", "1,2", "--b", "1,2", "--c", "1,2", "--request-rate", "1"], "at most two flags"),
])
def test_bad_sweep_flags(piston, model, tmp_path, args, msg):
    p = sweep(piston, model, tmp_path / "sw", *args)
    assert p.returncode == 1 and msg in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_plot_lines_of_a_two_flag_sweep(tmp_path):
    """bench/plot_sweep.py on a made-up two-flag sweep: panel 3 (throughput against the first
    flag) has one labelled line per load and value of the second flag, each joining only
    points that share that value (one line per load joined them all into vertical zigzags)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("plot_sweep", os.path.join(ROOT, "bench", "plot_sweep.py"))
    ps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ps)
    pts = []
    for si, (mns, kv) in enumerate([(m, k) for k in ("16M", "64M") for m in ("1", "4")]):
        for load in (1, 4):
            tput = float(mns) * (1 if kv == "16M" else 3) * load
            pts.append({"setting": f"max-num-seqs={mns} kv-cache-memory={kv}", "flags": {"--max-num-seqs": mns,
                        "--kv-cache-memory": kv}, "load": load, "output_throughput": tput, "p99_ttft_ms": 10.0 * load,
                        "p99_tpot_ms": 5.0 + si, "failed": 0})
    sw = {"model": "m", "swept": ["--max-num-seqs", "--kv-cache-memory"], "load_kind": "max_concurrency",
          "points": pts, "objective": {}, "recommendation": {"setting": pts[-1]["setting"], "point": pts[-1]}}
    lines = ps.throughput_lines(sw, pts, [1.0, 4.0], "concurrency")
    assert sorted(lab for lab, *_ in lines) == sorted(f"concurrency {c}, kv-cache-memory={k}" for c in (1, 4)
                                                      for k in ("16M", "64M"))
    for lab, xy, _, _ in lines:
        c, kv = int(lab.split()[1].rstrip(",")), lab.split("=")[1]
        assert xy == [(1.0, 1.0 * (1 if kv == "16M" else 3) * c), (4.0, 4.0 * (1 if kv == "16M" else 3) * c)], lab
        assert len({x for x, _ in xy}) == len(xy)  # no vertical segment
    one = dict(sw, swept=["--max-num-seqs"])
    assert [lab for lab, *_ in ps.throughput_lines(one, pts[:4:2] + pts[1:4:2], [1.0, 4.0], "concurrency")] == \
        ["concurrency 1", "concurrency 4"]
    (tmp_path / "sweep.json").write_text(json.dumps(sw))
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "plot_sweep.py"), str(tmp_path / "sweep.json")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"kv-cache-memory=64M" in (tmp_path / "sweep.svg").read_bytes()
