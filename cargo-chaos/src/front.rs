//! The front end: build, list, run under chaos.

use std::process::ExitCode;

use crate::cli::FrontArgs;
use crate::exit::Error;

pub fn run(_args: FrontArgs) -> Result<ExitCode, Error> {
    Err(Error::Usage("give a subcommand".into()))
}
