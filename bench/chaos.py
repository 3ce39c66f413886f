#!/usr/bin/env python3
"""Runs to the first failure of every examples/flaky test, natively (plain reruns) and under
`cargo-record-test record --chaos` (seeded runs), median over several seed series.

    python3 bench/chaos.py [--series 5] [--native-cap 300] [--chaos-cap 30] [--only a,b]

Prints one row per test: native runs to first failure (median; '>CAP' when none failed), chaos
runs to first failure (median and worst), and the share of chaos traces that replayed identically
(the failing trace of each series is replayed). Targets (DESIGN.md 12): chaos median <= 5, every
one within 20.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

# Failing tests print a backtrace when RUST_BACKTRACE is set, which makes each failure slow.
os.environ["RUST_BACKTRACE"] = "0"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cargo-chaos"], cwd=ROOT, check=True)
    out = subprocess.run(
        ["cargo", "test", "-q", "-p", "flaky", "--test", "flaky", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    exe = None
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "flaky":
            exe = m["executable"]
    if not exe:
        sys.exit("cannot find the flaky test binary")
    return os.path.join(ROOT, "target/release/cargo-record-test"), exe


def list_tests(exe):
    out = subprocess.run([exe, "--list"], capture_output=True, text=True).stdout
    return [l.split(": test")[0] for l in out.splitlines() if l.endswith(": test")]


def test_args(test):
    """How to run one flaky test: alone, except the pair that only races with its twin."""
    if test.startswith("global_state"):
        return ["global_state"]
    return ["--exact", test]


def native_runs(exe, test, cap):
    for i in range(1, cap + 1):
        r = subprocess.run([exe] + test_args(test), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return i
    return None


def chaos_runs(tool, exe, test, cap, series, tmp):
    for i in range(1, cap + 1):
        seed = series * 100_000 + i
        trace = os.path.join(tmp, f"{test}-{seed}.trace")
        r = subprocess.run([tool, "record", "--chaos", "--seed", str(seed), "-o", trace, "--", exe] + test_args(test),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if r.returncode != 0:
            rep = subprocess.run([tool, "replay", "-a", trace], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            same = rep.returncode == r.returncode and rep.stdout == r.stdout and rep.stderr == r.stderr
            shutil.rmtree(trace, ignore_errors=True)
            return i, same
        shutil.rmtree(trace, ignore_errors=True)
    return None, None


def fmt(xs, cap):
    found = [x for x in xs if x is not None]
    if len(found) * 2 <= len(xs):
        return f">{cap}"
    med = statistics.median([x if x is not None else cap + 1 for x in xs])
    return f"{med:g}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=5)
    ap.add_argument("--native-cap", type=int, default=300)
    ap.add_argument("--chaos-cap", type=int, default=30)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    tool, exe = build()
    tests = [t for t in list_tests(exe) if t != "global_state_b"]  # the pair runs as one
    if a.only:
        tests = [t for t in tests if t in a.only.split(",")]
    tmp = tempfile.mkdtemp(prefix="crt-chaos-bench-")
    print(f"flaky binary: {exe}\n{a.series} series; native cap {a.native_cap}, chaos cap {a.chaos_cap}\n")
    print(f"{'test':28} {'native':>8} {'chaos':>6} {'worst':>6} {'found':>6} {'replayed':>8}  per series (chaos)")
    meds = []
    start = time.time()
    for t in tests:
        nat = [native_runs(exe, t, a.native_cap) for _ in range(a.series)]
        ch, same = [], []
        for s in range(a.series):
            n, ok = chaos_runs(tool, exe, t, a.chaos_cap, s, tmp)
            ch.append(n)
            if ok is not None:
                same.append(ok)
        worst = max((x if x is not None else a.chaos_cap + 1) for x in ch)
        found = sum(x is not None for x in ch)
        med = statistics.median([x if x is not None else a.chaos_cap + 1 for x in ch])
        meds.append(med)
        print(f"{t:28} {fmt(nat, a.native_cap):>8} {fmt(ch, a.chaos_cap):>6} "
              f"{(str(worst) if worst <= a.chaos_cap else '>' + str(a.chaos_cap)):>6} {found}/{a.series:<4} "
              f"{sum(same)}/{len(same):<6}  {' '.join(str(x) if x else '-' for x in ch)}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmedian of the per-test chaos medians: {statistics.median(meds):g} runs; "
          f"bench took {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
