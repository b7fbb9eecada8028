//! The inference worker pool of stage 3: a rayon pool decodes photos into a bounded queue;
//! inference workers, each owning a backend, take photos from it as they come and hand each
//! photo's analysis (or error) to the calling thread, which commits them to the cache in small
//! batches before reporting them done. A panic inside a backend fails that photo only.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use po_backend_api::FaceBackend;
use rayon::prelude::*;

use crate::{
    backend::build_backend,
    budget::{decode_cost, Budget},
    cache::{Cache, StoredAnalysis},
    config::OrganizeConfig,
    decode::{DecodeError, DecodeLimits},
    faces::{analyse, prepare},
    progress::ProgressSink,
    report::{PhotoError, Stage},
};

use super::library::Item;

/// Most photos analysed between two cache commits: a killed run loses at most this many.
pub const CACHE_BATCH: usize = 8;
/// Longest time between two cache commits.
const CACHE_INTERVAL: Duration = Duration::from_millis(250);

/// How inference is spread over `threads` cores on the CPU: `(workers, threads each)`. Small
/// models gain little from splitting one run over threads (SFace: 8 ms a face on one thread,
/// about 6 on two, with a wake-up per node), so photos go to up to 4 workers, each with its
/// own sessions (about 60 MB each).
pub fn inference_plan(threads: usize) -> (usize, usize) {
    let workers = threads.clamp(1, 4);
    (workers, (threads / workers).max(1))
}

/// Counters of the work the models did.
#[derive(Default)]
pub struct Work {
    pub decoded: usize,
    pub detector_calls: usize,
    pub embedder_calls: usize,
}

/// What an inference worker hands back for one photo.
enum Outcome {
    Undecodable(String),
    Analysed(Result<StoredAnalysis, String>),
}

/// The photos to analyse (item index, sha256) and where results go.
pub struct Todo<'a> {
    pub photos: &'a [(usize, String)],
    pub items: &'a [Item],
    pub model_key: &'a str,
}

/// Runs one backend under `catch_unwind`: a panic in a native runtime or a model's edge case
/// becomes this photo's error, and the worker goes on with the next photo.
fn analyse_guarded(
    backend: &mut dyn FaceBackend,
    prepared: &crate::faces::Prepared,
) -> Result<StoredAnalysis, String> {
    match catch_unwind(AssertUnwindSafe(|| {
        #[cfg(debug_assertions)]
        inject_test_panic(prepared);
        analyse(backend, prepared)
    })) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(panic) => Err(format!(
            "the face backend crashed on this photo ({}); the run went on without it",
            panic_message(&panic)
        )),
    }
}

/// Debug builds only: `PHOTO_ORGANIZER_TEST_PANIC=W` makes the backend panic on photos `W`
/// pixels wide, so the integration tests can check that a crash fails one photo only.
#[cfg(debug_assertions)]
fn inject_test_panic(prepared: &crate::faces::Prepared) {
    if let Ok(w) = std::env::var("PHOTO_ORGANIZER_TEST_PANIC") {
        if w.parse() == Ok(prepared.rgb.width()) {
            panic!("injected test panic");
        }
    }
}

