//! One file per command, each a `run` that returns the process's exit code; [`crate::app`]
//! dispatches to them.

pub mod bench;
pub mod completions;
pub mod doctor;
pub mod eval;
pub mod man;
pub mod organize;
pub mod people;
pub mod review;
pub mod setup;
pub mod version;

use std::path::Path;

use anyhow::Context;

use crate::{
    cache::Cache,
    config::ProgressStyle,
    util::progress::{Bars, Lines, ProgressSink, Silent},
};

fn open_cache(dir: &Path) -> anyhow::Result<Cache> {
    let cache =
        Cache::open(dir).with_context(|| format!("cannot use the cache in {}", dir.display()))?;
    cache
        .recovery_note()
        .inspect(|note| eprintln!("warning: {note}"));
    Ok(cache)
}

/// Bars on a terminal, plain lines otherwise, nothing with `-q`.
fn progress_sink(style: ProgressStyle) -> Box<dyn ProgressSink> {
    match style {
        ProgressStyle::Bars => Box::<Bars>::default(),
        ProgressStyle::Plain => Box::<Lines>::default(),
        ProgressStyle::Silent => Box::new(Silent),
    }
}
