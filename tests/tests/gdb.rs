//! End-to-end tests of the gdb server (issue 13): real gdb in batch mode against replays of
//! example programs served by `cargo record-test replay --serve`, compared with what a live
//! forward gdb session on the same program shows: values at successive breakpoint hits, step,
//! next and finish, threads, `monitor when` and `-g EVENT`, and backwards: reverse-continue,
//! reverse-step/next/finish/stepi, a watchpoint found again in the thread that wrote it, and a
//! chaos-caught flaky test's failure traced back to the racing write.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use tests::{
    build_binaries, disable_core_dumps, run_with_timeout, Binaries, Input, Status, TempDir,
};

const LIMIT: Duration = Duration::from_secs(120);

fn bins() -> Result<&'static Binaries, Failed> {
    static BINS: OnceLock<Result<Binaries, String>> = OnceLock::new();
    BINS.get_or_init(build_binaries)
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))
}

/// Record `prog` into `dir/NAME.trace` (optionally under chaos with `seed`).
fn record(b: &Binaries, dir: &Path, prog: &Path, args: &[&str]) -> Result<PathBuf, Failed> {
    let name = prog.file_name().unwrap_or_default().to_string_lossy();
    let trace = dir.join(format!("{name}.trace"));
    let mut cmd = Command::new(&b.crt);
    cmd.arg("record")
        .arg("-o")
        .arg(&trace)
        .arg("--")
        .arg(prog)
        .args(args);
    let out = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    if out.status != Status::Code(0) {
        return Err(format!("recording failed:\n{}", out.describe()).into());
    }
    Ok(trace)
}

/// `cargo record-test replay --serve 0 [ARGS] TRACE`, running; killed on drop.
struct Server {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(b: &Binaries, trace: &Path, args: &[&str]) -> Result<Server, Failed> {
        let mut child = Command::new(&b.crt)
            .args(["replay", "--serve", "0"])
            .args(args)
            .arg(trace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", b.crt.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().ok_or("no stderr pipe")?;
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port.parse::<u16>().ok());
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
            let _ = tx.send(None);
        });
        let port = match rx.recv_timeout(LIMIT) {
            Ok(Some(p)) => p,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the server did not say where it listens:\n{}",
                    stderr.lock().unwrap()
                )
                .into());
            }
        };
        Ok(Server {
            child,
            port,
            stderr,
        })
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait for the server to exit by itself (after gdb left), with its status.
    fn wait(mut self) -> Result<Status, Failed> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(Status::of(st));
            }
            if Instant::now() > deadline {
                return Err(
                    format!("the server did not exit after gdb left:\n{}", self.stderr()).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run gdb in batch mode with these commands; its stdout and stderr together.
fn gdb(args: &[String], prog: Option<&Path>) -> Result<String, Failed> {
    let mut cmd = Command::new("gdb");
    cmd.args([
        "-batch",
        "-nx",
        "-ex",
        "set pagination off",
        "-ex",
        "set width 0",
    ]);
    for a in args {
        cmd.arg("-ex").arg(a);
    }
    if let Some(p) = prog {
        cmd.arg(p);
    }
    let out = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    Ok(format!("{}{}", out.stdout_str(), out.stderr_str()))
}

/// gdb on the replay served by `server`, then `cmds`.
fn gdb_replay(server: &Server, cmds: &[&str]) -> Result<String, Failed> {
    let mut args = vec![
        "set sysroot /".to_string(),
        format!("target remote 127.0.0.1:{}", server.port),
    ];
    args.extend(cmds.iter().map(|c| c.to_string()));
    gdb(&args, None)
}

/// gdb running `prog` live, then `cmds` (the first of which is usually `run`).
fn gdb_live(prog: &Path, cmds: &[&str]) -> Result<String, Failed> {
    let args: Vec<String> = cmds.iter().map(|c| c.to_string()).collect();
    gdb(&args, Some(prog))
}

/// What gdb printed as values (`$N = ...`, `Value returned is $N = ...`), in order.
fn values(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let i = l.find('$')?;
            let rest = &l[i + 1..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            (digits > 0 && rest[digits..].starts_with(" = "))
                .then(|| rest[digits + 3..].trim().to_string())
        })
        .collect()
}

/// The `info symbol $pc` answers (function + offset), in order.
fn symbols(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains(" in section ") && !l.starts_with("warning"))
        .map(|l| {
            l.split(" in section ")
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .collect()
}

/// The event number `monitor when` printed last.
fn when(out: &str) -> Result<u64, Failed> {
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix("Current event: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no `Current event:` in gdb's output:\n{out}").into())
}

fn check_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    live: &T,
    replay: &T,
    out: &str,
) -> Result<(), Failed> {
    if live != replay {
        return Err(format!(
            "{what}: live gdb shows {live:?}, the replay {replay:?}\n--- replay's gdb ---\n{out}"
        )
        .into());
    }
    Ok(())
}

