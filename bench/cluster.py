#!/usr/bin/env python3
"""Scale-out benchmark (issue 12): 1, 2 and 3 `phonetree run` nodes (release build) behind
Kamailio (deploy/kamailio/kamailio.cfg, unchanged, defines on the command line), sipp as the
caller through Kamailio (tests/interop/sipp/uac_cluster.xml: INVITE, ACK, hold, BYE).

For each node count:
  - throughput: 3,000 calls offered at 400/s with no hold (INVITE/200/ACK/BYE/200): calls/s
    achieved (successful calls / wall time), failed calls;
  - concurrency: 900 calls at 60/s held 10 s (about 600 up at once, every node sending its
    prompts as RTP): the peak sipp saw, failed calls;
  - CPU per call of every node and of Kamailio (all its processes), from /proc utime+stime
    around each run, in milliseconds per call.
Then, with 3 nodes, failover: 50 calls/s held 2 s, one node killed (-9) 4 s in: time until
Kamailio's probe (1 s interval) marks it out, calls lost, calls that succeeded.

Everything on loopback, free ports, every process killed by PID at the end. The nodes, Kamailio
and sipp share this machine's cores, so totals are the machine's, and per-call CPU is the
figure that carries over. Not a test: nothing asserts. Prints Markdown (bench/CLUSTER.md).
Usage: bench/cluster.sh (builds the release binary first).
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(os.environ.get("PHONETREE_BIN", ROOT / "target/release/phonetree"))
# CLUSTER_QUICK=1: a tenth of the load, to check the script itself (figures meaningless).
QUICK = os.environ.get("CLUSTER_QUICK") == "1"
CFG = ROOT / "deploy/kamailio/kamailio.cfg"
SCENARIO = ROOT / "tests/interop/sipp/uac_cluster.xml"
TICK = os.sysconf("SC_CLK_TCK")
DEMO_FLOWS = ["characters", "main-menu", "agent", "speech-menu"]
GIVEN = set()


def free_port():
    for _ in range(200):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            t.close()
            u.close()
        if port not in GIVEN:
            GIVEN.add(port)
            return port
    raise SystemExit("no free port")


def group_cpu_ms(pgid):
    """utime + stime of every process in process group `pgid`, in ms."""
    total = 0
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total * 1000 / TICK


def spawn(cmd, log, env=None):
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                            start_new_session=True)


def kill(proc, sig=signal.SIGKILL):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class Node:
    def __init__(self, work, name, rtp_base):
        self.name = name
        self.sip = free_port()
        self.http = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHONETREE_")}
        env.update({
            "PHONETREE_NODE_ID": name,
            "PHONETREE_DATA_DIR": str(work / f"{name}-data"),
            "PHONETREE_SIP_ALLOW": "127.0.0.1",
            "PHONETREE_MAX_CALLS": "1000",
            "PHONETREE_LOG": "warn",
        })
        cmd = [str(BIN), "run", "--sip", f"127.0.0.1:{self.sip}",
               "--http", f"127.0.0.1:{self.http}", "--flows", str(work / "flows"),
               "--sound", str(ROOT / "sound"), "--rtp-ports", f"{rtp_base}-{rtp_base + 1999}"]
        self.log = open(work / f"{name}.log", "w")
        self.proc = spawn(cmd, self.log, env)
        end = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"{name} did not start; see {work / (name + '.log')}")
            time.sleep(0.1)

    def cpu_ms(self):
        return group_cpu_ms(self.proc.pid)


class Kamailio:
    def __init__(self, work, nodes):
        self.port = free_port()
        self.ctl = work / f"kamailio-{len(nodes)}.ctl"
        lst = work / f"dispatcher-{len(nodes)}.list"
        lst.write_text("".join(f"1 sip:127.0.0.1:{n.sip} 0 0\n" for n in nodes))
        run = work / f"kamailio-run-{len(nodes)}"
        run.mkdir(exist_ok=True)
        defines = [f"LISTEN=udp:127.0.0.1:{self.port}", f'DS_LIST="{lst}"',
                   f'CTL_SOCK="unix:{self.ctl}"', "DS_PING_INTERVAL=1", "FR_TIMER=1500",
                   "FR_INV_TIMER=5000", "WORKERS=4"]
        # Shared memory as docs/scale-out.md says (the default 64 MB runs out at 400 calls/s).
        cmd = ["kamailio", "-f", str(CFG), "-DD", "-E", "-Y", str(run), "-P", str(run / "pid"),
               "-m", os.environ.get("KAMAILIO_SHM_MB", "256")]
        for d in defines:
            cmd += ["-A", d]
        self.log = open(work / f"kamailio-{len(nodes)}.log", "w")
        self.proc = spawn(cmd, self.log)
        self.nodes = nodes
        end = time.monotonic() + 15
        while not all(self.active(n) for n in nodes):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit("kamailio did not take the nodes in")
            time.sleep(0.2)

    def states(self):
        out = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl}", "dispatcher.list"],
                             capture_output=True, text=True).stdout
        states, uri = {}, None
        for line in map(str.strip, out.splitlines()):
            if line.startswith("URI:"):
                uri = line[4:].strip()
            elif line.startswith("FLAGS:") and uri:
                states[uri] = line[6:].strip()
                uri = None
        return states

    def active(self, node):
        return self.states().get(f"sip:127.0.0.1:{node.sip}", "").startswith("A")

    def cpu_ms(self):
        return group_cpu_ms(self.proc.pid)


def sipp(work, target, name, calls, rate, hold_ms, wait=True):
    csv = work / f"{name}.csv"
    cmd = ["sipp", target, "-sf", str(SCENARIO), "-s", "5000", "-i", "127.0.0.1",
           "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port()),
           "-m", str(calls), "-r", str(rate), "-l", "2000", "-d", str(hold_ms),
           "-timeout", "120s", "-nostdin", "-trace_stat", "-fd", "1", "-stf", str(csv)]
    log = open(work / f"{name}.out", "w")
    proc = spawn(cmd, log)
    if wait:
        proc.wait(timeout=180)
    return proc, csv


def sipp_stats(csv):
    lines = [l for l in csv.read_text().splitlines() if l.strip()]
    head = lines[0].split(";")
    rows = [l.split(";") for l in lines[1:]]
    col = lambda name: head.index(name)
    ok = int(rows[-1][col("SuccessfulCall(C)")])
    failed = int(rows[-1][col("FailedCall(C)")])
    peak = max(int(r[col("CurrentCall")]) for r in rows)
    return ok, failed, peak


def measured(work, kam, nodes, name, calls, rate, hold_ms):
    before = [n.cpu_ms() for n in nodes], kam.cpu_ms()
    start = time.monotonic()
    _, csv = sipp(work, f"127.0.0.1:{kam.port}", name, calls, rate, hold_ms)
    wall = time.monotonic() - start
    time.sleep(0.5)  # the last BYEs' work
    node_ms = [n.cpu_ms() - b for n, b in zip(nodes, before[0])]
    kam_ms = kam.cpu_ms() - before[1]
    ok, failed, peak = sipp_stats(csv)
    return {"ok": ok, "failed": failed, "peak": peak, "wall": wall,
            "node_ms_per_call": sum(node_ms) / max(ok, 1),
            "kam_ms_per_call": kam_ms / max(ok, 1), "spread": node_ms}


def main():
    for tool in ("kamailio", "kamcmd", "sipp"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is needed (bash .ci/install-deps.sh)")
    if not BIN.exists():
        raise SystemExit("build first: cargo build --release --bin phonetree")
    work = pathlib.Path(tempfile.mkdtemp(prefix="phonetree-cluster-bench-"))
    (work / "flows").mkdir()
    for f in DEMO_FLOWS:
        shutil.copy(ROOT / "flows" / f"{f}.yaml", work / "flows")
    procs = []
    rows = []
    failover = None
    try:
        for count in (1, 2, 3):
            nodes = [Node(work, f"n{count}-{i + 1}", 20000 + 2000 * i) for i in range(count)]
            procs += [n.proc for n in nodes]
            kam = Kamailio(work, nodes)
            procs.append(kam.proc)
            if QUICK:
                tput = measured(work, kam, nodes, f"tput-{count}", 300, 100, 0)
                conc = measured(work, kam, nodes, f"conc-{count}", 90, 30, 3000)
            else:
                tput = measured(work, kam, nodes, f"tput-{count}", 3000, 400, 0)
                conc = measured(work, kam, nodes, f"conc-{count}", 900, 60, 10000)
            rows.append((count, tput, conc))
            print(f"{count} node(s): {tput['ok'] / tput['wall']:.0f} calls/s, peak {conc['peak']}",
                  file=sys.stderr)
            if count == 3:
                proc, csv = sipp(work, f"127.0.0.1:{kam.port}", "failover", 600, 50, 2000,
                                 wait=False)
                time.sleep(4)
                victim = nodes[0]
                killed = time.monotonic()
                kill(victim.proc)
                while kam.active(victim) and time.monotonic() - killed < 15:
                    time.sleep(0.02)
                marked = time.monotonic() - killed
                proc.wait(timeout=180)
                ok, failed, _ = sipp_stats(csv)
                failover = (marked, ok, failed)
            for p in [kam.proc] + [n.proc for n in nodes]:
                kill(p, signal.SIGTERM if p is not kam.proc else signal.SIGKILL)
    finally:
        for p in procs:
            kill(p)
    print("## Scale-out behind Kamailio (`bench/cluster.py`)")
    print()
    print(f"Measured on {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores shared "
          "by every process below (the nodes, Kamailio 5.6 with `deploy/kamailio/kamailio.cfg`, "
          "sipp), release build, loopback. Totals are this machine's; the per-call CPU columns "
          "are what carries over to a node or a proxy of its own.")
    print()
    print("| nodes | calls/s (3,000 offered at 400/s, no hold) | failed | node CPU ms/call | "
          "Kamailio CPU ms/call | concurrent calls (900 at 60/s, 10 s hold) | failed | "
          "node CPU ms/call (10 s of RTP) | Kamailio CPU ms/call |")
    print("|---|---|---|---|---|---|---|---|---|")
    for count, t, c in rows:
        print(f"| {count} | {t['ok'] / t['wall']:.0f} | {t['failed']} | "
              f"{t['node_ms_per_call']:.2f} | {t['kam_ms_per_call']:.2f} | {c['peak']} | "
              f"{c['failed']} | {c['node_ms_per_call']:.1f} | {c['kam_ms_per_call']:.2f} |")
    if failover:
        marked, ok, failed = failover
        print()
        print(f"Failover, 3 nodes, 50 calls/s held 2 s, one node killed (`kill -9`) 4 s in: "
              f"Kamailio's probe (1 s interval) marked it out {marked:.2f} s after the kill; "
              f"{failed} calls lost (those up on it), {ok} of 600 succeeded; INVITEs that met "
              "the dead node before that were retried on another one after `FR_TIMER` (1.5 s).")
    if not os.environ.get("KEEP_WORK"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
