//! Progress is reported through [`ProgressSink`], passed into the stages; only the CLI decides how
//! it is drawn: indicatif bars on a terminal ([`Bars`]), one plain line per stage otherwise
//! ([`Lines`]), or nothing ([`Silent`]).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Instant,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub trait ProgressSink: Sync {
    /// A stage begins; `total` items when known.
    fn start(&self, stage: &str, total: Option<u64>);
    fn advance(&self, n: u64);
    fn finish(&self);
    /// A line for the user (a warning, a skipped file) that must not garble the bars.
    fn message(&self, line: &str);
}

pub struct Silent;

impl ProgressSink for Silent {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
    fn message(&self, _: &str) {}
}

/// Plain lines on stderr: one when a stage starts, one when it ends.
#[derive(Default)]
pub struct Lines {
    stage: Mutex<Option<(String, Instant)>>,
    done: AtomicU64,
}

impl ProgressSink for Lines {
    fn start(&self, stage: &str, total: Option<u64>) {
        match total {
            Some(n) => eprintln!("{stage}: {n} to do"),
            None => eprintln!("{stage}..."),
        }
        self.done.store(0, Ordering::Relaxed);
        *self.stage.lock().expect("progress lock") = Some((stage.to_string(), Instant::now()));
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    fn finish(&self) {
        if let Some((stage, t)) = self.stage.lock().expect("progress lock").take() {
            let done = self.done.load(Ordering::Relaxed);
            eprintln!("{stage}: {done} done in {:.1}s", t.elapsed().as_secs_f64());
        }
    }
    fn message(&self, line: &str) {
        eprintln!("{line}");
    }
}

/// indicatif bars on stderr.
#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl ProgressSink for Bars {
    fn start(&self, stage: &str, total: Option<u64>) {
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{prefix:>8} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{prefix:>8} {spinner} {pos}")
                    .expect("valid template"),
            ),
        };
        bar.set_prefix(stage.to_string());
        *self.bar.lock().expect("progress lock") = Some(bar);
    }
    fn advance(&self, n: u64) {
        if let Some(bar) = &*self.bar.lock().expect("progress lock") {
            bar.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish();
        }
    }
    fn message(&self, line: &str) {
        match &*self.bar.lock().expect("progress lock") {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}
