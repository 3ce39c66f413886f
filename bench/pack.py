#!/usr/bin/env python3
"""Packed traces: size and `pack` time, then `fetch` + replay time from a local fake GitHub API.

Recordings measured:
  * flaky/lost_update: one test of the examples/flaky test binary (`--exact lost_update`);
  * twenty: the whole examples/tests/twenty.rs libtest binary (20 tests, one thread each);
  * with --thirdparty NAME (a binary of `cargo run -p tests --bin thirdparty`): that one too.

For each: the trace directory's size and the file store's (what `pack` reads), the packed file's
size, the median `pack` wall time over --runs; then the packed file zipped as an Actions artifact
is served by a tiny local HTTP server speaking the three endpoints `fetch` uses (artifact
metadata, the /zip redirect, the blob) and `cargo-record-test fetch URL` is timed, then
`replay -a` of what it fetched (checked against the recording: exit code and stdout), then
`fetch URL --replay` in one go. A benchmark, not a test: it never fails on slowness.

    python3 bench/pack.py               # build release binaries, 3 runs each
    python3 bench/pack.py --no-build --runs 5

Python 3 standard library only. Uses target/release (or $CARGO_TARGET_DIR/release).
"""

import argparse
import http.server
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
TIMEOUT = 600


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cargo_exes(cmd):
    """Run a cargo build command with JSON messages; return {target name: executable}."""
    log("building: " + " ".join(cmd))
    out = subprocess.run(cmd + ["--message-format=json-render-diagnostics"], cwd=ROOT,
                         stdout=subprocess.PIPE, check=False)
    if out.returncode != 0:
        sys.exit("bench: the release build failed")
    exes = {}
    for line in out.stdout.decode().splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable"):
            exes[m["target"]["name"]] = m["executable"]
    return exes


def build(no_build):
    crt = os.path.join(TARGET, "release", "cargo-record-test")
    # With --no-build cargo only reports the binaries (offline); it rebuilds what is stale.
    cmd_flags = ["--offline"] if no_build else []
    exes = {}
    exes.update(cargo_exes(["cargo", "build", "--release", "-q", *cmd_flags, "-p", "cargo-chaos"]))
    exes.update(cargo_exes(["cargo", "test", "--release", "-q", *cmd_flags, "-p", "flaky",
                            "--test", "flaky", "--no-run"]))
    exes.update(cargo_exes(["cargo", "test", "--release", "-q", *cmd_flags, "-p", "examples",
                            "--test", "twenty", "--no-run"]))
    for name in ["flaky", "twenty"]:
        if name not in exes:
            sys.exit(f"bench: cannot find the {name} test binary")
    return crt, exes


def thirdparty_binary(name):
    """The executable and run directory of third-party binary `name` (`crate/target`)."""
    out = subprocess.run(["cargo", "run", "--release", "-q", "-p", "tests", "--bin", "thirdparty"],
                         cwd=ROOT, stdout=subprocess.PIPE, check=False)
    for line in out.stdout.decode().splitlines():
        f = line.split("\t")
        if len(f) == 5 and f[0] == name:
            return f[4], f[3]
    sys.exit(f"bench: no built third-party binary named {name} (see src/bin/thirdparty.rs)")


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            fp = os.path.join(dirpath, f)
            if not os.path.islink(fp):
                total += os.stat(fp).st_size
    return total


def human(n):
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def run(cmd, cwd, env=None, check=True):
    t = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT, check=False)
    dt = time.monotonic() - t
    if check and p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited {p.returncode}\n{p.stderr.decode()[-2000:]}")
    return p, dt


