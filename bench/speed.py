#!/usr/bin/env python3
"""Issue 15's table in one run: how far recording and replay are from native speed, and why.

For each program (`ls -la /usr/bin`, `cat` of a 1 MB file, `python3 -c pass`, crossbeam-channel's
`golang` and `array` test binaries from the third-party suite, one libtest test of
examples/tests/twenty.rs run `--exact`): the median native wall time of N runs, the medians of N
recordings and of one `replay -a` of each as ratios to native, ptrace stops per millisecond of
native time, and the three stop kinds that took the most time (from the trace's `stats`,
which the recorder writes; `info` shows the same table). Each replay must reproduce its
recording (stdout, stderr, exit status): the `same` column. Then the full stop breakdown and
start-up of golang and of the libtest test (their median recordings' `info`), and the runs per
second of `record --chaos` (a new seed each run) on that one-test binary against native runs.

    python3 bench/speed.py               # medians of 3
    python3 bench/speed.py --runs 5
    python3 bench/speed.py --only ls,cat # a subset (names as in the first column)
    python3 bench/speed.py --chaos-runs 20

A benchmark, not a test: it never fails on slowness (DESIGN.md 11, 12). Uses the release build
(built at the start) and the third-party suite under target/thirdparty/ (fetched and built by
`tests --bin thirdparty` on first use). Python 3 standard library only.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def build():
    """Build the tool, the examples' libtest binary and the suite lister; return the tool's path,
    the libtest binary and the third-party binaries by name."""
    cmd = ["cargo", "build", "--release", "--message-format=json-render-diagnostics",
           "-p", "cargo-chaos", "-p", "examples", "--test", "twenty", "-p", "tests", "--bin", "thirdparty"]
    log("building: " + " ".join(cmd))
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=False)
    if out.returncode != 0:
        sys.exit("speed: the release build failed")
    exes = {}
    for line in out.stdout.decode().splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes[msg["target"]["name"]] = msg["executable"]
    crt = os.path.join(target_dir(), "release", "cargo-record-test")
    log("preparing the third-party suite")
    out = subprocess.run([os.path.join(target_dir(), "release", "thirdparty")], cwd=ROOT,
                         stdout=subprocess.PIPE, check=False)
    if out.returncode != 0:
        sys.exit("speed: preparing the third-party suite failed")
    suite = {}
    for line in out.stdout.decode().splitlines():
        name, _tier, _why, cwd, exe = line.split("\t")
        suite[name] = (cwd, exe)
    return crt, exes["twenty"], suite


def run(cmd, cwd, timeout=None):
    """Run cmd in its own process group: (seconds, exit code, stdout, stderr); code None when
    it was killed at the time limit (--timeout)."""
    timeout = timeout or TIMEOUT
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        code = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        code = None
    return time.monotonic() - start, code, out, err


def read_stats(trace):
    stats = {}
    try:
        with open(os.path.join(trace, "stats")) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                if v.isdigit():
                    stats[k] = int(v)
    except OSError:
        pass
    return stats


def add_stat(trace, key, value):
    """Add a counter to a trace's stats (info then shows stops per ms of native time)."""
    try:
        with open(os.path.join(trace, "stats"), "a") as f:
            f.write("%s %d\n" % (key, value))
    except OSError:
        pass


def top_kinds(stats, n=3):
    kinds = [(k[len("ns."):], v) for k, v in stats.items()
             if k.startswith("ns.") and k != "ns.running"]
    kinds.sort(key=lambda kv: -kv[1])
    return ", ".join("%s %d (%.0f ms)" % (k, stats.get("stops." + k, 0), v / 1e6)
                     for k, v in kinds[:n])


