#!/usr/bin/env python3
"""Operations benchmarks of `phonetree run` (issue 9): real SIP on 127.0.0.1, release build, each
figure beside its baseline in the same run. Not a test: nothing asserts on these numbers.

Usage: bench/ops.py [--jobs 2000] [--calls 300] [--hold 10] > bench/OPS.md
       (bench/run.sh runs it with OPS=1 and appends bench/OPS.md to BENCHMARKS.md)
Needs: sipp (Debian sip-tester), a release build (`cargo build --release --bin phonetree`, or
PHONETREE_BIN=path). Python's standard library only. Ports: picked free on 127.0.0.1. Every
process is started with a `timeout` and stopped by its PID.

1. Origination rate. N outbound jobs (`POST /api/calls`: a flow that hangs up once answered,
   `until: answered`, one attempt) are queued for one moment `at`, with `outbound.rate` and
   `outbound.max_concurrent` out of the way, and dialled to a sipp UAS (`sipp -sn uas`).
   Measured from the database: jobs started per second (first to last attempt's start) and
   completed per second (first start to last end). Run with the call register on (the SQLite
   database records every call) and off (`register.enabled: false`: jobs still live in the
   database). Baseline: sipp as UAC placing the same number of calls to the same UAS as fast as
   it can — what the peer and loopback take.
2. Call-record write cost. M inbound calls from sipp (built-in UAC, RTP echoed back, held H s,
   `bench/engine/flows/bench.yaml`: a hold prompt in a gather that loops every 2 s, so each call
   writes a record and a timeline of a dozen entries) with the register on, then off, then on,
   then off (alternating rounds). Measured: phonetree's CPU (utime + stime of the process, all
   threads: the SQLite writer included) per call, and INVITE → 200 latency (sipp's response
   time, p50/p99). The write cost is on ÷ off − 1 (target ≤ 2 % of a call's CPU). With `perf`
   installed, every round is profiled (`perf record -g`; both settings, so perf's own cost is in
   both columns), and in the "on" rounds the direct cost is the share
   of samples with a register frame on their stack (the channel send, the writer task, the
   database layer, SQLite). On a busy machine the on/off difference of whole-process CPU is
   noisier than the profile (the "off" rounds alone spread by ±4 %).
"""

import argparse
import csv
import datetime
import glob
import http.client
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HZ = os.sysconf("SC_CLK_TCK")
ANSWER_FLOW = 'name: answer\nroutes: ["9999"]\nstart: bye\nnodes:\n  bye: { hangup: {} }\n'


def log(*a):
    print(*a, file=sys.stderr, flush=True)


TAKEN = set()


def free_port(span=1):
    """A port (and the `span - 1` after it: sipp's media port takes RTP, RTCP and more) free for
    UDP and TCP on 127.0.0.1, and not handed out before in this run."""
    for _ in range(500):
        p = random.randrange(20000, 29990, 4)
        ok = all(q not in TAKEN for q in range(p, p + span))
        for q in range(p, p + span):
            for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, k)
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            TAKEN.update(range(p, p + span))
            return p
    raise RuntimeError("no free port")


def cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def write_wav(path, seconds, kind):
    rate = 8000
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            if kind == "noise":
                v = int(random.gauss(0, 600))
            else:
                v = int(12000 * math.sin(2 * math.pi * 1000 * i / rate))
            frames += struct.pack("<h", max(-32768, min(32767, v)))
        w.writeframes(bytes(frames))


