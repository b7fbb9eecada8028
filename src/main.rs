use std::process::ExitCode;

use clap::Parser;
use photo_organizer::{app, cli::Cli, config::Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::try_from(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(app::EXIT_FATAL);
        }
    };
    match app::run(&config) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(app::EXIT_FATAL)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