fn repeat(cmds: &[&'static str], n: usize) -> Vec<&'static str> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.extend_from_slice(cmds);
    }
    v
}

// ----------------------------------------------------------------------------------------------
// Forward

/// Values of variables at successive hits of a breakpoint are those of a live session.
fn breakpoint_hits_match_live() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-hits")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let per_hit = ["continue", "p i", "p *total"];
    let mut live_cmds = vec!["break gdb_counter::bump", "run", "p i", "p *total"];
    live_cmds.extend(repeat(&per_hit, 4));
    let live = values(&gdb_live(&prog, &live_cmds)?);
    let server = Server::start(b, &trace, &[])?;
    let mut cmds = vec!["break gdb_counter::bump"];
    cmds.extend(repeat(&per_hit, 5));
    let out = gdb_replay(&server, &cmds)?;
    check_eq("i and *total at each hit", &live, &values(&out), &out)?;
    if live.len() != 10 {
        return Err(format!("live gdb saw {} values, not 10: {live:?}", live.len()).into());
    }
    Ok(())
}

/// step (into a call), next, finish (with the returned value) and stepi land where they do live.
fn step_next_finish_match_live() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-step")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let walk = [
        "info symbol $pc",
        "step",
        "info symbol $pc",
        "finish",
        "info symbol $pc",
        "next",
        "info symbol $pc",
        "next",
        "info symbol $pc",
        "stepi",
        "info symbol $pc",
        "finish",
        "info symbol $pc",
        "next",
        "info symbol $pc",
    ];
    let mut live_cmds = vec!["break gdb_counter::bump if i == 2", "run"];
    live_cmds.extend(walk);
    let live_out = gdb_live(&prog, &live_cmds)?;
    let server = Server::start(b, &trace, &[])?;
    let mut cmds = vec!["break gdb_counter::bump if i == 2", "continue"];
    cmds.extend(walk);
    let out = gdb_replay(&server, &cmds)?;
    check_eq(
        "where each step lands",
        &symbols(&live_out),
        &symbols(&out),
        &out,
    )?;
    check_eq(
        "the values finish returned",
        &values(&live_out),
        &values(&out),
        &out,
    )?;
    if !symbols(&out)
        .iter()
        .any(|s| s.starts_with("gdb_counter::square"))
    {
        return Err(format!("step did not enter square:\n{out}").into());
    }
    Ok(())
}

/// Both threads are listed with recorded ids; `thread N` switches to each one's own stack.
fn threads_are_listed_and_switched() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-threads")?;
    let prog = b.example("gdb_threads");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let out = gdb_replay(
        &server,
        &[
            "break gdb_threads::worker",
            "continue",
            "info threads",
            "p $_thread",
            "bt",
            "thread 1",
            "p $_thread",
            "bt",
            "thread 2",
            "p $_thread",
        ],
    )?;
    let listed = out
        .lines()
        .filter(|l| l.contains("Thread ") && l.contains("recorded tid"))
        .count();
    if listed != 2 {
        return Err(format!("`info threads` lists {listed} threads, not 2:\n{out}").into());
    }
    let v = values(&out);
    if v != ["2", "1", "2"] {
        return Err(format!("thread switches gave $_thread {v:?}, not 2, 1, 2:\n{out}").into());
    }
    let after_thread1 = out.split("[Switching to thread 1").nth(1).unwrap_or("");
    if !after_thread1.contains("gdb_threads::main") {
        return Err(format!("thread 1's backtrace does not reach main:\n{out}").into());
    }
    if !out.contains("gdb_threads::worker") {
        return Err(format!("the worker thread is not in worker():\n{out}").into());
    }
    Ok(())
}

