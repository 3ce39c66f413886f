#!/usr/bin/env python3
"""The front end against plain reruns.

    python3 bench/until_fail.py [--runs 60] [--series 3] [--native-cap-secs 60] [--only a,b]

1. Runs per second of `cargo record-test --until-fail` on one correct test (examples' `twenty`
   binary, `--exact arithmetic`, `--max-runs N` so it runs exactly N times) with --jobs 1 and
   --jobs 2, against native reruns of the same test (one at a time, and two at a time).
2. Wall time to the first caught failure for every test of examples/flaky: `--until-fail --jobs 2`
   (the report's duration, after the build) against native reruns two at a time until one fails
   (capped at --native-cap-secs). Medians over --series runs.

Target (issue 12): every flake caught in less wall time than native reruns need to see it fail.
"""
import argparse, concurrent.futures, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time

os.environ["RUST_BACKTRACE"] = "0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "target/release/cargo-record-test")


def executables(args):
    out = subprocess.run(["cargo", "test", "-q", "--no-run", "--message-format=json"] + args,
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    exes = {}
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
            exes[m["target"]["name"]] = m["executable"]
    return exes


def build():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cargo-chaos"], cwd=ROOT, check=True)
    exes = executables(["-p", "examples", "--test", "twenty", "-p", "flaky", "--test", "flaky"])
    return exes["twenty"], exes["flaky"]


def front(args, trace_dir):
    """Run the front end; return (exit code, report)."""
    cmd = [TOOL] + args + ["--manifest-path", os.path.join(ROOT, "Cargo.toml"), "--trace-dir", trace_dir]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=3600)
    with open(os.path.join(trace_dir, "report.json")) as f:
        return r.returncode, json.load(f)


def native_rate(exe, argv, runs, jobs):
    def one(_):
        subprocess.run([exe] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, range(runs)))
    return runs / (time.monotonic() - t)


def native_time_to_failure(exe, argv, cap_secs, jobs=2):
    """Wall time until a native rerun fails (jobs at a time), or None past the cap; and the runs."""
    stop = threading.Event()
    found = []
    count = [0]
    lock = threading.Lock()
    start = time.monotonic()

    def worker():
        while not stop.is_set() and time.monotonic() - start < cap_secs:
            r = subprocess.run([exe] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with lock:
                count[0] += 1
                if r.returncode != 0 and not found:
                    found.append(time.monotonic() - start)
                    stop.set()

    ts = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return (found[0] if found else None), count[0]


def test_selection(test):
    if test.startswith("global_state"):
        return ["--whole-binary", "global_state"], ["global_state"]
    return ["--exact", test], ["--exact", test]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--series", type=int, default=3)
    ap.add_argument("--native-cap-secs", type=float, default=60.0)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    twenty, flaky = build()
    tmp = tempfile.mkdtemp(prefix="crt-bench-front-")
    try:
        print(f"1. runs/s on one correct test (twenty --exact arithmetic), {a.runs} runs each")
        native = {j: native_rate(twenty, ["--exact", "arithmetic"], a.runs, j) for j in (1, 2)}
        for jobs in (1, 2):
            d = os.path.join(tmp, f"rate{jobs}")
            os.makedirs(d)
            code, rep = front(["--until-fail", "-p", "examples", "--test", "twenty", "--exact", "arithmetic",
                               "--max-runs", str(a.runs), "--jobs", str(jobs)], d)
            rate = rep["summary"]["runs"] / rep["duration_secs"]
            print(f"   --jobs {jobs}: {rate:7.1f} runs/s under the recorder with chaos   native, {jobs} at a time: "
                  f"{native[jobs]:7.1f} runs/s   ratio {native[jobs] / rate:5.1f}x  (exit {code})")
        tests = [l.split(": test")[0] for l in subprocess.run([flaky, "--list"], capture_output=True, text=True)
                 .stdout.splitlines() if l.endswith(": test")]
        if a.only:
            tests = [t for t in tests if t in a.only.split(",")]
        tests = [t for t in tests if t != "global_state_b"]
        print(f"\n2. wall time to the first caught failure, 2 jobs, median of {a.series} (native capped at "
              f"{a.native_cap_secs:g} s)")
        print(f"   {'test':28} {'until-fail':>11} {'runs':>6}   {'native':>9} {'runs':>7}   faster?")
        for t in tests:
            ours, our_runs, nat, nat_runs = [], [], [], []
            front_sel, native_argv = test_selection(t)
            for s in range(a.series):
                d = os.path.join(tmp, f"{t}-{s}")
                os.makedirs(d)
                code, rep = front(["--until-fail", "-p", "flaky", "--test", "flaky", "--jobs", "2",
                                   "--max-runs", "200"] + front_sel, d)
                caught = rep["summary"]["failed"] + rep["summary"]["timed_out"] > 0
                ours.append(rep["duration_secs"] if caught else None)
                our_runs.append(rep["summary"]["runs"])
                shutil.rmtree(d, ignore_errors=True)
                tt, n = native_time_to_failure(flaky, native_argv, a.native_cap_secs)
                nat.append(tt)
                nat_runs.append(n)

            def med(xs, cap):
                if sum(x is None for x in xs) * 2 >= len(xs) and any(x is None for x in xs):
                    return None
                return statistics.median([x if x is not None else cap for x in xs])
            o, n = med(ours, 1e9), med(nat, a.native_cap_secs)
            os_ = f"{o:9.2f} s" if o is not None else "  not caught"
            ns = f"{n:7.2f} s" if n is not None else f" >{a.native_cap_secs:g} s"
            faster = "yes" if o is not None and (n is None or o < n) else "no"
            print(f"   {t:28} {os_:>11} {statistics.median(our_runs):6g}   {ns:>9} {statistics.median(nat_runs):7g}   {faster}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
