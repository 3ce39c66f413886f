//! End-to-end tests of packed traces (`cargo-record-test pack`) and of the scrubbed CI
//! environment: a packed file replays exactly where the recorded program no longer exists or was
//! overwritten by a rebuild, damaged packed files give a clean one-line error, and a recording
//! made under `CI=true` keeps no secret-looking variable, not even in the packed file's
//! decompressed bytes.
//!
//! Environment: `CRT_TIMEOUT_SECS` (120) limits each command; `CRT_KEEP_TEMP=1` keeps the temp
//! dirs; `CRT_BIN=PATH` tests that binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use tests::{
    build_binaries, check_clean_error, compare_runs, disable_core_dumps, env_number,
    run_with_timeout, Binaries, Input, Output, Status, TempDir, EXIT_BAD_INPUT,
};

static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();

fn binaries() -> Result<&'static Binaries, Failed> {
    BINARIES
        .get_or_init(build_binaries)
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))
}

fn timeout() -> Duration {
    Duration::from_secs(env_number("CRT_TIMEOUT_SECS", 120))
}

/// `cargo-record-test ARGS` in `dir`, with its trace root (and the unpack cache) under `dir`
/// and without CI's variables unless `env` sets them.
fn crt(bins: &Binaries, dir: &Path, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(&bins.crt);
    c.current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("CI")
        .env_remove("CRT_SCRUB_ENV")
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn run(
    bins: &Binaries,
    dir: &Path,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Result<Output, String> {
    run_with_timeout(&mut crt(bins, dir, args, env), Input::Null, timeout())
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn record(
    bins: &Binaries,
    dir: &Path,
    trace: &Path,
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Output, String> {
    let mut a = vec![os("record"), os("-o"), trace.as_os_str(), os("--")];
    a.push(program.as_os_str());
    a.extend(args.iter().map(|s| os(s)));
    run(bins, dir, &a, env)
}

fn pack(bins: &Binaries, dir: &Path, trace: &Path, out: &Path) -> Result<(), String> {
    let p = run(
        bins,
        dir,
        &[os("pack"), trace.as_os_str(), os("-o"), out.as_os_str()],
        &[],
    )?;
    if p.status != Status::Code(0) || !out.is_file() {
        return Err(format!("pack failed\n{}", p.describe()));
    }
    if !p.stderr_str().contains("executable") {
        return Err(format!(
            "pack does not list the executable among what went in\n{}",
            p.describe()
        ));
    }
    Ok(())
}

fn replay(bins: &Binaries, dir: &Path, trace: &Path) -> Result<Output, String> {
    run(bins, dir, &[os("replay"), os("-a"), trace.as_os_str()], &[])
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

/// Everything `record` wrote, except the packed file: the trace and the file store.
fn remove_trace_and_store(trace: &Path) -> Result<(), String> {
    std::fs::remove_dir_all(trace).map_err(|e| format!("rm {}: {e}", trace.display()))?;
    let store = trace.with_file_name("files");
    if store.exists() {
        std::fs::remove_dir_all(&store).map_err(|e| format!("rm {}: {e}", store.display()))?;
    }
    Ok(())
}

/// A copy of `ls` placed in a temp dir is recorded, packed, and the dir, the trace and its store
/// deleted: the packed file alone replays it exactly.
fn program_dir_deleted(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let prog = dir.join("prog/myls");
    copy(Path::new("/usr/bin/ls"), &prog)?;
    let trace = dir.join("traces/ls.trace");
    let rec = record(bins, dir, &trace, &prog, &["-la", "/usr/share/doc"], &[])?;
    if rec.status != Status::Code(0) || rec.stdout.is_empty() {
        return Err(format!("recording failed\n{}", rec.describe()));
    }
    let packed = dir.join("ls.crtpack");
    pack(bins, dir, &trace, &packed)?;
    std::fs::remove_dir_all(dir.join("prog")).map_err(|e| e.to_string())?;
    remove_trace_and_store(&trace)?;
    let rep = replay(bins, dir, &packed)?;
    compare_runs("record", &rec, "packed replay", &rep)?;
    let info = run(bins, dir, &[os("info"), packed.as_os_str()], &[])?;
    if info.status != Status::Code(0) || !info.stdout_str().contains("packed:") {
        return Err(format!("info of the packed file\n{}", info.describe()));
    }
    Ok(())
}

/// A libtest binary copied to a temp dir, recorded running one test, then overwritten in place
/// (what a rebuild does): both the trace directory and its packed file replay the recorded
/// bytes.
fn test_binary_rebuilt(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let prog = dir.join("bin/twenty");
    copy(&bins.example("twenty"), &prog)?;
    let trace = dir.join("traces/twenty.trace");
    let args = ["--exact", "arithmetic", "--test-threads=1"];
    let rec = record(bins, dir, &trace, &prog, &args, &[])?;
    if rec.status != Status::Code(0) || !rec.stdout_str().contains("1 passed") {
        return Err(format!("recording failed\n{}", rec.describe()));
    }
    let packed = dir.join("twenty.crtpack");
    pack(bins, dir, &trace, &packed)?;
    // "Rebuild": other bytes written into the same file (same inode).
    let other = std::fs::read(bins.example("hello")).map_err(|e| e.to_string())?;
    std::fs::write(&prog, other).map_err(|e| format!("overwrite {}: {e}", prog.display()))?;
    let rep = replay(bins, dir, &trace)?;
    compare_runs("record", &rec, "replay of the trace dir", &rep)?;
    remove_trace_and_store(&trace)?;
    let rep = replay(bins, dir, &packed)?;
    compare_runs("record", &rec, "packed replay", &rep)
}

/// Flipped bytes anywhere, a truncated or empty file, garbage: replay and info refuse each with
/// one `error:` line and exit 2.
fn corrupted_packed_files(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let trace = dir.join("hello.trace");
    let rec = record(bins, dir, &trace, &bins.example("hello"), &[], &[])?;
    if rec.status != Status::Code(0) {
        return Err(format!("recording failed\n{}", rec.describe()));
    }
    let good = dir.join("good.crtpack");
    pack(bins, dir, &trace, &good)?;
    let bytes = std::fs::read(&good).map_err(|e| e.to_string())?;
    let n = bytes.len();
    let mut damaged: Vec<(String, Vec<u8>)> = Vec::new();
    for at in [0, 9, 13, 17, 30, 60, n / 3, n / 2, n - 40, n - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x5a;
        damaged.push((format!("flip-{at}"), b));
    }
    for len in [0, 5, 23, 100, n / 2, n - 1] {
        damaged.push((format!("cut-{len}"), bytes[..len].to_vec()));
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"trailing");
    damaged.push(("longer".into(), longer));
    damaged.push(("garbage".into(), b"not a trace at all\n".repeat(50)));
    for (name, b) in damaged {
        let path = dir.join(format!("{name}.crtpack"));
        std::fs::write(&path, b).map_err(|e| e.to_string())?;
        for cmd in ["replay", "info"] {
            let mut args = vec![os(cmd)];
            if cmd == "replay" {
                args.push(os("-a"));
            }
            args.push(path.as_os_str());
            let out = run(bins, dir, &args, &[])?;
            check_clean_error(&out, EXIT_BAD_INPUT, true)
                .map_err(|e| format!("{cmd} {name}: {e}"))?;
            if out.stderr_str().lines().count() > 3 {
                return Err(format!("{cmd} {name}: too many lines\n{}", out.describe()));
            }
        }
    }
    Ok(())
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        if e.file_type().map_err(|e| e.to_string())?.is_dir() {
            all_files(&e.path(), out)?;
        } else {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Under `CI=true`, `env` is recorded without `GITHUB_TOKEN` and the other secret-looking
/// variables (stderr names them; `--keep-env` keeps one); neither the program's output, nor
/// `info`, nor any decompressed byte of the packed trace holds the token's value.
fn ci_secrets_scrubbed(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let token = format!("ghs_{:x}{:x}", nanos, std::process::id() as u128 * 7919);
    let kept = format!("kept-{nanos:x}");
    let env = [
        ("CI", "true"),
        ("GITHUB_TOKEN", token.as_str()),
        ("MY_API_KEY", token.as_str()),
        ("DEPLOY_PASSWORD", token.as_str()),
        ("KEEP_ME_TOKEN", kept.as_str()),
    ];
    let trace = dir.join("env.trace");
    let mut a = vec![os("record"), os("--keep-env"), os("KEEP_ME_TOKEN")];
    a.extend([os("-o"), trace.as_os_str(), os("--"), os("/usr/bin/env")]);
    let rec = run(bins, dir, &a, &env)?;
    if rec.status != Status::Code(0) {
        return Err(format!("recording failed\n{}", rec.describe()));
    }
    let stdout = rec.stdout_str();
    if stdout.contains(&token) || !stdout.contains(&kept) || !stdout.contains("CI=true") {
        return Err(format!(
            "the program saw the wrong environment\n{}",
            rec.describe()
        ));
    }
    let stderr = rec.stderr_str();
    for name in ["GITHUB_TOKEN", "MY_API_KEY", "DEPLOY_PASSWORD"] {
        if !stderr.contains(name) {
            return Err(format!("stderr does not list {name}\n{}", rec.describe()));
        }
    }
    let info = run(bins, dir, &[os("info"), trace.as_os_str()], &[])?;
    if info.stdout_str().contains(&token) || !info.stdout_str().contains(&kept) {
        return Err(format!(
            "info shows the wrong recorded environment\n{}",
            info.describe()
        ));
    }
    let packed = dir.join("env.crtpack");
    pack(bins, dir, &trace, &packed)?;
    let unpacked = dir.join("unpacked");
    pack::unpack(&packed, &unpacked).map_err(|e| format!("unpack: {e}"))?;
    let mut files = vec![packed.clone()];
    all_files(&unpacked, &mut files)?;
    if files.len() < 4 {
        return Err(format!("the packed trace unpacked to only {files:?}"));
    }
    for f in &files {
        let b = std::fs::read(f).map_err(|e| e.to_string())?;
        if b.windows(token.len()).any(|w| w == token.as_bytes()) {
            return Err(format!("{} holds the token", f.display()));
        }
    }
    Ok(())
}

/// The PR comment's command, against a local fake of GitHub's API: `fetch ARTIFACT_URL
/// --replay` downloads the zip through the API's redirect, verifies the packed trace and
/// replays it exactly; without a token, one clean error line.
fn fetch_and_replay_from_local_server(bins: &Binaries, dir: &Path) -> Result<(), String> {
    use std::io::Write as _;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let prog = dir.join("prog/hello");
    copy(&bins.example("hello"), &prog)?;
    let trace = dir.join("traces/hello-seed.trace");
    let rec = record(bins, dir, &trace, &prog, &[], &[])?;
    if rec.status != Status::Code(0) {
        return Err(format!("recording failed\n{}", rec.describe()));
    }
    let packed = dir.join("hello-seed.crtpack");
    pack(bins, dir, &trace, &packed)?;
    std::fs::remove_dir_all(dir.join("prog")).map_err(|e| e.to_string())?;
    remove_trace_and_store(&trace)?;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file(
        "hello-seed.crtpack",
        zip::write::SimpleFileOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    z.write_all(&std::fs::read(&packed).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let zip = z.finish().map_err(|e| e.to_string())?.into_inner();
    std::fs::remove_file(&packed).map_err(|e| e.to_string())?;

    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/repos/octo/proj/actions/artifacts/31"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "id": 31, "name": "record-test-traces", "size_in_bytes": zip.len(), "expired": false
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/octo/proj/actions/artifacts/31/zip"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("Location", format!("{}/blob/31.zip", server.uri()).as_str()),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/blob/31.zip"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(zip))
            .mount(&server)
            .await;
        server
    });
    let url = "https://github.com/octo/proj/actions/runs/7/artifacts/31";
    let uri = server.uri();
    let args = [os("fetch"), os(url), os("--replay")];
    let env = [("GITHUB_TOKEN", "t0k"), ("GITHUB_API_URL", uri.as_str())];
    let rep = run(bins, dir, &args, &env)?;
    // fetch prints the replay command on stdout before replaying.
    let expected = format!(
        "cargo record-test replay -a {}\n",
        dir.join("target/record-test/fetched/31/hello-seed.crtpack")
            .display()
    );
    let mut rec2 = rec.clone();
    rec2.stdout = [expected.as_bytes(), &rec.stdout].concat();
    if rep.status != rec.status || rep.stdout != rec2.stdout {
        return Err(format!(
            "fetch --replay differs from the recording\n{}\n{}",
            rec.describe(),
            rep.describe()
        ));
    }
    eprintln!(
        "fetch + replay from the local server: {:.3} s",
        rep.elapsed.as_secs_f64()
    );
    let no_token = run_with_timeout(
        crt(bins, dir, &args, &[("GITHUB_API_URL", uri.as_str())]).env_remove("GITHUB_TOKEN"),
        Input::Null,
        timeout(),
    )?;
    check_clean_error(&no_token, EXIT_BAD_INPUT, true)?;
    if !no_token.stderr_str().contains("GITHUB_TOKEN") {
        return Err(format!("no word of the token\n{}", no_token.describe()));
    }
    drop(server);
    Ok(())
}

type Case = fn(&Binaries, &Path) -> Result<(), String>;

const CASES: [(&str, Case); 5] = [
    (
        "fetch_and_replay_from_local_server",
        fetch_and_replay_from_local_server,
    ),
    (
        "packed_replay_after_program_dir_deleted",
        program_dir_deleted,
    ),
    ("packed_replay_of_rebuilt_test_binary", test_binary_rebuilt),
    (
        "corrupted_packed_files_give_one_line_errors",
        corrupted_packed_files,
    ),
    (
        "ci_secrets_never_reach_the_packed_trace",
        ci_secrets_scrubbed,
    ),
];

fn main() {
    let args = Arguments::from_args();
    disable_core_dumps();
    let trials = CASES
        .iter()
        .map(|&(name, case)| {
            Trial::test(name, move || {
                let bins = binaries()?;
                let mut tmp = TempDir::new(name).map_err(|e| format!("temp dir: {e}"))?;
                case(bins, tmp.path()).map_err(|e| {
                    tmp.keep();
                    Failed::from(format!("{e}\n\nfiles kept in {}", tmp.path().display()))
                })
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
