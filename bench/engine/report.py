#!/usr/bin/env python3
"""Turns bench/engine/run.sh's results.jsonl into the markdown section bench/ENGINE.md."""
import json
import os
import platform
import re
import subprocess
import sys
import time


def f(v, unit="", nd=2):
    if v is None or v == "?":
        return "n/a"
    if isinstance(v, float):
        v = round(v, nd)
    return "%s%s" % (v, unit)


def ratio(a, b):
    try:
        return "%.2f×" % (float(a) / float(b))
    except (TypeError, ValueError, ZeroDivisionError):
        return "n/a"


def sipp_version():
    try:
        out = subprocess.run(["sipp", "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    m = re.search(r"v(\d+(?:\.\d+)+)", out)
    return m.group(1) if m else "?"


def setup(r, k):
    v = r.get("setup_cap_%s_ms" % k)
    return v if v is not None else r.get("setup_%s_ms" % k)


def main():
    rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    by = {r["name"]: r for r in rs}
    base, pb = by.get("baseline", {}), by.get("phonetree_base", {})
    levels = sorted((r for r in rs if r["name"].startswith("phonetree_") and r["name"][10:].isdigit()),
                    key=lambda r: r["calls"])
    clean = [r for r in levels if r.get("failed") == 0 and r.get("late_over_thresh") == 0
             and r.get("packets", 0) > 0]
    best = max((r["calls"] for r in clean), default=None)
    ok999 = max((r["calls"] for r in levels if r.get("failed") == 0 and (r.get("late_p999_ms") or 99) <= 5), default=None)
    top = levels[-1] if levels else {}
    silent = sorted((r for r in rs if r["name"].startswith("silent_")), key=lambda r: r["calls"])
    s_clean = max((r["calls"] for r in silent if r.get("failed") == 0 and r.get("late_over_thresh") == 0
                   and r.get("packets", 0) > 0), default=None)
    s_999 = max((r["calls"] for r in silent if r.get("failed") == 0 and (r.get("late_p999_ms") or 99) <= 5), default=None)
    pc, op = by.get("codec_pcmu", {}), by.get("codec_opus", {})
    cpu_model = ""
    try:
        cpu_model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    n = pb.get("calls", "?")
    o = []
    o.append("## SIP/RTP engine (`bench/engine/run.sh`)")
    o.append("")
    o.append("Measured on %s, %d cores (%s), %s, `phonetree run` %s build, all traffic on 127.0.0.1. "
             "Callers: sipp %s (UAC scenario `bench/engine/uac.xml`, RTP from a pcap, RFC 4733 key `1` every 10 s). "
             "Baseline: `bench/engine/baseline_ivr.py`, a minimal pjsua2 (Python, pjsua2-python wheel) IVR with the same "
             "behaviour as `bench/engine/flows/bench.yaml` (hold prompt, key → response tone). "
             "The pjsua2 wheel refuses more than 4 concurrent calls, so the side-by-side figures are at %s calls for both; "
             "phonetree alone is then ramped up." % (
                 time.strftime("%Y-%m-%d", time.gmtime()), os.cpu_count() or 0, cpu_model or platform.machine(),
                 platform.system(), os.environ.get("BENCH_BUILD", "release"), sipp_version(),
                 n))
    o.append("")
    o.append("| figure | phonetree | baseline (pjsua2) | ratio | target |")
    o.append("|---|---|---|---|---|")
    o.append("| concurrent G.711 calls held, no failed call, no packet > 5 ms late | %s (of levels %s) | 4 (wheel cap; %s) | %s | ≥ 2,000 |" % (
        f(best), ", ".join(str(r["calls"]) for r in levels) or "none",
        "no packet > 5 ms late" if base.get("late_over_thresh") == 0 else "%s packets > 5 ms late" % f(base.get("late_over_thresh")),
        ratio(best, 4)))
    o.append("| same, but p99.9 of lateness ≤ 5 ms (a few late packets allowed) | %s | 4 | %s | |" % (f(ok999), ratio(ok999, 4)))
    if silent:
        o.append("| same, bulk callers silent (only phonetree sends): no packet > 5 ms / p99.9 ≤ 5 ms | %s / %s (of levels %s) | n/a | | ≥ 2,000 |" % (
            f(s_clean), f(s_999), ", ".join(str(r["calls"]) for r in silent)))
    o.append("| send lateness, max / p99.9 at %s calls | %s / %s ms | %s / %s ms | %s | ≤ 5 ms |" % (
        n, f(pb.get("late_max_ms")), f(pb.get("late_p999_ms")), f(base.get("late_max_ms")), f(base.get("late_p999_ms")),
        ratio(pb.get("late_max_ms"), base.get("late_max_ms"))))
    o.append("| CPU per call, %% of a core, at %s calls | %s %% | %s %% | %s | ≤ 0.02 %% |" % (
        n, f(pb.get("cpu_pct_core_per_call"), nd=4), f(base.get("cpu_pct_core_per_call"), nd=4),
        ratio(pb.get("cpu_pct_core_per_call"), base.get("cpu_pct_core_per_call"))))
    o.append("| CPU per call, %% of a core, at %s calls | %s %% | n/a (cap 4) | | ≤ 0.02 %% |" % (
        top.get("calls", "?"), f(top.get("cpu_pct_core_per_call"), nd=4)))
    fs, fr = by.get("floor_send", {}), by.get("floor_recv", {})
    s_top = silent[-1] if silent else {}
    if fs and fr:
        o.append("| CPU per call vs the kernel floor (same traffic, no engine: `floor.c`), callers sending audio / silent, at %s calls | "
                 "%s / %s (%s %% vs %s %%, %s %% vs %s %%) | | | |" % (
                     fr.get("floor_calls"),
                     ratio(top.get("cpu_pct_core_per_call"), fr.get("floor_cpu_pct_core_per_call")),
                     ratio(s_top.get("cpu_pct_core_per_call"), fs.get("floor_cpu_pct_core_per_call")),
                     f(top.get("cpu_pct_core_per_call"), nd=4), f(fr.get("floor_cpu_pct_core_per_call"), nd=4),
                     f(s_top.get("cpu_pct_core_per_call"), nd=4), f(fs.get("floor_cpu_pct_core_per_call"), nd=4)))
    always = {r["calls"]: r for r in rs if r["name"].startswith("always_")}
    for r in levels:
        a = always.get(r["calls"])
        if a:
            o.append("| CPU per call, in-band DTMF `auto` ÷ `always` (callers sending audio with RFC 4733), at %s calls | "
                     "%s (%s %% vs %s %%) | | | |" % (
                         r["calls"], ratio(r.get("cpu_pct_core_per_call"), a.get("cpu_pct_core_per_call")),
                         f(r.get("cpu_pct_core_per_call"), nd=4), f(a.get("cpu_pct_core_per_call"), nd=4)))
    o.append("| RSS per call at %s calls | %s KiB | %s KiB | %s | |" % (
        n, f(pb.get("rss_per_call_kb")), f(base.get("rss_per_call_kb")),
        ratio(pb.get("rss_per_call_kb"), base.get("rss_per_call_kb"))))
    o.append("| RSS per call at %s calls | %s KiB | n/a | | |" % (top.get("calls", "?"), f(top.get("rss_per_call_kb"))))
    o.append("| INVITE → 200 OK p99 at %s calls | %s ms | %s ms | %s | ≤ 5 ms |" % (
        n, f(setup(pb, "p99")), f(setup(base, "p99")), ratio(setup(pb, "p99"), setup(base, "p99"))))
    o.append("| INVITE → 200 OK p99 at %s calls (%s calls/s) | %s ms | n/a | | ≤ 5 ms |" % (
        top.get("calls", "?"), os.environ.get("RATE", "100"), f(setup(top, "p99"))))
    o.append("| DTMF first packet → response first packet p99 at %s calls | %s ms (n=%s) | %s ms (n=%s) | %s | ≤ 21 ms |" % (
        n, f(pb.get("dtmf_p99_ms")), f(pb.get("dtmf_n")), f(base.get("dtmf_p99_ms")), f(base.get("dtmf_n")),
        ratio(pb.get("dtmf_p99_ms"), base.get("dtmf_p99_ms"))))
    o.append("| DTMF → response p99 at %s calls | %s ms (n=%s) | n/a | | ≤ 21 ms |" % (
        top.get("calls", "?"), f(top.get("dtmf_p99_ms")), f(top.get("dtmf_n"))))
    o.append("| Opus ÷ G.711 CPU per call at %s calls | %s (%s %% vs %s %%) | n/a (wheel has no Opus) | | ≤ 2× |" % (
        pc.get("calls", "?"), ratio(op.get("cpu_pct_core_per_call"), pc.get("cpu_pct_core_per_call")),
        f(op.get("cpu_pct_core_per_call"), nd=4), f(pc.get("cpu_pct_core_per_call"), nd=4)))
    o.append("")
    o.append("Per level (phonetree, G.711 with keys; lateness over the captured first calls):")
    o.append("")
    o.append("| calls | ok / failed (sipp) | up in window | CPU % core/call | RSS KiB/call | late max / p99.9 ms | packets > 5 ms | INVITE→200 p50 / p99 ms | DTMF→response p50 / p99 ms (n) | machine busy | load avg | machine wake-up max ms (cyclictest) |")
    o.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in [base, pb] + levels + sorted(always.values(), key=lambda r: r["calls"]) + silent + [pc, op]:
        if not r:
            continue
        label = {"baseline": "%s (pjsua2)" % r["calls"], "phonetree_base": "%s" % r["calls"],
                 "codec_pcmu": "%s G.711, no keys" % r["calls"], "silent_%s" % r["calls"]: "%s, bulk callers silent" % r["calls"], "codec_opus": "%s Opus, no keys" % r["calls"],
                 "always_%s" % r["calls"]: "%s, rtp.inband_dtmf: always" % r["calls"]}.get(r["name"], str(r["calls"]))
        o.append("| %s | %s / %s | %s | %s | %s | %s / %s | %s of %s | %s / %s | %s / %s (%s) | %s %% | %s | %s |" % (
            label, r.get("ok"), r.get("failed"), r.get("up_at_window"), f(r.get("cpu_pct_core_per_call"), nd=4),
            f(r.get("rss_per_call_kb")), f(r.get("late_max_ms")), f(r.get("late_p999_ms")),
            f(r.get("late_over_thresh")), f(r.get("packets")), f(setup(r, "p50")), f(setup(r, "p99")),
            f(r.get("dtmf_p50_ms")), f(r.get("dtmf_p99_ms")), f(r.get("dtmf_n")), f(r.get("machine_busy_pct")), f(r.get("loadavg")),
            f(r.get("wakeup_max_ms"))))
    bi, pi = by.get("baseline_idle", {}), by.get("phonetree_idle", {})
    o.append("")
    o.append("Idle cost with no call: phonetree %s %% of a core, pjsua2 baseline %s %% (included in the per-call CPU above)." % (
        f(100 * float(pi.get("cpu_s_per_s", 0)), nd=3), f(100 * float(bi.get("cpu_s_per_s", 0)), nd=3)))
    print("\n".join(o))
    o = []
    sat = [r["calls"] for r in levels if (r.get("machine_busy_pct") or 0) >= 95]
    o.append("")
    o.append("Reading these numbers:")
    o.append("- The callers run on the same %d cores. %s" % (
        os.cpu_count() or 0,
        ("From %s calls on the machine is saturated (≥ 95 %% busy during the window: phonetree, both sipp "
         "processes and whatever else runs), so lateness there measures CPU starvation of the whole box, not "
         "phonetree's pacer alone; the CPU per call there is what phonetree got, not what it wanted." % min(sat))
        if sat else ("The machine was not saturated (< 95 % busy) at any level."
                     if levels and all("machine_busy_pct" in r for r in levels) else "")))
    shares = [r.get("sys_share") for r in levels if r.get("sys_share") is not None]
    if shares:
        o.append("- %d–%d %% of phonetree's CPU is kernel time (one `sendto` and one `recvfrom` per packet on "
                 "loopback, where the sender also pays the receiver's delivery)." % (
                     round(100 * min(shares)), round(100 * max(shares))))
    if fs and fr:
        o.append("- The kernel floor (`bench/engine/floor.c`): a C thread that only sends one 172-byte packet per call every "
                 "20 ms to a peer thread on loopback costs %s %% of a core per call (%s %% when it also reads the peer's "
                 "stream): on this machine that is what any engine pays before doing anything, and the 0.02 %% target is "
                 "below it." % (f(fs.get("floor_cpu_pct_core_per_call"), nd=4), f(fr.get("floor_cpu_pct_core_per_call"), nd=4)))
        raw = fs.get("floor_raw_sockets")
        cs, cr = by.get("floor_send_clean", {}), by.get("floor_recv_clean", {})
        if raw and cs and cr:
            o.append("- The floor runs beside %s raw UDP sockets that are never read, as many as sipp's pcap player holds "
                     "open during each level (one per measured call): Linux gives each of them a clone of every datagram "
                     "sent to 127.0.0.1, and on loopback the sender pays for it, so phonetree pays it for every packet it "
                     "sends while the bench runs. Without them the floor is %s %% (%s %% with `--recv`): the bench's own "
                     "tax on every packet is the difference." % (
                         raw, f(cs.get("floor_cpu_pct_core_per_call"), nd=4), f(cr.get("floor_cpu_pct_core_per_call"), nd=4)))
    wk = [r for r in levels + silent if r.get("wakeup_max_ms") is not None and r.get("late_max_ms") is not None]
    if wk:
        within = [r for r in wk if r["late_max_ms"] <= r["wakeup_max_ms"] + 1]
        o.append("- The last column is the worst wake-up of a real-time `cyclictest` thread during the same window: "
                 "the VM's own pauses, which no program on it can beat. At %s the latest packet was within 1 ms of it "
                 "(the whole machine stalled); elsewhere the excess is phonetree's." % (
                     ", ".join("%s calls%s" % (r["calls"], " (silent)" if r["name"].startswith("silent") else "")
                               for r in within) or "no level"))
    o.append("- Not measured: lateness of the bulk (rtp_stream) calls — only the pcap-played calls are "
             "captured; the baseline above 4 calls (wheel cap) and with Opus (the wheel has none); in-band "
             "and SIP INFO DTMF.")
    print("\n".join(o))
    with open(os.path.join(os.path.dirname(__file__), "METHOD.md")) as m:
        print()
        print(m.read().rstrip())


if __name__ == "__main__":
    main()
