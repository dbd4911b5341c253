#!/usr/bin/env python3
"""Plots of a `piston bench sweep` (its sweep.json), as PNG and SVG beside it:

  sweep.png / .svg, four panels:
   1. P99 TTFT against the load, one line per setting
   2. P99 TPOT against the load, one line per setting
   3. output throughput against the first swept flag's value, one line per load (and, when
      two flags are swept, per value of the second: colour the load, line style the value)
   4. the throughput-latency frontier: every point (output tok/s, P99 TPOT), the settings
      that are best for some latency budget joined by the frontier line, the objective
      drawn where there is one, and the recommended point ringed.

How to read it: pick your latency budget on panel 4's y axis (or the objective the sweep
was given); the frontier point below it furthest right is the most throughput that budget
buys, and its label names the flags. Panels 1 and 2 show how fast each setting's latency
rises with load (a wall in TTFT is queueing: the setting admits fewer requests than arrive),
and panel 3 shows where adding memory or sequences stops paying.

usage: python3 bench/plot_sweep.py DIR/sweep.json [--out PREFIX]
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_value(p):
    v = p["load"]
    return math.inf if v == "inf" else float(v)


def flag_value(s):
    """'4G' -> 4 * 2**30, '0.9' -> 0.9, '16k' -> 16000: a number for the x axis."""
    mult = {"k": 1e3, "m": 1e6, "g": 1e9, "K": 2**10, "M": 2**20, "G": 2**30}
    s = s.strip()
    for suf in ("GiB", "MiB", "KiB", "GB", "MB", "KB"):
        if s.endswith(suf):
            s = s[: -len(suf)] + suf[0].upper()
    try:
        return float(s[:-1]) * mult[s[-1]] if s and s[-1] in mult else float(s)
    except ValueError:
        return None


def throughput_lines(sw, pts, loads, kind):
    """Panel 3's lines: (label, [(flag value, output tok/s)] sorted, load index, second-flag
    index), one per load and, in a two-flag sweep, per value of the second flag, so that a line
    joins only points that differ in the first flag."""
    flag = sw["swept"][0]
    second = sw["swept"][1] if len(sw["swept"]) > 1 else None
    seconds = list(dict.fromkeys(p["flags"][second] for p in pts)) if second else [None]
    lines = []
    for li, lv in enumerate(loads):
        for si, sv in enumerate(seconds):
            ps = [p for p in pts if load_value(p) == lv and (second is None or p["flags"][second] == sv)]
            xy = sorted((flag_value(p["flags"][flag]), p["output_throughput"]) for p in ps
                        if flag_value(p["flags"][flag]) is not None)
            if not xy:
                continue
            lab = f"{'concurrency' if kind == 'concurrency' else 'rate'} {'inf' if math.isinf(lv) else f'{lv:g}'}"
            if second:
                lab += f", {second.lstrip('-')}={sv}"
            lines.append((lab, xy, li, si))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sweep_json")
    ap.add_argument("--out", help="output prefix (default: beside the JSON, sweep)")
    a = ap.parse_args()
    with open(a.sweep_json) as f:
        sw = json.load(f)
    prefix = a.out or os.path.join(os.path.dirname(os.path.abspath(a.sweep_json)), "sweep")
    pts = [p for p in sw["points"] if "start_error" not in p]
    failed = [p for p in sw["points"] if "start_error" in p]
    if not pts:
        sys.exit("plot_sweep: no point ran (every server failed to start)")
    kind = "concurrency" if sw["load_kind"] == "max_concurrency" else "request rate (req/s)"
    settings = list(dict.fromkeys(p["setting"] for p in sw["points"]))
    loads = sorted({load_value(p) for p in pts})
    finite = [x for x in loads if not math.isinf(x)]
    inf_x = (max(finite) * 2 if finite else 1.0)  # where "inf" sits on the load axis

    def lx(p):
        v = load_value(p)
        return inf_x if math.isinf(v) else v

    fig, ax = plt.subplots(2, 2, figsize=(13, 9.5))
    title = f"piston bench sweep: {sw['model']}, swept {', '.join(sw['swept'])}"
    wl = sw.get("workload", {})
    if wl:
        title += f" ({wl.get('num_prompts')} prompts, {wl.get('input_len')}+{wl.get('output_len')} tokens)"
    fig.suptitle(title)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    obj = sw.get("objective", {})
    for i, s in enumerate(settings):
        ps = sorted([p for p in pts if p["setting"] == s], key=lx)
        c = colors[i % len(colors)]
        if not ps:
            continue
        ax[0][0].plot([lx(p) for p in ps], [p["p99_ttft_ms"] for p in ps], "o-", color=c, label=s)
        ax[0][1].plot([lx(p) for p in ps], [p["p99_tpot_ms"] for p in ps], "o-", color=c, label=s)
    for k, (a_, key) in enumerate(((ax[0][0], "p99_ttft_ms"), (ax[0][1], "p99_tpot_ms"))):
        a_.set_xlabel(kind + (" ('inf' at the right)" if any(math.isinf(x) for x in loads) else ""))
        a_.set_ylabel("P99 " + ("TTFT" if k == 0 else "TPOT") + " (ms)")
        a_.set_title(("Time to first token" if k == 0 else "Time per output token") + " against load")
        if key in obj:
            a_.axhline(obj[key], color="red", ls="--", lw=1, label="objective")
        a_.grid(alpha=0.3)
        a_.legend(fontsize=8)
        if len(finite) > 1 and max(finite) / max(min(finite), 1e-9) > 20:
            a_.set_xscale("log")

    # 3: throughput against the first swept flag, one line per load and value of the second
    flag = sw["swept"][0]
    styles = ["-", "--", ":", "-."]
    for lab, xy, li, si in throughput_lines(sw, pts, loads, kind):
        ax[1][0].plot([x for x, _ in xy], [y for _, y in xy], "o" + styles[si % len(styles)],
                      color=colors[li % len(colors)], label=lab)
    ax[1][0].set_xlabel(flag)
    ax[1][0].set_ylabel("output tokens/s")
    ax[1][0].set_title(f"Throughput against {flag}")
    ax[1][0].grid(alpha=0.3)
    ax[1][0].legend(fontsize=8)
    vals = {flag_value(p["flags"][flag]): p["flags"][flag] for p in pts if flag_value(p["flags"][flag])}
    if vals and max(vals) / min(vals) > 20:
        ax[1][0].set_xscale("log")
    if vals:  # the values as the user wrote them (4G, not 4.29e9)
        ax[1][0].set_xticks(sorted(vals), [vals[v] for v in sorted(vals)])
        ax[1][0].minorticks_off()

    # 4: the frontier of (throughput up, latency down)
    a4 = ax[1][1]
    for i, s in enumerate(settings):
        ps = [p for p in pts if p["setting"] == s]
        if not ps:
            continue
        a4.scatter([p["output_throughput"] for p in ps], [p["p99_tpot_ms"] for p in ps],
                   color=colors[i % len(colors)], label=s, s=30)
    ordered = sorted(pts, key=lambda p: (p["p99_tpot_ms"], -p["output_throughput"]))
    front, best = [], -1.0
    for p in ordered:
        if p["output_throughput"] > best and p["failed"] == 0:
            front.append(p)
            best = p["output_throughput"]
    a4.plot([p["output_throughput"] for p in front], [p["p99_tpot_ms"] for p in front], "k-", lw=1, alpha=0.6,
            label="frontier", drawstyle="steps-post")
    for k, p in enumerate(front):  # labels alternate above and below, so neighbours do not overlap
        a4.annotate(f"{p['setting']} @{p['load']}", (p["output_throughput"], p["p99_tpot_ms"]), fontsize=7,
                    xytext=(4, 5 if k % 2 == 0 else -11), textcoords="offset points")
    rec = sw.get("recommendation")
    if rec:
        rp = rec["point"]
        a4.scatter([rp["output_throughput"]], [rp["p99_tpot_ms"]], s=220, facecolors="none", edgecolors="red",
                   linewidths=2, label="recommended", zorder=5)
    if "p99_tpot_ms" in obj:
        a4.axhline(obj["p99_tpot_ms"], color="red", ls="--", lw=1, label="objective")
    a4.set_xlabel("output tokens/s")
    a4.set_ylabel("P99 TPOT (ms)")
    a4.set_title("Throughput-latency frontier (lower right is better)")
    a4.grid(alpha=0.3)
    a4.legend(fontsize=8)
    if failed:
        fig.text(0.01, 0.01, "did not start: " + "; ".join(sorted({p["setting"] for p in failed})), fontsize=8,
                 color="darkred")
    fig.tight_layout(rect=(0, 0.02, 1, 0.96))
    for ext in ("png", "svg"):
        fig.savefig(f"{prefix}.{ext}", dpi=110)
    print(f"plots: {prefix}.png, {prefix}.svg")


if __name__ == "__main__":
    main()
