#!/usr/bin/env python3
"""Native vs record vs replay wall time of real programs under cargo-record-test.

For each program: N native runs, N recordings (each into its own trace) and one `replay -a` of
each recording; prints the medians, the record/native and replay/native ratios, the trace size on
disk (du of the NAME.trace directory; the shared file store beside it is not counted), the event
and syscall counts from `info`, and how many replays reproduced the recording exactly (stdout,
stderr and exit status). A benchmark, not a test: it never fails on slowness (DESIGN.md 11, 12).

    python3 bench/bench.py                 # the single-threaded set (issue 2), 5 runs each
    python3 bench/bench.py --runs 9        # more runs
    python3 bench/bench.py --threads       # plus the multi-threaded examples and libtest runs
    python3 bench/bench.py --workspace-tests   # plus every libtest binary of the workspace
    python3 bench/bench.py --only hello,date   # a subset (names as in the first column)
    python3 bench/bench.py --no-build      # the target/release binaries as they are

Uses target/release binaries, built at the start with `cargo build --release`. Python 3 standard
library only.
"""

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build(with_workspace_tests):
    """Build the release binaries; return {target name: executable} and the tool's path."""
    cmd = ["cargo", "build", "--release", "--message-format=json-render-diagnostics",
           "-p", "cargo-chaos", "-p", "examples", "--bins", "--test", "twenty"]
    log("building: " + " ".join(cmd))
    exes = {}
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=False)
    if out.returncode != 0:
        sys.exit("bench: the release build failed")
    for line in out.stdout.decode().splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes[msg["target"]["name"]] = msg["executable"]
    if with_workspace_tests:
        cmd = ["cargo", "test", "--release", "--workspace", "--no-run",
               "--message-format=json-render-diagnostics"]
        log("building: " + " ".join(cmd))
        out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=False)
        if out.returncode != 0:
            sys.exit("bench: building the workspace's tests failed")
        for line in out.stdout.decode().splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
                    and msg.get("profile", {}).get("test")):
                target = msg["target"]
                # e2e drives the tool itself (harness = false); the examples' bins have no tests.
                if target["name"] == "e2e" or (target["kind"] == ["bin"]
                                               and "/examples/" in target["src_path"]):
                    continue
                pkg = msg["package_id"].split("#")[0].rsplit("/", 1)[-1]
                exes["test:%s:%s" % (pkg, target["name"])] = msg["executable"]
    tool = exes.get("cargo-record-test", os.path.join(ROOT, "target", "release", "cargo-record-test"))
    return exes, tool