/// `monitor when` counts up as the replay runs, `-g EVENT` starts at that event (where `when`
/// says), and `monitor help` lists the commands.
fn when_and_goto() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-when")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let out = gdb_replay(
        &server,
        &[
            "monitor help",
            "monitor when",
            "break gdb_counter::bump if i == 3",
            "continue",
            "monitor when",
        ],
    )?;
    let at_start: u64 = out
        .lines()
        .filter_map(|l| l.strip_prefix("Current event: "))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .next()
        .ok_or_else(|| format!("no `Current event:`:\n{out}"))?;
    let at_hit = when(&out)?;
    if !out.contains("when") || !out.contains("monitor commands") {
        return Err(format!("`monitor help` does not list `when`:\n{out}").into());
    }
    if at_hit <= at_start {
        return Err(
            format!("event {at_hit} at the third hit is not after {at_start}:\n{out}").into(),
        );
    }
    let server = Server::start(b, &trace, &["-g", &at_hit.to_string()])?;
    let out = gdb_replay(
        &server,
        &["monitor when", "break gdb_counter::bump", "continue", "p i"],
    )?;
    check_eq("the event -g started at", &at_hit, &when(&out)?, &out)?;
    check_eq(
        "i at the next hit after -g",
        &vec!["4".to_string()],
        &values(&out),
        &out,
    )?;
    Ok(())
}

/// `replay -a -M` tags each output with its event number; `-g` with that number starts the
/// debugger where `monitor when` says that number, just before that output.
fn marked_events_and_goto_agree() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-mark")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let mut cmd = Command::new(&b.crt);
    cmd.args(["replay", "-a", "-M"]).arg(&trace);
    let marked = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    let mut cmd = Command::new(&b.crt);
    cmd.args(["replay", "-a"]).arg(&trace);
    let plain = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    if marked.status != plain.status {
        return Err(format!("-M exits with {}, -a with {}", marked.status, plain.status).into());
    }
    let text = marked.stdout_str();
    let untagged: String = text
        .lines()
        .map(|l| match l.strip_prefix("[event ") {
            Some(r) => r.split_once("] ").map(|(_, rest)| rest).unwrap_or(r),
            None => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    check_eq(
        "the output without its tags",
        &plain.stdout_str(),
        &untagged,
        &text,
    )?;
    let event: u64 = text
        .lines()
        .find(|l| l.contains("step 3:"))
        .and_then(|l| l.strip_prefix("[event "))
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no tagged `step 3:` line:\n{text}"))?;
    let server = Server::start(b, &trace, &["-g", &event.to_string()])?;
    let out = gdb_replay(
        &server,
        &["monitor when", "break gdb_counter::bump", "continue", "p i"],
    )?;
    check_eq("the event -g started at", &event, &when(&out)?, &out)?;
    check_eq(
        "i at the next hit",
        &vec!["4".to_string()],
        &values(&out),
        &out,
    )?;
    Ok(())
}

/// gdb reads the stored executable and libraries the replay maps, fs_base (thread-locals) and
/// the auxv; a memory write is allowed with a warning.
fn files_registers_and_writes() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-files")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let out = gdb_replay(
        &server,
        &[
            "info auxv",
            "break gdb_counter::bump",
            "continue",
            "info sharedlibrary",
            "p $fs_base != 0",
            "p $gs_base",
            "info proc",
            "set var *total = 1000",
            "p *total",
            "kill",
        ],
    )?;
    // The store of mapped files is beside the trace directory.
    let trace_dir = std::fs::canonicalize(tmp.path())?.join("files");
    let exe_line = out
        .lines()
        .find(|l| l.starts_with("Reading symbols from"))
        .unwrap_or("");
    if !exe_line.contains(&*trace_dir.to_string_lossy()) {
        return Err(format!("gdb did not load the stored executable:\n{out}").into());
    }
    if !out
        .lines()
        .any(|l| l.contains("libc.so") && l.contains("Yes"))
    {
        return Err(format!("libc's symbols are not loaded:\n{out}").into());
    }
    if !out.contains("AT_ENTRY") || out.contains("AT_SYSINFO_EHDR") {
        return Err(format!("the auxv is not the program's:\n{out}").into());
    }
    check_eq(
        "values",
        &vec!["true".to_string(), "0".to_string(), "1000".to_string()],
        &values(&out),
        &out,
    )?;
    let _ = server.wait()?;
    Ok(())
}

