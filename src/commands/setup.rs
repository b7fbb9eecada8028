//! `photo_organizer setup`: fetches and verifies the runtime and models ([`crate::setup`]).

use std::{io::Write, process::ExitCode};

use anyhow::Context;

use crate::{config::Config, exit::EXIT_WITH_ERRORS, setup};

pub fn run(config: &Config, check: bool, all: bool, gpu: bool) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr();
    let mut not_ready = setup::run(&config.cache_dir, check, all, &mut stderr)
        .context("setup could not fetch the runtime and models")?;
    if gpu {
        not_ready += setup::run_gpu(&config.cache_dir, check, &mut stderr)
            .context("setup --gpu could not fetch the GPU runtime and CUDA libraries")?;
    }
    if not_ready > 0 {
        writeln!(
            stderr,
            "{not_ready} file(s) missing or corrupt: run `photo_organizer setup`"
        )?;
        return Ok(ExitCode::from(EXIT_WITH_ERRORS));
    }
    Ok(ExitCode::SUCCESS)
}
