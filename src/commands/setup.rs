//! `photo_organizer setup`: fetches and verifies the runtime, libheif and models ([`crate::setup::fetch`]);
//! with `--json`, lists each file's state on stdout.

use std::{io::Write, process::ExitCode};

use anyhow::Context;

use crate::{
    config::Config, output::report::print_json, setup::fetch, util::exit::EXIT_WITH_ERRORS,
};

pub fn run(
    config: &Config,
    check: bool,
    all: bool,
    gpu: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr();
    let mut quiet = std::io::sink();
    let log: &mut dyn Write = if config.quiet {
        &mut quiet
    } else {
        &mut stderr
    };
    let mut not_ready = fetch::run(&config.cache_dir, check, all, log)
        .context("setup could not fetch the runtime and models")?;
    if gpu {
        not_ready += fetch::run_gpu(&config.cache_dir, check, log)
            .context("setup --gpu could not fetch the GPU runtime and CUDA libraries")?;
    }
    if json {
        print_json(&fetch::report(&config.cache_dir, all))?;
    }
    if not_ready > 0 {
        eprintln!("{not_ready} file(s) missing or corrupt: run `photo_organizer setup`");
        return Ok(ExitCode::from(EXIT_WITH_ERRORS));
    }
    Ok(ExitCode::SUCCESS)
}