/// Bad input: a clear one-line error and exit code 2, no panic, no hang.
fn bad_input() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-bad")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    for args in [
        vec!["replay", "--serve", "0", "/nonexistent/x.trace"],
        vec![
            "replay",
            "--serve",
            "0",
            "-g",
            "99999999",
            trace.to_str().unwrap(),
        ],
    ] {
        let mut cmd = Command::new(&b.crt);
        cmd.args(&args);
        let out = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
        tests::check_clean_error(&out, tests::EXIT_BAD_INPUT, false)
            .map_err(|e| format!("{args:?}: {e}"))?;
    }
    Ok(())
}

/// gdb's Ctrl-C (0x03 on the connection) interrupts a long continue: spoken over the raw
/// protocol, as gdb does, since batch gdb cannot be interrupted mid-command.
fn ctrl_c_interrupts_a_continue() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-ctrlc")?;
    let prog = b.example("gdb_spin");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let mut s = TcpStream::connect(("127.0.0.1", server.port))?;
    s.set_read_timeout(Some(LIMIT))?;
    let send = |s: &mut TcpStream, body: &str| -> std::io::Result<()> {
        let sum = body.bytes().fold(0u8, |a, c| a.wrapping_add(c));
        s.write_all(format!("${body}#{sum:02x}").as_bytes())
    };
    // Reads one packet's body (acknowledging it).
    let recv = |s: &mut TcpStream| -> Result<String, Failed> {
        let mut body = Vec::new();
        let mut b = [0u8; 1];
        loop {
            s.read_exact(&mut b)?;
            if b[0] == b'$' {
                break;
            }
        }
        loop {
            s.read_exact(&mut b)?;
            if b[0] == b'#' {
                break;
            }
            body.push(b[0]);
        }
        let mut sum = [0u8; 2];
        s.read_exact(&mut sum)?;
        s.write_all(b"+")?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    send(&mut s, "?")?;
    let _ = recv(&mut s)?;
    send(&mut s, "vCont;c")?;
    std::thread::sleep(Duration::from_millis(500));
    s.write_all(&[0x03])?;
    let stop = recv(&mut s)?;
    if !stop.starts_with("T02") {
        return Err(format!("after Ctrl-C the stop reply is `{stop}`, not SIGINT (T02)").into());
    }
    send(&mut s, "qRcmd,7768656e")?; // "when"
                                     // Console output comes as `O` + hex packets, then `OK` ends the command.
    let mut said = Vec::new();
    let mut reply = recv(&mut s)?;
    while reply.starts_with('O') && reply != "OK" {
        said.extend(
            (1..reply.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(reply.get(i..i + 2)?, 16).ok()),
        );
        reply = recv(&mut s)?;
    }
    let said = String::from_utf8_lossy(&said);
    if reply != "OK" || !said.contains("Current event: ") {
        return Err(format!("`monitor when` answered `{said}` then `{reply}`").into());
    }
    send(&mut s, "k")?;
    drop(s);
    let _ = server.wait();
    Ok(())
}

