//! Dispatches the validated configuration to its command ([`crate::commands`]). Nothing else.

use std::process::ExitCode;

use crate::{
    commands,
    config::{Config, Mode},
    util::exit::install_interrupt_handler,
};

pub use crate::util::exit::{EXIT_FATAL, EXIT_INTERRUPTED, EXIT_WITH_ERRORS};

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    match &config.mode {
        Mode::Setup {
            check,
            all,
            gpu,
            json,
        } => commands::setup::run(config, *check, *all, *gpu, *json),
        Mode::People(p) => commands::people::run(config, p),
        Mode::Review(r) => commands::review::run(r, &config.cache_dir),
        Mode::Organize(c) => {
            install_interrupt_handler();
            commands::organize::run(c, &config.cache_dir, config.verbose)
        }
        Mode::Bench(b) => commands::bench::run(b, &config.cache_dir),
        Mode::Doctor {
            json,
            runtime_candidates,
            ld_library_path,
            path_var,
        } => commands::doctor::run(
            config,
            *json,
            runtime_candidates,
            ld_library_path.as_deref(),
            path_var.as_deref(),
        ),
        Mode::Eval {
            organize,
            json,
            half,
        } => commands::eval::run(organize, &config.cache_dir, *json, *half, config.verbose),
        Mode::Version { runtime_candidates } => {
            commands::version::run(config.verbose, runtime_candidates)
        }
        Mode::Completions(shell) => commands::completions::run(*shell),
        Mode::Man => commands::man::run(),
    }
}
