#!/usr/bin/env python3
"""Latency of reverse execution in gdb against the replay server.

Records `gdb_spin ROUNDS WORK IDLE` (ROUNDS calls of `round`, each computing WORK loop
iterations, printing after each; IDLE more threads waiting all along) into traces whose replay
takes about 1 s and about 10 s, one-threaded and four-threaded, serves each with
`cargo record-test replay --serve`, runs gdb in batch mode to a late round, and times with gdb's
own clock: N *first* `reverse-stepi`s, each right after a `continue` stopped at a `round` hit
it had not gone back from before (the cold case: the replay has no checkpoint or trail inside
that segment yet; a first `reverse-step` there would only leave an inlined frame, no command to
the server); then, near the last round, N `reverse-stepi` and N `reverse-step` in a row, and N
`reverse-continue` (back to the previous `round` hit: one round of execution). Prints the
medians. A benchmark, not a test: it never fails on slowness, but it stops when gdb reports an
error (a command that failed fast is no figure). The issue's targets: reverse-step <= 100 ms,
reverse-continue <= 1 s.

    python3 bench/gdb.py              # both traces, 9 of each command
    python3 bench/gdb.py --n 5 --only 1s
    python3 bench/gdb.py --no-build   # the target/release binaries as they are

Uses target/release binaries (built at the start). Python 3 standard library only.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 1800
# name -> (rounds, work per round, idle threads); about 1 s and 10 s of replay on a 2-core
# machine, one-threaded and with three more threads waiting all along (as a test harness's).
TRACES = {"1s": (50, 20_000_000, 0), "10s": (50, 200_000_000, 0),
          "1s-mt": (50, 20_000_000, 3), "10s-mt": (50, 200_000_000, 3)}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build(no_build):
    rel = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
    if not no_build:
        cmd = ["cargo", "build", "--release", "-p", "cargo-chaos", "-p", "examples", "--bins"]
        log("building: " + " ".join(cmd))
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
            sys.exit("bench: the release build failed")
    return os.path.join(rel, "cargo-record-test"), os.path.join(rel, "gdb_spin")


def serve(crt, trace):
    """Start the server on a free port; return (process, port)."""
    p = subprocess.Popen([crt, "replay", "--serve", "0", trace], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if m:
            return p, int(m.group(1))
    sys.exit("bench: the server did not start")


def timed(cmd):
    """gdb commands that run `cmd` and print how long it took, in gdb's own clock."""
    return ["python import time; _t = time.monotonic()", cmd,
            "python print('ELAPSED %.6f' % (time.monotonic() - _t))"]


def measure(crt, trace, rounds, n):
    proc, port = serve(crt, trace)
    cmds = ["set pagination off", "set sysroot /", f"target remote 127.0.0.1:{port}",
            # `ignore`, not a condition on `i`: in the release build `round`'s arguments are
            # optimized out, and a condition on them fails to parse (no breakpoint at all).
            "break gdb_spin::round", f"ignore 1 {rounds - n - 2}"]
    cmds += timed("continue")
    cmds += ["python print('WHERE %s' % gdb.selected_frame().name())"]
    for _ in range(n):
        # Back from a round's first hit, then forward to it again and to the next round's.
        cmds += timed("reverse-stepi") + ["continue", "continue"]
    cmds += ["delete"]
    for _ in range(n):
        cmds += timed("reverse-stepi")
    for _ in range(n):
        cmds += timed("reverse-step")
    cmds += ["break gdb_spin::round"]
    for _ in range(n):
        cmds += timed("reverse-continue")
    cmds += timed("monitor when")
    cmds += ["kill"]
    args = ["gdb", "-batch", "-nx"]
    for c in cmds:
        args += ["-ex", c]
    out = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=TIMEOUT)
    proc.kill()
    proc.wait()
    if not re.search(r"^WHERE gdb_spin::round$", out.stdout, re.M):
        log(out.stdout[-3000:] + out.stderr[-3000:])
        sys.exit("bench: continue did not stop in the last round")
    times = [float(x) for x in re.findall(r"^ELAPSED ([0-9.]+)$", out.stdout, re.M)]
    if len(times) != 2 + 4 * n:
        log(out.stdout[-3000:] + out.stderr[-3000:])
        sys.exit(f"bench: expected {2 + 4 * n} timings, got {len(times)}")
    errors = [l for l in (out.stdout + out.stderr).splitlines()
              if re.search(r"Remote failure|^warning: |[Ee]rror|Cannot", l)
              and "auto-load" not in l]
    if errors:
        log(out.stdout[-3000:] + out.stderr[-3000:])
        sys.exit("bench: gdb reported errors: " + "; ".join(errors[:5]))
    forward = times[0]
    cold = times[1:1 + n]
    rsi = times[1 + n:1 + 2 * n]
    rs = times[1 + 2 * n:1 + 3 * n]
    rc = times[1 + 3 * n:1 + 4 * n]
    return forward, cold, rsi, rs, rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=9, help="commands of each kind")
    ap.add_argument("--only", help="comma-separated trace names: " + ",".join(TRACES))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--crt", help="another cargo-record-test binary to measure (e.g. an older build)")
    a = ap.parse_args()
    crt, spin = build(a.no_build)
    crt = a.crt or crt
    names = a.only.split(",") if a.only else list(TRACES)
    with tempfile.TemporaryDirectory(prefix="crt-bench-gdb-") as tmp:
        print(f"{'trace':>6} {'replay s':>9} {'continue s':>11} {'1st rstepi ms':>14} "
              f"{'rstepi ms':>10} {'rstep ms':>9} {'rcont ms':>9}  (medians of {a.n})")
        for name in names:
            rounds, work, idle = TRACES[name]
            trace = os.path.join(tmp, f"spin-{name}.trace")
            subprocess.run([crt, "record", "-o", trace, "--", spin, str(rounds), str(work),
                            str(idle)],
                           stdout=subprocess.DEVNULL, check=True, timeout=TIMEOUT)
            t = time.monotonic()
            subprocess.run([crt, "replay", "-a", trace], stdout=subprocess.DEVNULL, check=True,
                           timeout=TIMEOUT)
            replay = time.monotonic() - t
            forward, cold, rsi, rs, rc = measure(crt, trace, rounds, a.n)
            ms = lambda xs: statistics.median(xs) * 1000
            print(f"{name:>6} {replay:9.2f} {forward:11.2f} {ms(cold):14.1f} {ms(rsi):10.1f} "
                  f"{ms(rs):9.1f} {ms(rc):9.1f}", flush=True)


if __name__ == "__main__":
    main()