/// A multi-threaded C program (pthreads), compiled here: breakpoint hits in the worker thread
/// have the values of a live session, both threads are listed, and reverse-continue goes back
/// through the same hits.
fn c_program_with_threads() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-c")?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c/gdb_pthreads.c");
    let prog = tmp.path().join("gdb_pthreads");
    let mut cc = Command::new("cc");
    cc.args(["-g", "-O0", "-pthread", "-o"])
        .arg(&prog)
        .arg(&src);
    let out = run_with_timeout(&mut cc, Input::Null, LIMIT)?;
    if out.status != Status::Code(0) {
        return Err(format!("cc failed:\n{}", out.describe()).into());
    }
    let trace = record(b, tmp.path(), &prog, &[])?;
    let per_hit = ["p k", "p acc", "continue"];
    let mut live_cmds = vec!["break fold", "run"];
    live_cmds.extend(repeat(&per_hit, 6));
    let live = values(&gdb_live(&prog, &live_cmds)?);
    let server = Server::start(b, &trace, &[])?;
    let mut cmds = vec!["break fold", "continue"];
    cmds.extend(repeat(&per_hit, 6));
    cmds.extend(["reverse-continue", "info threads", "p k"]);
    cmds.extend(repeat(&["reverse-continue", "p k"], 2));
    let out = gdb_replay(&server, &cmds)?;
    let v = values(&out);
    let forward: Vec<String> = v.iter().take(12).cloned().collect();
    check_eq("k and acc at each hit of fold", &live, &forward, &out)?;
    let back: Vec<String> = v.iter().skip(12).cloned().collect();
    check_eq(
        "k at the hits reverse-continue finds",
        &vec!["6".to_string(), "5".to_string(), "4".to_string()],
        &back,
        &out,
    )?;
    let listed = out.lines().filter(|l| l.contains("recorded tid")).count();
    if listed != 2 {
        return Err(format!("`info threads` lists {listed} threads, not 2:\n{out}").into());
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// Backwards

/// reverse-continue finds the earlier hits of a breakpoint again, with the values they had, and
/// the start of the trace is "No more reverse-execution history".
fn reverse_continue_finds_earlier_hits() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-rc")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let mut cmds = vec!["break gdb_counter::bump"];
    cmds.extend(repeat(&["continue", "p i"], 5));
    cmds.extend(repeat(&["reverse-continue", "p i"], 4));
    cmds.push("reverse-continue");
    cmds.push("monitor when");
    cmds.extend(repeat(&["continue", "p i"], 2));
    let out = gdb_replay(&server, &cmds)?;
    let want: Vec<String> = ["1", "2", "3", "4", "5", "4", "3", "2", "1", "1", "2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    check_eq(
        "i at each hit, forwards then backwards",
        &want,
        &values(&out),
        &out,
    )?;
    if !out.contains("No more reverse-execution history") {
        return Err(
            format!("the start of the trace was not reported as gdb expects:\n{out}").into(),
        );
    }
    Ok(())
}

/// Going back in a process of four threads starts from a checkpoint that re-creates the three
/// the fork does not copy (multi-threaded processes were once never checkpointed, and each
/// reverse command replayed from the start): reverse-continue finds the earlier rounds, the
/// threads are all there, and the replay then runs on to the exit, its threads joined
/// (a re-created thread's exit must clear its tid word as the original's would).
fn reverse_from_a_checkpoint_of_four_threads() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-mt-cp")?;
    let prog = b.example("gdb_spin");
    let trace = record(b, tmp.path(), &prog, &["12", "30000000", "3"])?;
    let server = Server::start(b, &trace, &[])?;
    let cmds = [
        "break gdb_spin::round",
        "ignore 1 11",
        "continue",
        "p i",
        "monitor checkpoints",
        "reverse-continue",
        "p i",
        "reverse-continue",
        "p i",
        "info threads",
        "delete",
        "continue",
    ];
    let out = gdb_replay(&server, &cmds)?;
    check_eq(
        "i at the last round, then going back",
        &vec!["11".to_string(), "10".to_string(), "9".to_string()],
        &values(&out),
        &out,
    )?;
    if !out.contains(": 4 threads") {
        return Err(format!("no checkpoint of the four threads was taken:\n{out}").into());
    }
    let threads = out
        .lines()
        .filter(|l| {
            l.trim_start()
                .trim_start_matches('*')
                .trim_start()
                .starts_with(char::is_numeric)
        })
        .filter(|l| l.contains("Thread "))
        .count();
    if threads != 4 {
        return Err(format!("`info threads` lists {threads} threads, not 4:\n{out}").into());
    }
    // The trace ends at the exit: gdb hears of the history's end there.
    let end = out.rsplit_once("Id   Target Id").map_or("", |(_, e)| e);
    if !(end.contains("No more reverse-execution history") && end.contains("_exit")) {
        return Err(format!(
            "the replay did not run on to the exit:\n{out}\n--- server ---\n{}",
            server.stderr()
        )
        .into());
    }
    Ok(())
}

