//! `monitor` commands: `when` (the current event number, as `replay -M` tags output and
//! `replay -g` takes it) and `help`.

use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd};

use crate::error::Error;
use crate::target::ReplayTarget;

/// Each command and what it does, for `monitor help`.
const COMMANDS: &[(&str, &str)] = &[
    (
        "when",
        "print the current event number (the next event to replay; `replay -g N` starts at N)",
    ),
    ("help", "list the monitor commands"),
];

impl MonitorCmd for ReplayTarget {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), Error> {
        let cmd = String::from_utf8_lossy(cmd);
        match cmd.trim() {
            "when" => outputln!(
                out,
                "Current event: {} (of {})",
                self.session.when(),
                self.session.event_count()
            ),
            "help" | "" => {
                outputln!(out, "monitor commands of the replay server:");
                for (name, what) in COMMANDS {
                    outputln!(out, "  {name:<6} {what}");
                }
            }
            other => outputln!(
                out,
                "unknown monitor command `{other}`; `monitor help` lists them"
            ),
        }
        Ok(())
    }
}
