//! `monitor` commands: `when` (the current event number, as `replay -M` tags output and
//! `replay -g` takes it), `checkpoints` (where going back can start from) and `help`.

use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd};

use crate::error::Error;
use crate::target::ReplayTarget;

/// Each command and what it does, for `monitor help`.
const COMMANDS: &[(&str, &str)] = &[
    (
        "when",
        "print the current event number (the next event to replay; `replay -g N` starts at N)",
    ),
    (
        "checkpoints",
        "list the checkpoints going back starts from (their events and threads)",
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
            "checkpoints" => {
                let list = self.session.checkpoint_list();
                outputln!(out, "{} checkpoints", list.len());
                for (event, threads) in list {
                    outputln!(out, "  at event {event}: {threads} threads");
                }
            }
            "help" | "" => {
                outputln!(out, "monitor commands of the replay server:");
                for (name, what) in COMMANDS {
                    outputln!(out, "  {name:<11} {what}");
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