class FakeGitHub(http.server.BaseHTTPRequestHandler):
    """GET /repos/o/r/actions/artifacts/ID, its /zip (302 to /blob/ID.zip), and the blob."""

    artifacts = {}  # id -> zip bytes

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:1] == ["blob"] and len(parts) == 2:
            aid = int(parts[1].split(".")[0])
            if aid in self.artifacts:
                return self.send(200, self.artifacts[aid], "application/zip")
        if parts[:4] == ["repos", "octo", "proj", "actions"] and len(parts) >= 6 \
                and parts[4] == "artifacts":
            aid = int(parts[5])
            if aid in self.artifacts and len(parts) == 6:
                body = json.dumps({"id": aid, "name": "record-test-traces",
                                   "size_in_bytes": len(self.artifacts[aid]), "expired": False,
                                   "workflow_run": {"id": 7}}).encode()
                return self.send(200, body)
            if aid in self.artifacts and parts[6:] == ["zip"]:
                host = self.headers.get("Host")
                return self.send(302, headers=[("Location", f"http://{host}/blob/{aid}.zip")])
        self.send(404, json.dumps({"message": "Not Found"}).encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--thirdparty", metavar="NAME")
    a = ap.parse_args()
    crt, exes = build(a.no_build)
    cases = [
        ("flaky/lost_update", exes["flaky"], ["--exact", "lost_update", "--test-threads=1"], None),
        ("twenty (whole binary)", exes["twenty"], ["--test-threads=1"], None),
    ]
    if a.thirdparty:
        exe, cwd = thirdparty_binary(a.thirdparty)
        cases.append((f"thirdparty {a.thirdparty}", exe, ["--test-threads=1"], cwd))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"

    tmp = tempfile.mkdtemp(prefix="crt-bench-pack-")
    rows = []
    try:
        for i, (name, exe, args, cwd) in enumerate(cases):
            log(f"{name}: recording")
            d = os.path.join(tmp, f"case{i}")
            os.makedirs(d)
            env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(d, "target"))
            env.pop("CI", None)
            # A copy, so the packed executable is not the build's and nothing else shares it.
            prog = os.path.join(d, "prog", os.path.basename(exe))
            os.makedirs(os.path.dirname(prog))
            shutil.copy2(exe, prog)
            trace = os.path.join(d, "t.trace")
            rec, rec_s = run([crt, "record", "-o", trace, "--", prog, *args], cwd or d, env,
                           check=False)
            trace_size = du(trace)
            store_size = du(os.path.join(d, "files"))
            packed = os.path.join(d, "t.crtpack")
            times = []
            for _ in range(a.runs):
                if os.path.exists(packed):
                    os.remove(packed)
                _, dt = run([crt, "pack", trace, "-o", packed], d, env)
                times.append(dt)
            packed_size = os.path.getsize(packed)

            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
                z.write(packed, "t.crtpack")
            aid = 100 + i
            FakeGitHub.artifacts[aid] = buf.getvalue()
            url = f"https://github.com/octo/proj/actions/runs/7/artifacts/{aid}"
            fenv = dict(env, GITHUB_TOKEN="bench-token", GITHUB_API_URL=api)
            fetch_t, replay_t, both_t, same = [], [], [], True
            for _ in range(a.runs):
                shutil.rmtree(os.path.join(d, "target"), ignore_errors=True)
                p, dt = run([crt, "fetch", url], d, fenv)
                fetch_t.append(dt)
                fetched = os.path.join(d, "target", "record-test", "fetched", str(aid), "t.crtpack")
                if not os.path.isfile(fetched):
                    sys.exit(f"bench: fetch did not place {fetched}\n{p.stdout.decode()}")
                p, dt = run([crt, "replay", "-a", fetched], d, env, check=False)
                replay_t.append(dt)
                same = same and (p.returncode, p.stdout) == (rec.returncode, rec.stdout)
                shutil.rmtree(os.path.join(d, "target"), ignore_errors=True)
                _, dt = run([crt, "fetch", url, "--replay"], d, fenv, check=False)
                both_t.append(dt)
            rows.append((name, rec_s, trace_size, store_size, packed_size,
                         statistics.median(times), statistics.median(fetch_t),
                         statistics.median(replay_t), statistics.median(both_t), same))
    finally:
        server.shutdown()
        if not os.environ.get("CRT_KEEP_TEMP"):
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"medians of {a.runs} runs; fetch from a local fake GitHub API ({api})\n")
    hdr = ("recording", "record s", "trace dir", "file store", "packed", "ratio", "pack s",
           "fetch s", "replay s", "fetch --replay s", "replay = record")
    print("{:<24} {:>8} {:>10} {:>10} {:>10} {:>6} {:>7} {:>8} {:>8} {:>16} {:>15}".format(*hdr))
    for (name, rec_s, ts, ss, ps, pt, ft, rt, bt, same) in rows:
        ratio = (ts + ss) / ps if ps else 0
        print(f"{name:<24} {rec_s:>8.2f} {human(ts):>10} {human(ss):>10} {human(ps):>10} "
              f"{ratio:>5.1f}x {pt:>7.2f} {ft:>8.2f} {rt:>8.2f} {bt:>16.2f} {str(same):>15}")


if __name__ == "__main__":
    main()