def bench(crt, name, cmd, cwd, runs, tmp):
    natives = []
    for _ in range(runs):
        t, code, _, _ = run(cmd, cwd)
        natives.append(t if code is not None else float("nan"))
    native = statistics.median(natives)
    recs = []  # (record s, replay s, stats, trace, same)
    notes = set()
    for i in range(runs):
        trace = os.path.join(tmp, "%s-%d.trace" % (name, i))
        tr, rcode, rout, rerr = run([crt, "record", "--output", trace, "--"] + cmd, cwd)
        if rcode is None:
            notes.add("record killed after %d s" % TIMEOUT)
            continue
        tp, pcode, pout, perr = run([crt, "replay", "-a", trace], cwd)
        same = pcode == rcode and pout == rout and perr == rerr
        if not same:
            notes.add("replay differs (exit %s vs %s)" % (pcode, rcode))
        add_stat(trace, "native_ns", int(native * 1e9))
        recs.append((tr, tp, read_stats(trace), trace, same))
    if not recs:
        return {"name": name, "native": native, "notes": sorted(notes)}
    recs.sort(key=lambda r: r[0])
    median = recs[len(recs) // 2]
    st = median[2]
    return {
        "name": name,
        "native": native,
        "record": statistics.median(r[0] for r in recs) / native,
        "replay": statistics.median(r[1] for r in recs) / native,
        "stops_per_ms": st.get("stops", 0) / (native * 1e3),
        "top": top_kinds(st),
        "same": sum(1 for r in recs if r[4]),
        "runs": len(recs),
        "trace": median[3],
        "notes": sorted(notes),
    }


def one_test_name(exe):
    out = subprocess.run([exe, "--list", "--format", "terse"], stdout=subprocess.PIPE, check=True)
    names = [l.split(": ")[0] for l in out.stdout.decode().splitlines() if l.endswith(": test")]
    return sorted(names)[0]


def chaos_rate(crt, cmd, cwd, runs, tmp):
    """(record --chaos runs per second, native runs per second) over `runs` runs each."""
    start = time.monotonic()
    for _ in range(runs):
        run(cmd, cwd)
    native = runs / (time.monotonic() - start)
    start = time.monotonic()
    for i in range(runs):
        trace = os.path.join(tmp, "chaos-%d.trace" % i)
        run([crt, "record", "--chaos", "--seed", str(i + 1), "--output", trace, "--"] + cmd, cwd)
        shutil.rmtree(trace, ignore_errors=True)
    return runs / (time.monotonic() - start), native


def main():
    global TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="comma-separated names: ls,cat,python3,golang,array,libtest")
    ap.add_argument("--chaos-runs", type=int, default=20)
    ap.add_argument("--timeout", type=int, default=TIMEOUT, help="limit per run in seconds")
    args = ap.parse_args()
    TIMEOUT = args.timeout
    crt, twenty, suite = build()
    tmp = tempfile.mkdtemp(prefix="crt-speed-")
    try:
        big = os.path.join(tmp, "1mb")
        with open(big, "wb") as f:
            f.write(bytes(i % 251 for i in range(1 << 20)))
        test = one_test_name(twenty)
        cases = [
            ("ls", ["/bin/ls", "-la", "/usr/bin"], ROOT),
            ("cat", ["/bin/cat", big], ROOT),
            ("python3", ["/usr/bin/python3", "-c", "pass"], ROOT),
        ]
        for name in ("golang", "array"):
            cwd, exe = suite["crossbeam-channel/" + name]
            cases.append((name, [exe], cwd))
        cases.append(("libtest", [twenty, "--exact", test], ROOT))
        if args.only:
            wanted = set(args.only.split(","))
            cases = [c for c in cases if c[0] in wanted]
        print("%-8s %9s %9s %9s %9s %5s  %s" % (
            "program", "native ms", "record x", "replay x", "stops/ms", "same", "top-3 stop kinds by time (stops, handling time)"))
        results = []
        for name, cmd, cwd in cases:
            log("running " + name)
            r = bench(crt, name, cmd, cwd, args.runs, tmp)
            results.append(r)
            if "record" not in r:
                print("%-8s %9.1f  %s" % (name, r["native"] * 1e3, "; ".join(r["notes"])), flush=True)
                continue
            print("%-8s %9.1f %9.2f %9.2f %9.1f %2d/%-2d  %s%s" % (
                name, r["native"] * 1e3, r["record"], r["replay"], r["stops_per_ms"], r["same"],
                r["runs"], r["top"], ("  [" + "; ".join(r["notes"]) + "]") if r["notes"] else ""),
                flush=True)
        for r in results:
            if r["name"] in ("golang", "libtest") and "trace" in r:
                out = subprocess.run([crt, "info", r["trace"]], stdout=subprocess.PIPE, check=False)
                lines = out.stdout.decode().splitlines()
                keep = False
                print("\n%s (median recording):" % r["name"])
                for l in lines:
                    if l.startswith(("stops by kind", "stops:")):
                        keep = True
                    elif l.startswith(("preempted:", "seeking:", "wake-ups:", "env:")):
                        keep = False
                    if keep or l.startswith(("start-up:", "duration:")):
                        print(l)
        if not args.only or "libtest" in args.only.split(","):
            log("record --chaos runs per second")
            rate, native = chaos_rate(crt, [twenty, "--exact", test], ROOT, args.chaos_runs, tmp)
            print("\nrecord --chaos of `twenty --exact %s`: %.1f runs/s (native %.1f runs/s, %d runs each)"
                  % (test, rate, native, args.chaos_runs))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
