//! `photo_organizer man`: the manual page in roff, rendered by clap_mangen from the
//! command-line definition ([`crate::cli`]); `photo_organizer man | man -l -` shows it.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run() -> anyhow::Result<ExitCode> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