def run(argv, cwd, stdin_path=None):
    """Run argv to its end; return (seconds, returncode, stdout bytes, stderr bytes)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        p = subprocess.run(argv, cwd=cwd, stdin=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT, check=False)
        elapsed = time.perf_counter() - start
    finally:
        if stdin_path:
            stdin.close()
    return elapsed, p.returncode, p.stdout, p.stderr


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


def parse_info(text):
    """Event, syscall and stop counts from `info` output, where it has them."""
    found = {}
    m = re.search(r"^events:\s+(\d+)", text, re.M)
    if m:
        found["events"] = int(m.group(1))
    m = re.search(r"\((\d+) syscalls", text)
    if m:
        found["syscalls"] = int(m.group(1))
    m = re.search(r"^stops:\s+(\d+)", text, re.M)
    if m:
        found["stops"] = int(m.group(1))
    return found


def last_error(stderr):
    lines = [l for l in stderr.decode(errors="replace").splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith("error") or l.startswith("caused by")]
    return " / ".join(errs[-2:]) if errs else (lines[-1] if lines else "")


def bench_one(name, argv, tool, runs, work, stdin_path=None):
    row = {"name": name}
    native = []
    for _ in range(runs):
        native.append(run(argv, work, stdin_path)[0])
    row["native"] = statistics.median(native)

    traces, recorded, rec_times = [], [], []
    for i in range(runs):
        trace = os.path.join(work, "%s-%d.trace" % (re.sub(r"[^A-Za-z0-9_]", "_", name), i))
        t, rc, out, err = run([tool, "record", "--output", trace, "--"] + argv, work, stdin_path)
        if not os.path.isdir(trace) or rc in (2, 4) and b"error" in err:
            row["error"] = "record: exit %d: %s" % (rc, last_error(err))
            return row
        rec_times.append(t)
        traces.append(trace)
        recorded.append((rc, out, err))
    row["record"] = statistics.median(rec_times)

    rep_times, identical, failures = [], 0, []
    for trace, rec in zip(traces, recorded):
        t, rc, out, err = run([tool, "replay", "-a", trace], work)
        rep_times.append(t)
        if (rc, out, err) == rec:
            identical += 1
        elif rc == 3:
            failures.append("diverged: " + last_error(err))
        else:
            failures.append("exit %d vs %d, stdout %s, stderr %s" % (
                rc, rec[0], "same" if out == rec[1] else "differs",
                "same" if err == rec[2] else "differs"))
    row["replay"] = statistics.median(rep_times)
    row["identical"] = "%d/%d" % (identical, len(traces))
    if failures:
        row["note"] = failures[0]

    row["size"] = statistics.median(du(t) for t in traces)
    _, rc, out, _ = run([tool, "info", traces[-1]], work)
    if rc == 0:
        row.update(parse_info(out.decode(errors="replace")))
    for t in traces:
        shutil.rmtree(t, ignore_errors=True)
    return row


def fmt_ms(s):
    return "%.1f" % (s * 1000)


def print_table(rows, runs):
    print()
    print("medians of %d runs; wall times in ms; ratios to native; trace = du of NAME.trace" % runs)
    head = ["program", "native", "record", "replay", "rec/nat", "rep/nat", "trace KiB",
            "events", "syscalls", "stops/sc", "identical"]
    table = [head]
    notes = []
    for r in rows:
        if "error" in r:
            table.append([r["name"], fmt_ms(r["native"]), "-", "-", "-", "-", "-", "-", "-", "-",
                          "-"])
            notes.append("%s: %s" % (r["name"], r["error"]))
            continue
        stops = "%.2f" % (r["stops"] / r["syscalls"]) if r.get("stops") and r.get("syscalls") else "-"
        table.append([
            r["name"], fmt_ms(r["native"]), fmt_ms(r["record"]), fmt_ms(r["replay"]),
            "%.2fx" % (r["record"] / r["native"]), "%.2fx" % (r["replay"] / r["native"]),
            "%.1f" % (r["size"] / 1024), str(r.get("events", "-")), str(r.get("syscalls", "-")),
            stops, r["identical"],
        ])
        if r.get("note"):
            notes.append("%s: %s" % (r["name"], r["note"]))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for j, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("  ".join(cells))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    ok = [r for r in rows if "error" not in r]
    if ok:
        gm = lambda xs: statistics.geometric_mean(xs) if xs else float("nan")
        print("geometric mean: record %.2fx, replay %.2fx native over %d programs" % (
            gm([r["record"] / r["native"] for r in ok]),
            gm([r["replay"] / r["native"] for r in ok]), len(ok)))
        same = sum(int(r["identical"].split("/")[0]) for r in ok)
        total = sum(int(r["identical"].split("/")[1]) for r in ok)
        print("recordings that replay identically: %d/%d" % (same, total))
    for n in notes:
        print("note: " + n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each kind per program (5)")
    ap.add_argument("--threads", action="store_true",
                    help="add the multi-threaded examples and libtest runs (issue 3)")
    ap.add_argument("--workspace-tests", action="store_true",
                    help="add every libtest binary of the workspace (cargo test --release)")
    ap.add_argument("--no-build", action="store_true",
                    help="use the target/release binaries as they are (no cargo build)")
    ap.add_argument("--only", default="", help="comma-separated program names to run")
    args = ap.parse_args()

    if args.no_build:
        rel = os.path.join(ROOT, "target", "release")
        twenty = sorted((p for p in glob.glob(os.path.join(rel, "deps", "twenty-*"))
                         if os.access(p, os.X_OK) and "." not in os.path.basename(p)),
                        key=os.path.getmtime)
        exes = {"twenty": twenty[-1]} if twenty else {}
        tool = os.path.join(rel, "cargo-record-test")
    else:
        exes, tool = build(args.workspace_tests)
    ex = lambda n: exes.get(n, os.path.join(ROOT, "target", "release", n))
    work = tempfile.mkdtemp(prefix="crt-bench-")
    try:
        big = os.path.join(work, "one-mb.txt")
        with open(big, "wb") as f:
            line = b"0123456789abcdef" * 4 + b"\n"
            f.write(line * (1024 * 1024 // len(line)))
        # Debian's python3, not a shim script (pyenv) that would run it as a child process.
        py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"
        programs = [
            ("ls -la /usr/bin", ["ls", "-la", "/usr/bin"]),
            ("cat 1MB", ["cat", big]),
            ("date", ["date", "+%s%N"]),
            ("python3 pass", [py, "-c", "pass"]),
            ("python3 time", [py, "-c", "import time; print(time.time())"]),
            ("hello", [ex("hello")]),
            ("sleep2", [ex("sleep2")]),
            ("files", [ex("files")]),
        ]
        if args.threads:
            programs += [(n, [ex(n)]) for n in
                         ["threads8", "spin_flag", "command", "tokio_mt", "rayon_sum", "tids",
                          "sigalrm"]]
            programs += [
                ("twenty --test-threads=4", [ex("twenty"), "--test-threads=4"]),
                ("twenty --exact", [ex("twenty"), "--exact", "mutex_counter"]),
            ]
        if args.workspace_tests:
            programs += [(k[len("test:"):], [v]) for k, v in sorted(exes.items())
                         if k.startswith("test:")]
        if args.only:
            wanted = set(args.only.split(","))
            programs = [p for p in programs if p[0] in wanted]
        if args.workspace_tests:
            log("workspace test binaries: %s" % ", ".join(
                k[len("test:"):] for k in sorted(exes) if k.startswith("test:")))
        log("tool: %s" % tool)
        log("cpus: %d, kernel: %s" % (os.cpu_count(), os.uname().release))
        rows = []
        for name, argv in programs:
            log("bench: %s" % name)
            rows.append(bench_one(name, argv, tool, args.runs, work))
        print_table(rows, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
