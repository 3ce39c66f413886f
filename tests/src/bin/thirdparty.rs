//! `cargo run -p tests --bin thirdparty`: fetch and build the third-party suite (see
//! `tests/src/thirdparty.rs`) and print one line per test binary, tab-separated: its name
//! (`crate/target`), its tier (`ci`, `stress` or `known`), the reason when known to fail (else
//! `-`), the directory it runs in and the executable. For the benchmark and stress scripts.

use std::path::PathBuf;
use std::process::ExitCode;

use tests::thirdparty::{prepare, Tier};

fn main() -> ExitCode {
    // This binary lives in TARGET/PROFILE/; the suite is built under TARGET/thirdparty/.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"));
    let suite = match prepare(&target) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for tb in suite {
        let (tier, why) = match tb.entry.tier {
            Tier::Ci => ("ci", "-"),
            Tier::Stress => ("stress", "-"),
            Tier::Known(why) => ("known", why),
        };
        println!(
            "{}\t{tier}\t{why}\t{}\t{}",
            tb.entry.name(),
            tb.dir.display(),
            tb.exe.display()
        );
    }
    ExitCode::SUCCESS
}