fn over_budget(cost: u64, total: u64) -> DecodeError {
    DecodeError::OverMemoryBudget {
        needs_mb: cost.div_ceil(1 << 20),
        budget_mb: total >> 20,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Per item index: its analysis, or why it has none.
pub type Results = HashMap<usize, Result<StoredAnalysis, PhotoError>>;

/// Decodes `todo` on a rayon pool and runs one inference worker per backend as photos arrive,
/// plus `more` workers that first build a backend of their own (`threads_each` threads), while
/// the others already work; this thread commits results to the cache every [`CACHE_BATCH`]
/// photos or [`CACHE_INTERVAL`], before the photos are reported done.
#[allow(clippy::too_many_arguments)]
pub fn run_workers(
    todo: &Todo,
    backends: &mut [Box<dyn FaceBackend>],
    (more, threads_each): (usize, usize),
    cache: &mut Cache,
    c: &OrganizeConfig,
    progress: &dyn ProgressSink,
    verbose: bool,
    stop: &AtomicBool,
) -> anyhow::Result<(Results, Work)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(c.threads)
        .build()
        .context("cannot start the decoding threads")?;
    let limits = DecodeLimits::default();
    crate::heif::install(&c.heif_libraries);
    let budget = Budget::new(c.max_memory_bytes);
    let budget = &budget;
    let mut work = Work::default();
    let mut results = HashMap::new();
    let mut batch: Vec<(String, StoredAnalysis)> = Vec::new();
    let mut last_commit = Instant::now();
    // Bounded in count too: at most this many decoded photos wait for the inference workers.
    let (tx, rx) = mpsc::sync_channel(c.threads * 2);
    // Shared by the workers; the one that finds this thread gone drops it, which stops the
    // decoders too.
    let decoded = Mutex::new(Some(rx));
    let (done_tx, done_rx) = mpsc::channel();
    let items = todo.items;
    progress.start("faces", Some(todo.photos.len() as u64));
    let outcome = std::thread::scope(|s| -> anyhow::Result<()> {
        s.spawn(|| {
            pool.install(|| {
                todo.photos.par_iter().for_each_with(tx, |tx, (i, _)| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let path = &items[*i].photo.path;
                    // RAW previews, unreadable headers and pixel bombs (refused by the decoder at
                    // once) are costed by their file size.
                    let cost = decode_cost(path, limits.max_pixels)
                        .unwrap_or_else(|| items[*i].photo.size.saturating_mul(2));
                    let decoded = match budget.reserve(cost) {
                        Some(room) => prepare(path, &limits).map(|p| (p, room)),
                        None => Err(over_budget(cost, budget.total())),
                    };
                    // A send fails only when the receiver has gone; nothing is left to do then.
                    let _ = tx.send((*i, decoded));
                })
            })
        });
        let work_with = |backend: &mut dyn FaceBackend, done_tx: mpsc::Sender<_>| loop {
            let next = match decoded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
            {
                Some(rx) => rx.recv(),
                None => break,
            };
            let Ok((i, prepared)) = next else { break };
            let outcome = match prepared {
                Err(e) => Outcome::Undecodable(e.to_string()),
                // The photo's memory is returned to the budget as soon as it is analysed.
                Ok((p, _room)) => Outcome::Analysed(analyse_guarded(backend, &p)),
            };
            if done_tx.send((i, outcome)).is_err() {
                decoded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                break;
            }
        };
        for backend in backends.iter_mut() {
            let done_tx = done_tx.clone();
            s.spawn(move || work_with(backend.as_mut(), done_tx));
        }
        for _ in 0..more {
            let done_tx = done_tx.clone();
            s.spawn(move || match build_backend(c, threads_each) {
                Ok(mut backend) => work_with(backend.as_mut(), done_tx),
                // The first backend, built the same way, works: the run goes on without this one.
                Err(e) => progress.message(&format!(
                    "warning: one more inference worker could not start, so fewer run: {e:#}"
                )),
            });
        }
        drop(done_tx);
        let sha_of: HashMap<usize, &String> = todo.photos.iter().map(|(i, s)| (*i, s)).collect();
        for (i, outcome) in done_rx {
            let photo = &items[i].photo;
            let error = |stage, cause: String| PhotoError {
                path: photo.path.clone(),
                stage,
                cause,
            };
            let result = match outcome {
                Outcome::Undecodable(e) => Err(error(Stage::Decode, e)),
                Outcome::Analysed(r) => {
                    work.decoded += 1;
                    work.detector_calls += 1;
                    match r {
                        Ok(a) => {
                            work.embedder_calls += a.faces.len();
                            Ok(a)
                        }
                        Err(e) => Err(error(Stage::Faces, e)),
                    }
                }
            };
            match &result {
                Err(e) => progress.message(&format!("skipped {}: {}", e.path.display(), e.cause)),
                Ok(a) => {
                    batch.push((sha_of[&i].clone(), a.clone()));
                    if batch.len() >= CACHE_BATCH || last_commit.elapsed() >= CACHE_INTERVAL {
                        cache.put_analyses(todo.model_key, &batch)?;
                        batch.clear();
                        last_commit = Instant::now();
                    }
                    if verbose {
                        progress.message(&format!(
                            "{}: {} face(s)",
                            photo.rel_path.display(),
                            a.faces.len()
                        ));
                    }
                }
            }
            results.insert(i, result);
            progress.advance(1);
        }
        cache.put_analyses(todo.model_key, &batch)?;
        Ok(())
    });
    progress.finish();
    outcome?;
    Ok((results, work))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_uses_every_core_with_at_most_four_workers() {
        assert_eq!(inference_plan(1), (1, 1));
        assert_eq!(inference_plan(2), (2, 1));
        assert_eq!(inference_plan(4), (4, 1));
        assert_eq!(inference_plan(16), (4, 4));
        assert_eq!(inference_plan(0), (1, 1));
    }
}