/// A breakpoint in libc, set before libc is mapped in the new process a reverse command
/// replays from, is patched when the loader maps libc (it once failed with "cannot access
/// memory" and ended the session): reverse-continue finds the earlier `write` again.
fn library_breakpoint_armed_again_going_back() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-lib")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let cmds = [
        "set breakpoint pending on",
        "break -qualified write",
        "continue",
        "p $rdx",
        "continue",
        "p $rdx",
        "reverse-continue",
        "p $rdx",
        "p *(char *)$rsi@$rdx",
    ];
    let out = gdb_replay(&server, &cmds)?;
    let v = values(&out);
    // "step 1: total 1\n" (16 bytes), "step 2: total 5\n", then the first again.
    check_eq(
        "the bytes each write call writes",
        &vec![
            "16".to_string(),
            "16".to_string(),
            "16".to_string(),
            "\"step 1: total 1\\n\"".to_string(),
        ],
        &v,
        &out,
    )?;
    Ok(())
}

/// A watchpoint on a buffer that `read` fills: replay emulates the call (the replayer writes the
/// buffer, no instruction of the program does), and the watchpoint once never fired. Now continue
/// stops after the call, reverse-continue before it, and continue again after it.
fn watchpoint_on_memory_an_emulated_syscall_writes() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-read")?;
    let prog = b.example("gdb_read");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let cmds = [
        "break gdb_read::fill",
        "continue",
        "up",
        "watch -l buf",
        "continue",
        "reverse-continue",
        "continue",
    ];
    let out = gdb_replay(&server, &cmds)?;
    let elf = r#"{__0 = "\177ELF\002\001\001"}"#;
    let zero = r#"{__0 = "\000\000\000\000\000\000\000"}"#;
    let changes: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Old value = "))
        .zip(out.lines().filter_map(|l| l.strip_prefix("New value = ")))
        .map(|(o, n)| (o.to_string(), n.to_string()))
        .collect();
    let want = vec![
        (zero.to_string(), elf.to_string()),
        (elf.to_string(), zero.to_string()),
        (zero.to_string(), elf.to_string()),
    ];
    check_eq("the watched buffer's changes", &want, &changes, &out)
}

/// Every path under `dir` that is a symlink or a directory named `named`.
fn links_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.file_type().is_symlink() || p.file_name().is_some_and(|n| n == "named") {
            out.push(p);
        } else if m.is_dir() {
            out.extend(links_under(&p));
        }
    }
    out
}

/// gdb's library list names libc `libc.so.6`, and serving it writes nothing into the trace
/// (its symlinks once went into the trace's `files/named/`).
fn library_list_leaves_the_trace_unwritten() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-libnames")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let out = gdb_replay(&server, &["break main", "continue", "info sharedlibrary"])?;
    if !out.contains("libc.so.6") {
        return Err(format!("libc is not listed as libc.so.6:\n{out}").into());
    }
    let written = links_under(tmp.path());
    if !written.is_empty() {
        return Err(format!("the trace holds links the server made: {written:?}").into());
    }
    Ok(())
}

/// Two breakpoints hit one after the other in one segment (Rust's `core::fmt::write`, then
/// libc's `write`): reverse-continue from the second finds the first, the hit that ended the
/// way to the current moment's first operation (it was once skipped, and gdb went to the start).
fn reverse_continue_to_the_hit_before_in_the_same_segment() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-seg")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let cmds = [
        "set breakpoint pending on",
        "break core::fmt::write",
        "break -qualified write",
        "continue",
        "info symbol $pc",
        "continue",
        "info symbol $pc",
        "reverse-continue",
        "info symbol $pc",
    ];
    let out = gdb_replay(&server, &cmds)?;
    let s = symbols(&out);
    if s.len() != 3 || !s[0].contains("::fmt::write") || !s[1].starts_with("write") {
        return Err(format!("expected core::fmt::write, then write: {s:?}\n{out}").into());
    }
    check_eq("reverse-continue back to the first hit", &s[0], &s[2], &out)?;
    Ok(())
}

