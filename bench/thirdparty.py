#!/usr/bin/env python3
"""The third-party suite as a benchmark: real crates' test binaries, native vs record vs replay.

For each test binary of the suite (the list and the crates are in tests/src/thirdparty.rs; the
binaries are fetched and built by `cargo run -p tests --bin thirdparty`): the median of N native
runs, of N recordings and of one `replay -a` of each recording, as wall-time ratios to native;
the replay/record ratio; the preemption positions, how many were uncounted and the most
breakpoint stops replay spent seeking one of them (all from the trace's `stats`, which replay
adds to); and whether every replay
reproduced its recording (stdout, stderr, exit status). Then how many binaries replay
identically and the worst replay/record ratio. A benchmark, not a test: it never fails on
slowness (DESIGN.md 11, 12). Every run has a time limit past which its process group is killed.

    python3 bench/thirdparty.py                  # every binary, 1 run each
    python3 bench/thirdparty.py --runs 3         # medians of 3
    python3 bench/thirdparty.py --tier ci        # only the CI tier (ci, stress, known)
    python3 bench/thirdparty.py --only crossbeam-channel/never,parking_lot/lib
    python3 bench/thirdparty.py --chaos --seeds 5   # record under --chaos, seeds 1..5
    python3 bench/thirdparty.py --timeout 60     # limit per run in seconds (120)

Uses the release build of cargo-record-test (built at the start). Python 3 standard library only.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build():
    """Build the tool; return its path and the suite's binaries."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    for cmd in (["cargo", "build", "--release", "-q", "-p", "cargo-chaos"],
                ["cargo", "build", "--release", "-q", "-p", "tests", "--bin", "thirdparty"]):
        log("building: " + " ".join(cmd))
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
            sys.exit("bench: the release build failed")
    lister = os.path.join(target, "release", "thirdparty")
    log("fetching and building the third-party test binaries")
    out = subprocess.run([lister], cwd=ROOT, stdout=subprocess.PIPE, check=False)
    if out.returncode != 0:
        sys.exit("bench: preparing the third-party suite failed")
    suite = []
    for line in out.stdout.decode().splitlines():
        name, tier, why, cwd, exe = line.split("\t")
        suite.append({"name": name, "tier": tier, "why": why, "cwd": cwd, "exe": exe})
    return os.path.join(target, "release", "cargo-record-test"), suite


def run(cmd, cwd, timeout):
    """Run cmd in its own process group; (seconds, exit code, stdout, stderr), code None on timeout."""
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


def read_stats(path):
    stats = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                if v.isdigit():
                    stats[k] = int(v)
    except OSError:
        pass
    return stats


def last_error(err):
    lines = [l for l in err.decode(errors="replace").splitlines() if l.startswith(("error", "caused by"))]
    return lines[-1] if lines else ""


def bench_one(crt, tb, args, tmp):
    natives, records, replays, ratios = [], [], [], []
    positions = uncounted = seek = 0
    same = 0
    notes = []
    for i in range(args.runs):
        t, code, _, _ = run([tb["exe"]], tb["cwd"], args.timeout)
        natives.append(t if code is not None else float("nan"))
    for i in range(args.seeds if args.chaos else args.runs):
        trace = os.path.join(tmp, "%s-%d.trace" % (tb["name"].replace("/", "-"), i))
        cmd = [crt, "record", "--output", trace]
        if args.chaos:
            cmd += ["--chaos", "--seed", str(i + 1)]
        cmd += ["--", tb["exe"]]
        tr, rcode, rout, rerr = run(cmd, tb["cwd"], args.timeout)
        if rcode is None:
            notes.append("record killed after %d s" % args.timeout)
            continue
        records.append(tr)
        if rcode != 0:
            notes.append("record exit %d %s" % (rcode, last_error(rerr)))
        st = read_stats(os.path.join(trace, "stats"))
        positions = max(positions, st.get("preemptions", 0))
        uncounted = max(uncounted, st.get("uncounted_preemptions", 0))
        tp, pcode, pout, perr = run([crt, "replay", "-a", trace], tb["cwd"], args.timeout)
        if pcode is None:
            notes.append("replay killed after %d s" % args.timeout)
            continue
        replays.append(tp)
        ratios.append(tp / tr if tr > 0 else float("nan"))
        seek = max(seek, read_stats(os.path.join(trace, "stats")).get("replay_seek_max", 0))
        if pcode == rcode and pout == rout and (perr == rerr):
            same += 1
        else:
            notes.append("replay differs (exit %s) %s" % (pcode, last_error(perr)))
        shutil.rmtree(trace, ignore_errors=True)
    runs = args.seeds if args.chaos else args.runs
    return {
        "native": statistics.median(natives) if natives else float("nan"),
        "record": statistics.median(records) if records else float("nan"),
        "replay": statistics.median(replays) if replays else float("nan"),
        "worst_ratio": max(ratios) if ratios else float("nan"),
        "positions": positions, "uncounted": uncounted, "seek": seek,
        "same": same, "runs": runs, "notes": sorted(set(notes)),
    }


def ratio(a, b):
    return a / b if b and b == b and b > 0 else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--tier", help="only this tier: ci, stress or known")
    ap.add_argument("--only", help="comma-separated crate/target names")
    ap.add_argument("--chaos", action="store_true", help="record under --chaos")
    ap.add_argument("--seeds", type=int, default=1, help="with --chaos: seeds 1..N")
    ap.add_argument("--timeout", type=int, default=120)
    args = ap.parse_args()
    crt, suite = build()
    if args.tier:
        suite = [t for t in suite if t["tier"] == args.tier]
    if args.only:
        wanted = set(args.only.split(","))
        suite = [t for t in suite if t["name"] in wanted]
    tmp = tempfile.mkdtemp(prefix="crt-thirdparty-bench-")
    header = "%-34s %-6s %8s %8s %8s %8s %6s %6s %8s %6s  %s" % (
        "binary", "tier", "native s", "record x", "replay x", "rep/rec", "pos", "uncnt", "seekmax", "same", "notes")
    print(header)
    results = []
    try:
        for tb in suite:
            log("running " + tb["name"])
            r = bench_one(crt, tb, args, tmp)
            results.append((tb, r))
            print("%-34s %-6s %8.3f %8.2f %8.2f %8.2f %6d %6d %8d %3d/%-2d  %s" % (
                tb["name"], tb["tier"], r["native"], ratio(r["record"], r["native"]),
                ratio(r["replay"], r["native"]), r["worst_ratio"], r["positions"], r["uncounted"],
                r["seek"], r["same"], r["runs"], "; ".join(r["notes"])), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    identical = sum(1 for _, r in results if r["same"] == r["runs"])
    worst = max((r["worst_ratio"] for _, r in results if r["worst_ratio"] == r["worst_ratio"]), default=float("nan"))
    print("replay identical: %d of %d binaries; worst replay/record ratio %.2f" % (identical, len(results), worst))


if __name__ == "__main__":
    main()
