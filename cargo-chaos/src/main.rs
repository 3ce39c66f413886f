//! `cargo-record-test`: the command line. A thin layer over the recorder, the replayer and the
//! trace format; it holds no recording logic.

mod cargo_build;
mod ci_cmd;
mod cli;
mod display;
mod doctor;
mod dump;
mod event;
mod exit;
mod front;
mod gdb_cmd;
mod info;
mod junit;
mod libtest_output;
mod listing;
mod marked;
mod pack_cmd;
mod partition;
mod paths;
mod record;
mod report;
mod result_file;
mod runner;
mod secrets;
mod timing;

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