class Phonetree:
    """`phonetree run` in `work` (flows/, sound/ there), on free ports."""

    def __init__(self, binary, work, flows, env):
        self.sip = free_port()
        self.http = free_port()
        self.work = work
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("PHONETREE_") or k.startswith("SIP_"):
                del e[k]
        e.update(
            {
                "PHONETREE_LOG": "warn",
                "NO_COLOR": "1",
                # All load comes from one address (sipp on 127.0.0.1): no per-source limits.
                "PHONETREE_SIP_RATE_INVITE": "0",
                "PHONETREE_SIP_MAX_CALLS_PER_SOURCE": "0",
            }
        )
        e.update(env)
        self.logf = open(os.path.join(work, "phonetree.log"), "ab")
        self.proc = subprocess.Popen(
            [binary, "run", "--sip", f"127.0.0.1:{self.sip}", "--http", f"127.0.0.1:{self.http}",
             "--flows", flows, "--sound", os.path.join(work, "sound"),
             "--rtp-ports", "30000-39998"],
            cwd=work, env=e, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            preexec_fn=lambda: signal.alarm(900),
        )
        end = time.time() + 30
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"phonetree exited: see {work}/phonetree.log")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status in (200, 503):
                    c.close()
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("phonetree did not come up")

    def cpu(self):
        return cpu_s(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def sipp_uas(work, port, mport):
    return subprocess.Popen(
        ["timeout", "900", "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port),
         "-mi", "127.0.0.1", "-mp", str(mport), "-nostdin", "-max_socket", "10000"],
        cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def originate(binary, n, register_on):
    work = tempfile.mkdtemp(prefix="phonetree-ops-")
    os.makedirs(os.path.join(work, "flows"))
    os.makedirs(os.path.join(work, "sound"))
    with open(os.path.join(work, "flows", "answer.yaml"), "w") as f:
        f.write(ANSWER_FLOW)
    uas_port, uas_mp = free_port(), free_port(4)
    uas = sipp_uas(work, uas_port, uas_mp)
    try:
        pt = Phonetree(binary, work, "flows", {
            "PHONETREE_OUTBOUND_ALLOW": "sip:*@127.0.0.1:*",
            "PHONETREE_OUTBOUND_RATE": "10000",
            "PHONETREE_OUTBOUND_MAX_CONCURRENT": "2000",
            "PHONETREE_REGISTER_ENABLED": "true" if register_on else "false",
        })
    except Exception:
        stop(uas)
        raise
    try:
        lead = 3 + n / 300
        at = math.ceil(time.time() + lead)
        c = http.client.HTTPConnection("127.0.0.1", pt.http, timeout=10)
        for i in range(n):
            body = json.dumps({"to": f"sip:bench{i}@127.0.0.1:{uas_port}", "flow": "answer",
                               "until": "answered", "at": iso(at), "retry": {"max_attempts": 1}})
            c.request("POST", "/api/calls", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 201:
                raise RuntimeError(f"POST /api/calls: {r.status}")
        if time.time() > at:
            log(f"warning: queueing {n} jobs took past their time; the rate is still first→last attempt")
        while time.time() < at:
            time.sleep(0.05)
        cpu0 = pt.cpu()
        db = sqlite3.connect(f"file:{work}/data/phonetree.db?mode=ro", uri=True, timeout=10)
        end = time.time() + 60 + n / 20
        done = 0
        while time.time() < end:
            done = db.execute("SELECT count(*) FROM jobs WHERE state IN ('done','failed')").fetchone()[0]
            if done >= n:
                break
            time.sleep(0.2)
        cpu = pt.cpu() - cpu0
        rows = db.execute("SELECT started_ms, ended_ms, outcome FROM job_attempts").fetchall()
        db.close()
    finally:
        pt.stop()
        stop(uas)
    starts = sorted(r[0] for r in rows)
    ends = [r[1] for r in rows if r[1]]
    answered = sum(1 for r in rows if r[2] == "answered")
    span_start = max(starts[-1] - starts[0], 1) / 1000
    span_done = max(max(ends) - starts[0], 1) / 1000
    shutil.rmtree(work, ignore_errors=True)
    return {
        "jobs": n, "finished": done, "answered": answered,
        "started_per_s": (len(starts) - 1) / span_start,
        "done_per_s": len(ends) / span_done,
        "cpu_ms_per_call": 1000 * cpu / max(len(rows), 1),
    }


def sipp_baseline(n, rate):
    work = tempfile.mkdtemp(prefix="phonetree-ops-")
    uas_port, uas_mp = free_port(), free_port(4)
    uas = sipp_uas(work, uas_port, uas_mp)
    time.sleep(0.5)
    try:
        subprocess.run(
            ["timeout", "300", "sipp", f"127.0.0.1:{uas_port}", "-sn", "uac", "-i", "127.0.0.1",
             "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port(4)), "-m", str(n),
             "-r", str(rate), "-l", "2000", "-d", "0", "-nostdin", "-timeout", "240s",
             "-trace_stat", "-stf", f"{work}/stat.csv", "-fd", "1",
             "-trace_rtt", "-rtt_freq", "1"],
            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, check=False,
        )
        ok = last_stat(f"{work}/stat.csv").get("SuccessfulCall(C)", "?")
        # When each call's 200 came (`Date_ms` of sipp's response-time samples).
        at = []
        for f in glob.glob(f"{work}/*_rtt.csv"):
            for row in csv.reader(open(f), delimiter=";"):
                try:
                    at.append(float(row[0]))
                except (ValueError, IndexError):
                    pass
    finally:
        stop(uas)
        shutil.rmtree(work, ignore_errors=True)
    span = max(max(at) - min(at), 1) / 1000 if at else float("nan")
    return {"calls": n, "rate": rate, "ok": ok, "per_s": (len(at) - 1) / span}


def last_stat(path):
    try:
        rows = list(csv.DictReader(open(path), delimiter=";"))
        return rows[-1] if rows else {}
    except OSError:
        return {}


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def calls_round(binary, sound, calls, rate, hold, register_on):
    work = tempfile.mkdtemp(prefix="phonetree-ops-")
    os.symlink(sound, os.path.join(work, "sound"))
    pt = Phonetree(binary, work, os.path.join(ROOT, "bench/engine/flows"), {
        "PHONETREE_REGISTER_ENABLED": "true" if register_on else "false",
    })
    d = os.path.join(work, "sipp")
    os.makedirs(d)
    try:
        # One warm-up call: the prompt cache encodes the hold prompt once per codec.
        sipp_uac(d, pt.sip, 1, 1, 2, "warm")
        time.sleep(1)
        cpu0 = pt.cpu()
        # Profiled in both settings, so that perf's own sampling cost is in both columns.
        perf = start_perf(pt.proc.pid, work)
        t0 = time.time()
        sipp_uac(d, pt.sip, calls, rate, hold, "run")
        wall = time.time() - t0
        # The register writes the last records after the calls end: let it finish.
        time.sleep(2)
        cpu = pt.cpu() - cpu0
        share = stop_perf(perf) if register_on else stop_perf(perf) and None
    finally:
        pt.stop()
    ok = last_stat(f"{d}/run_stat.csv").get("SuccessfulCall(C)", "?")
    rtt = []
    for f in glob.glob(f"{d}/*_rtt.csv"):
        for row in csv.reader(open(f), delimiter=";"):
            if len(row) >= 3 and row[2] == "1":
                try:
                    rtt.append(float(row[1]))
                except ValueError:
                    pass
    recorded = None
    if register_on:
        db = sqlite3.connect(f"file:{work}/data/phonetree.db?mode=ro", uri=True, timeout=10)
        recorded = db.execute("SELECT count(*), (SELECT count(*) FROM call_events) FROM calls").fetchone()
        db.close()
    shutil.rmtree(work, ignore_errors=True)
    return {"ok": ok, "cpu_ms_per_call": 1000 * cpu / calls, "wall": wall, "perf_share": share,
            "setup_p50": pct(rtt, 0.5), "setup_p99": pct(rtt, 0.99), "n_rtt": len(rtt),
            "recorded": recorded}


# Stack frames that are the call register's writing: the channel send, the writer task, the
# database layer and SQLite itself (the recorder that builds the records runs either way).
REGISTER_FRAMES = ("phonetree::register::writer", "phonetree::register::Register::send",
                   "phonetree::db::", "rusqlite::", "sqlite3")


def start_perf(pid, work):
    """`perf record` on phonetree with call graphs, if perf is installed and allowed."""
    if not shutil.which("perf"):
        return None
    out = os.path.join(work, "perf.data")
    p = subprocess.Popen(["perf", "record", "-F", "997", "-g", "-p", str(pid), "-o", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (p, out)


def stop_perf(perf):
    """The share of phonetree's CPU samples with a register frame anywhere on their stack
    (inclusive, each sample counted once), or None without perf."""
    if perf is None:
        return None
    p, out = perf
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        return None
    try:
        text = subprocess.run(["perf", "script", "-i", out, "-F", "ip,sym"], capture_output=True,
                              text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    total = hit = 0
    for sample in text.split("\n\n"):
        if not sample.strip():
            continue
        total += 1
        if any(f in sample for f in REGISTER_FRAMES):
            hit += 1
    return (hit, total) if total else None


def sipp_uac(d, sip_port, n, rate, hold, name):
    subprocess.run(
        ["timeout", str(int(n / rate + hold + 120)), "sipp", f"127.0.0.1:{sip_port}", "-sn", "uac",
         "-s", "5000", "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1",
         "-mp", str(free_port(4)), "-rtp_echo", "-m", str(n), "-r", str(rate), "-l", str(n),
         "-d", str(hold * 1000), "-nostdin", "-max_retrans", "4",
         "-trace_stat", "-stf", f"{d}/{name}_stat.csv", "-fd", "1",
         "-trace_rtt", "-rtt_freq", "1"],
        cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        check=False,
    )
    if name == "warm":
        for f in glob.glob(f"{d}/*_rtt.csv"):
            os.remove(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument("--hold", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--base-rate", type=int, default=1000)
    ap.add_argument("--skip", default="", help="origination,records")
    a = ap.parse_args()
    binary = os.path.abspath(
        os.environ.get("PHONETREE_BIN") or os.path.join(ROOT, "target/release/phonetree"))
    if not shutil.which("sipp"):
        sys.exit("bench/ops.py: sipp is missing (Debian sip-tester)")
    if not os.path.exists(binary):
        sys.exit(f"bench/ops.py: no {binary} (cargo build --release --bin phonetree)")
    build = os.path.basename(os.path.dirname(binary))
    out = []
    out.append("## Operations (`bench/ops.py`)")
    out.append("")
    out.append(f"Measured on {datetime.date.today()}, {os.cpu_count()} cores, `phonetree run` {build} build, "
               "sipp 3.6 on 127.0.0.1, SQLite database; see the script's doc for the method.")
    out.append("")
    out.append("| benchmark | measured | baseline | ratio | target |")
    out.append("|---|---|---|---|---|")
    detail = []
    if "origination" not in a.skip:
        log(f"== origination: {a.jobs} jobs, register on")
        on = originate(binary, a.jobs, True)
        log(on)
        log(f"== origination: {a.jobs} jobs, register off")
        off = originate(binary, a.jobs, False)
        log(off)
        log(f"== sipp UAC -> UAS, {a.jobs} calls")
        base = sipp_baseline(a.jobs, a.base_rate)
        log(base)
        out.append(f"| origination: outbound calls completed / s (first INVITE → last call ended), {a.jobs} jobs due at once, database and register on (baseline: sipp UAC at `-r {a.base_rate}` → the same UAS, 200s / s) | {on['done_per_s']:.0f} /s | {base['per_s']:.0f} /s | {on['done_per_s'] / base['per_s']:.2f} | ≥ 100 /s |")
        out.append(f"| origination: same, register off (jobs still in the database) | {off['done_per_s']:.0f} /s | {on['done_per_s']:.0f} /s (register on) | {off['done_per_s'] / on['done_per_s']:.2f} | |")
        detail.append(f"- Origination, register on: {on['finished']}/{on['jobs']} jobs finished, {on['answered']} answered; "
                      f"INVITEs started at {on['started_per_s']:.0f} /s (first to last attempt's start); phonetree CPU "
                      f"{on['cpu_ms_per_call']:.2f} ms per outbound call (claim, dial, flow, BYE, job and attempt rows, call record). "
                      f"Register off: {off['finished']} finished, {off['answered']} answered, started at {off['started_per_s']:.0f} /s, "
                      f"{off['cpu_ms_per_call']:.2f} ms CPU per call. "
                      f"sipp baseline: {base['ok']} of {base['calls']} calls successful.")
    if "records" not in a.skip:
        sound = tempfile.mkdtemp(prefix="phonetree-ops-sound-")
        write_wav(os.path.join(sound, "hold.wav"), 120, "noise")
        write_wav(os.path.join(sound, "response.wav"), 1, "tone")
        rounds = {True: [], False: []}
        for r in range(a.rounds):
            for on in (True, False):
                log(f"== records round {r + 1}: {a.calls} calls of {a.hold} s, register {'on' if on else 'off'}")
                res = calls_round(binary, sound, a.calls, a.rate, a.hold, on)
                log(res)
                rounds[on].append(res)
        shutil.rmtree(sound, ignore_errors=True)
        mean = lambda rs, k: sum(x[k] for x in rs) / len(rs)
        c_on, c_off = mean(rounds[True], "cpu_ms_per_call"), mean(rounds[False], "cpu_ms_per_call")
        out.append(f"| call-record write cost: phonetree CPU per {a.hold} s call, register on (baseline: off) | {c_on:.2f} ms | {c_off:.2f} ms | {c_on / c_off:.3f} (+{100 * (c_on / c_off - 1):.1f} %) | ≤ +2 % |")
        for q in ("setup_p50", "setup_p99"):
            m, b = mean(rounds[True], q), mean(rounds[False], q)
            ratio = f"{m / b:.2f}" if b else "—"
            out.append(f"| call-record latency: INVITE → 200 {q[-3:]}, register on (baseline: off; sipp's ms resolution) | {m:.2f} ms | {b:.2f} ms | {ratio} | |")
        shares = [x["perf_share"] for x in rounds[True] if x.get("perf_share")]
        if shares:
            hit, total = sum(h for h, _ in shares), sum(t for _, t in shares)
            direct = c_on * hit / total
            out.append(f"| call-record write cost, direct: register frames in phonetree's CPU samples (perf, register on) | {direct:.2f} ms | {c_on:.2f} ms | {hit / total:.3f} ({100 * hit / total:.1f} %) | ≤ 2 % |")
        per = "; ".join(
            f"{'on' if on else 'off'} round {i + 1}: {x['cpu_ms_per_call']:.2f} ms CPU/call, {x['ok']} ok, setup p99 {x['setup_p99']:.2f} ms"
            + (f", {x['recorded'][0]} records / {x['recorded'][1]} timeline entries" if x["recorded"] else "")
            for on in (True, False) for i, x in enumerate(rounds[on]))
        detail.append(f"- Call records: {a.calls} calls per round at {a.rate} calls/s, each held {a.hold} s with RTP both ways "
                      f"(sipp `-rtp_echo`), rounds alternating on/off. {per}.")
    print("\n".join(out))
    print()
    print("\n".join(detail))


if __name__ == "__main__":
    main()