/// reverse-step, reverse-next, reverse-finish and reverse-stepi undo what step, next, finish and
/// stepi did: each lands where the forward command had started.
fn reverse_step_next_finish() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-rs")?;
    let prog = b.example("gdb_counter");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let out = gdb_replay(
        &server,
        &[
            "break gdb_counter::bump if i == 3",
            "continue",
            "info symbol $pc", // A: bump, first line
            "next",
            "info symbol $pc", // B: bump, after square()
            "reverse-next",
            "info symbol $pc", // = A
            "step",
            "info symbol $pc", // C: in square
            "reverse-step",
            "info symbol $pc", // = A
            "stepi",
            "stepi",
            "info symbol $pc", // D
            "reverse-stepi",
            "reverse-stepi",
            "info symbol $pc", // = A
            "reverse-finish",
            "info symbol $pc", // E: main, at the call
            "p i",
            // Without the breakpoint, `next` runs the whole call (with it, gdb stops in bump).
            "delete",
            "next",
            "p total",
            "reverse-next",
            "p total",
            "p i",
        ],
    )?;
    let s = symbols(&out);
    if s.len() != 8 {
        return Err(format!("expected 8 positions, got {s:?}:\n{out}").into());
    }
    let a = &s[0];
    check_eq("reverse-next back to the start of bump", a, &s[2], &out)?;
    check_eq("reverse-step back out of square", a, &s[4], &out)?;
    check_eq("two reverse-stepi after two stepi", a, &s[6], &out)?;
    if !s[3].starts_with("gdb_counter::square") {
        return Err(format!("step did not enter square: {s:?}\n{out}").into());
    }
    if !s[7].starts_with("gdb_counter::main") {
        return Err(format!("reverse-finish did not return to main: {s:?}\n{out}").into());
    }
    let v = values(&out);
    check_eq(
        "i in main after reverse-finish, total after the call and before it, i again",
        &vec![
            "3".to_string(),
            "14".to_string(),
            "5".to_string(),
            "3".to_string(),
        ],
        &v,
        &out,
    )?;
    Ok(())
}

/// A watchpoint on the shared variable, from the end of the trace backwards: each write is found
/// in the thread that made it, newest first (the worker's 103, then main's 3, then 102).
fn watchpoint_reverse_finds_the_writer() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-watch")?;
    let prog = b.example("gdb_threads");
    let trace = record(b, tmp.path(), &prog, &[])?;
    let server = Server::start(b, &trace, &[])?;
    let out = gdb_replay(
        &server,
        &[
            "break gdb_threads::worker",
            "continue",
            "python gdb.set_convenience_variable('lwp', gdb.selected_thread().ptid[1])",
            "p $lwp",
            "delete",
            "continue",
            "watch -l gdb_threads::SHARED.v.value",
            "reverse-continue",
            "p gdb_threads::SHARED.v.value",
            "python gdb.set_convenience_variable('lwp', gdb.selected_thread().ptid[1])",
            "p $lwp",
            "reverse-continue",
            "p gdb_threads::SHARED.v.value",
            "python gdb.set_convenience_variable('lwp', gdb.selected_thread().ptid[1])",
            "p $lwp",
            "reverse-continue",
            "p gdb_threads::SHARED.v.value",
            "python gdb.set_convenience_variable('lwp', gdb.selected_thread().ptid[1])",
            "p $lwp",
        ],
    )?;
    let v = values(&out);
    // In reverse, gdb stops before the writing instruction: the value is the one before it.
    // Threads by their (recorded) LWP: gdb numbers a thread anew when it comes back after its
    // exit, as it does going back from the end.
    let worker = v.first().cloned().unwrap_or_default();
    let main = v.get(4).cloned().unwrap_or_default();
    if main == worker {
        return Err(format!("main's write was found in the worker's thread:\n{out}").into());
    }
    let want = vec![
        worker.clone(),
        "3".to_string(),
        worker.clone(),
        "102".to_string(),
        main,
        "2".to_string(),
        worker,
    ];
    check_eq(
        "the worker's thread, then (value before the write, writer) newest first",
        &want,
        &v,
        &out,
    )?;
    if !out.contains("watchpoint") && !out.contains("Watchpoint") {
        return Err(format!("no watchpoint stop:\n{out}").into());
    }
    Ok(())
}

