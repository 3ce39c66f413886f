//! `cargo-record-test`: the command line. A thin layer over the recorder, the replayer and the
//! trace format; it holds no recording logic.

mod ci_cmd;
mod cli;
mod dump;
mod exit;
mod info;
mod pack_cmd;
mod paths;
mod secrets;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `cargo record-test ARGS` runs us as `cargo-record-test record-test ARGS`.
    if args.get(1).is_some_and(|a| a == "record-test") {
        args.remove(1);
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            exit::report(&e);
            e.exit_code()
        }
    }
}