/// The end-to-end story: a chaos-recorded failure of examples/flaky's `lost_update`, replayed
/// under gdb; from the panic, reverse-continue with a watchpoint on the counter lands on the
/// last write, made by a worker thread, not the one that panicked.
fn flaky_failure_traced_back_to_the_racing_write() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("gdb-flaky")?;
    let exe = b.example("flaky");
    let mut failing = None;
    for seed in 1..=60u64 {
        let trace = tmp.path().join(format!("lu-{seed}.trace"));
        let mut cmd = Command::new(&b.crt);
        cmd.args(["record", "--chaos", "--seed", &seed.to_string(), "-o"])
            .arg(&trace)
            .arg("--")
            .arg(&exe)
            .args(["--exact", "lost_update"])
            .env("RUST_BACKTRACE", "0");
        let rec = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
        if rec.status == Status::Code(101) {
            failing = Some(trace);
            break;
        }
        let _ = std::fs::remove_dir_all(&trace);
    }
    let trace = failing.ok_or("lost_update did not fail in 60 chaos runs")?;
    let server = Server::start(b, &trace, &[])?;
    let out = gdb_replay(
        &server,
        &[
            "break rust_panic",
            "continue",
            "p $_thread",
            "bt",
            "watch -l flaky::lost_update::COUNTER.v.value",
            "reverse-continue",
            "p $_thread",
            "bt",
        ],
    )?;
    let v = values(&out);
    let [panicked, writer] = v.as_slice() else {
        return Err(format!("expected two thread numbers, got {v:?}:\n{out}").into());
    };
    if panicked == writer {
        return Err(format!(
            "the last write was found in the panicking thread:\n{out}\n--- server ---\n{}",
            server.stderr()
        )
        .into());
    }
    let after = out.split("watchpoint").last().unwrap_or("");
    if !after.contains("lost_update") || !after.contains("closure") {
        return Err(
            format!("the write is not in a worker's closure of lost_update:\n{out}").into(),
        );
    }
    Ok(())
}

fn main() {
    disable_core_dumps();
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test("breakpoint_hits_match_live", breakpoint_hits_match_live),
        Trial::test("step_next_finish_match_live", step_next_finish_match_live),
        Trial::test(
            "threads_are_listed_and_switched",
            threads_are_listed_and_switched,
        ),
        Trial::test("when_and_goto", when_and_goto),
        Trial::test("marked_events_and_goto_agree", marked_events_and_goto_agree),
        Trial::test("files_registers_and_writes", files_registers_and_writes),
        Trial::test("bad_input", bad_input),
        Trial::test(
            "watchpoint_on_memory_an_emulated_syscall_writes",
            watchpoint_on_memory_an_emulated_syscall_writes,
        ),
        Trial::test(
            "library_list_leaves_the_trace_unwritten",
            library_list_leaves_the_trace_unwritten,
        ),
        Trial::test("ctrl_c_interrupts_a_continue", ctrl_c_interrupts_a_continue),
        Trial::test("c_program_with_threads", c_program_with_threads),
        Trial::test(
            "reverse_continue_finds_earlier_hits",
            reverse_continue_finds_earlier_hits,
        ),
        Trial::test("reverse_step_next_finish", reverse_step_next_finish),
        Trial::test(
            "reverse_continue_to_the_hit_before_in_the_same_segment",
            reverse_continue_to_the_hit_before_in_the_same_segment,
        ),
        Trial::test(
            "reverse_from_a_checkpoint_of_four_threads",
            reverse_from_a_checkpoint_of_four_threads,
        ),
        Trial::test(
            "library_breakpoint_armed_again_going_back",
            library_breakpoint_armed_again_going_back,
        ),
        Trial::test(
            "watchpoint_reverse_finds_the_writer",
            watchpoint_reverse_finds_the_writer,
        ),
        Trial::test(
            "flaky_failure_traced_back_to_the_racing_write",
            flaky_failure_traced_back_to_the_racing_write,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
