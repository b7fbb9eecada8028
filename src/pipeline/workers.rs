//! The inference worker pool of stage 3: a rayon pool decodes photos into a bounded queue;
//! inference workers, each owning a backend, take photos from it as they come (up to the
//! backend's `max_batch()` of those already waiting, never waiting for more: [`take_batch`]),
//! analyse them together and hand each photo's analysis (or error) to the calling thread, which
//! commits them to the cache in small batches before reporting them done. A panic or an error
//! inside a backend fails that photo only: a failed batch is analysed again photo by photo.

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
use po_backend_api::{BackendInfo, FaceBackend};
use rayon::prelude::*;

use crate::{
    cache::{Cache, StoredAnalysis},
    config::OrganizeConfig,
    faces::analyse::{analyse, analyse_batch, prepare, Prepared},
    media::budget::{decode_cost, Budget},
    media::decode::{DecodeError, DecodeLimits},
    output::report::{PhotoError, Stage},
    pipeline::backend::{build_backend, start_backend},
    util::progress::ProgressSink,
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
    /// Most photos one worker analysed together.
    pub largest_batch: usize,
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
    prepared: &crate::faces::analyse::Prepared,
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

/// Analyses `photos` in one batch; when the batch fails (an error or a panic in any of its
/// photos), each photo again on its own, so a bad photo fails alone. Results in order.
fn analyse_batch_guarded(
    backend: &mut dyn FaceBackend,
    photos: &[&Prepared],
) -> Vec<Result<StoredAnalysis, String>> {
    if photos.len() > 1 {
        let batch = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(debug_assertions)]
            photos.iter().for_each(|p| inject_test_panic(p));
            analyse_batch(backend, photos)
        }));
        if let Ok(Ok(all)) = batch {
            return all.into_iter().map(Ok).collect();
        }
    }
    photos.iter().map(|p| analyse_guarded(backend, p)).collect()
}

/// The next photos for a worker: blocks for the first, then takes up to `max` in all of those
/// already waiting (a full batch is not waited for: the device would idle). `None` when the
/// queue is closed and empty.
pub fn take_batch<T>(rx: &mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Debug builds only: `PHOTO_ORGANIZER_TEST_PANIC=W` makes the backend panic on photos `W`
/// pixels wide, so the integration tests can check that a crash fails one photo only.
#[cfg(debug_assertions)]
fn inject_test_panic(prepared: &crate::faces::analyse::Prepared) {
    if let Ok(w) = std::env::var("PHOTO_ORGANIZER_TEST_PANIC") {
        if w.parse() == Ok(prepared.full.0) {
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

/// Decodes `todo` on a rayon pool while this thread starts the first backend
/// ([`start_backend`], `threads_each` threads; its loading overlaps the first decodes), then
/// runs an inference worker on it as photos arrive, plus, on the CPU, up to `workers - 1` more
/// that first build a backend of their own while the first already works; this thread commits
/// results to the cache every [`CACHE_BATCH`] photos or [`CACHE_INTERVAL`], before the photos
/// are reported done. Returns what the first backend is. When it cannot start, the decoders
/// are stopped and its error returned.
#[allow(clippy::too_many_arguments)]
pub fn run_workers(
    todo: &Todo,
    (workers, threads_each): (usize, usize),
    cache: &mut Cache,
    c: &OrganizeConfig,
    progress: &dyn ProgressSink,
    verbose: bool,
    stop: &AtomicBool,
) -> anyhow::Result<(Results, Work, BackendInfo)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(c.threads)
        .build()
        .context("cannot start the decoding threads")?;
    let limits = DecodeLimits::default();
    crate::media::heif::install(&c.heif_libraries);
    let budget = Budget::new(c.max_memory_bytes);
    let budget = &budget;
    let mut work = Work::default();
    let mut results = HashMap::new();
    let mut batch: Vec<(String, StoredAnalysis)> = Vec::new();
    let mut last_commit = Instant::now();
    // Bounded in count too: at most this many decoded photos wait for the inference workers,
    // enough for a worker's full batch (the memory budget still caps their bytes).
    let max_batch = c
        .batch_size
        .unwrap_or_else(|| c.device.largest_default_batch());
    let (tx, rx) = mpsc::sync_channel((c.threads * 2).max(max_batch + c.threads));
    // Set when the first backend cannot start: the decoders stop.
    let abandoned = AtomicBool::new(false);
    let abandoned = &abandoned;
    let mut info = None;
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
                    if stop.load(Ordering::Relaxed) || abandoned.load(Ordering::Relaxed) {
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
            let max = backend.max_batch();
            let next = match decoded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
            {
                Some(rx) => take_batch(rx, max),
                None => break,
            };
            let Some(batch) = next else { break };
            let mut outcomes: Vec<(usize, Option<Outcome>)> = Vec::with_capacity(batch.len());
            let mut ready = Vec::with_capacity(batch.len());
            for (i, prepared) in batch {
                match prepared {
                    Err(e) => outcomes.push((i, Some(Outcome::Undecodable(e.to_string())))),
                    Ok(p) => {
                        outcomes.push((i, None));
                        ready.push(p);
                    }
                }
            }
            let photos: Vec<&Prepared> = ready.iter().map(|(p, _room)| p).collect();
            let mut analysed = analyse_batch_guarded(backend, &photos).into_iter();
            let together = photos.len();
            // The photos' memory is returned to the budget as soon as they are analysed.
            drop(ready);
            let mut gone = false;
            for (i, outcome) in outcomes {
                let outcome = outcome.unwrap_or_else(|| {
                    Outcome::Analysed(analysed.next().expect("one result per analysed photo"))
                });
                gone |= done_tx.send((i, outcome, together)).is_err();
            }
            if gone {
                decoded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                break;
            }
        };
        let mut first = match start_backend(c, threads_each, progress) {
            Ok(b) => b,
            Err(e) => {
                abandoned.store(true, Ordering::Relaxed);
                // Dropping the queue's receiver frees decoders blocked on a full queue.
                decoded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                return Err(e);
            }
        };
        // An accelerator gets one worker; on the CPU, more workers use the cores better.
        let more = if first.info().device.device == "cpu" {
            workers.min(todo.photos.len()).saturating_sub(1)
        } else {
            0
        };
        info = Some(first.info().clone());
        {
            let done_tx = done_tx.clone();
            s.spawn(move || work_with(first.as_mut(), done_tx));
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
        for (i, outcome, together) in done_rx {
            work.largest_batch = work.largest_batch.max(together);
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
    let info = info.expect("the first backend started, or its error was returned");
    Ok((results, work, info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;
    use po_backend_api::{
        ActiveDevice, AlignedFace, BackendError, BackendInfo, FaceBox, RgbView, ARCFACE_ALIGNMENT,
    };

    /// One face per photo where the template's landmarks sit; photos 77 px wide make the
    /// detector fail, 66 px wide make it panic; an embedding is the crop's mean and its first
    /// pixel, so it differs per photo.
    struct Fake {
        info: BackendInfo,
        detect_calls: usize,
        embed_calls: usize,
    }

    impl Fake {
        fn new() -> Self {
            Self {
                info: BackendInfo {
                    backend: "fake".into(),
                    detector_model: "fake".into(),
                    embedder_model: "fake".into(),
                    embedding_dim: 2,
                    device: ActiveDevice {
                        device: "cpu".into(),
                        provider: "fake".into(),
                        fallback_reason: None,
                    },
                    runtime_version: None,
                },
                detect_calls: 0,
                embed_calls: 0,
            }
        }
    }

    impl FaceBackend for Fake {
        fn info(&self) -> &BackendInfo {
            &self.info
        }
        fn max_batch(&self) -> usize {
            8
        }
        fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
            self.detect_calls += 1;
            match image.width {
                77 => Err(BackendError::Inference {
                    model: "fake".into(),
                    reason: "bad photo".into(),
                }),
                66 => panic!("native crash"),
                _ => Ok(vec![FaceBox {
                    bbox: [30.0, 40.0, 80.0, 100.0],
                    score: 0.9,
                    landmarks: ARCFACE_ALIGNMENT
                        .landmarks
                        .map(|[x, y]| [x + 10.0, y + 10.0]),
                }]),
            }
        }
        fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
            self.embed_calls += 1;
            Ok(faces
                .iter()
                .map(|f| {
                    let mean =
                        f.rgb.iter().map(|&v| f32::from(v)).sum::<f32>() / f.rgb.len() as f32;
                    let mut v = vec![mean, f32::from(f.rgb[0]) + 1.0];
                    po_backend_api::l2_normalize(&mut v);
                    v
                })
                .collect())
        }
    }

    fn photo(width: u32, value: u8) -> Prepared {
        let rgb = RgbImage::from_fn(width, 160, |x, y| {
            image::Rgb([value, (x % 251) as u8, (y as u8).wrapping_add(value)])
        });
        Prepared {
            detect: rgb.clone(),
            full: rgb.dimensions(),
            rgb,
            rgb_scale: 1.0,
            detect_scale: 1.0,
            exif: Default::default(),
            hires: None,
        }
    }

    #[test]
    fn a_batch_gives_each_photo_its_own_analysis_in_order() {
        let photos: Vec<Prepared> = (0..5).map(|k| photo(150 + k, 10 * k as u8)).collect();
        let refs: Vec<&Prepared> = photos.iter().collect();
        let mut fake = Fake::new();
        let batched = analyse_batch_guarded(&mut fake, &refs);
        assert_eq!(
            fake.embed_calls, 1,
            "all five photos' faces in one embedder call"
        );
        for (p, b) in photos.iter().zip(&batched) {
            let b = b.as_ref().unwrap();
            let single = analyse(&mut Fake::new(), p).unwrap();
            assert_eq!(b.width, p.rgb.width());
            assert_eq!(b.faces.len(), 1);
            assert_eq!(b.faces[0].embedding, single.faces[0].embedding);
            assert_eq!(b.faces[0].bbox, single.faces[0].bbox);
        }
        let distinct: std::collections::HashSet<String> = batched
            .iter()
            .map(|b| format!("{:?}", b.as_ref().unwrap().faces[0].embedding))
            .collect();
        assert_eq!(distinct.len(), 5, "each photo has its own embedding");
    }

    #[test]
    fn a_failing_or_crashing_photo_fails_alone_in_its_batch() {
        let photos = [photo(150, 1), photo(77, 2), photo(151, 3), photo(66, 4)];
        let refs: Vec<&Prepared> = photos.iter().collect();
        let mut fake = Fake::new();
        let results = analyse_batch_guarded(&mut fake, &refs);
        assert_eq!(results.len(), 4);
        assert_eq!(results[0].as_ref().unwrap().width, 150);
        assert!(results[1].as_ref().unwrap_err().contains("bad photo"));
        assert_eq!(results[2].as_ref().unwrap().width, 151);
        let crash = results[3].as_ref().unwrap_err();
        assert!(
            crash.contains("crashed") && crash.contains("native crash"),
            "{crash}"
        );
        // The backend is still usable after the panic.
        assert!(analyse(&mut fake, &photos[0]).is_ok());
    }

    #[test]
    fn a_batch_takes_what_is_waiting_up_to_the_limit() {
        let (tx, rx) = mpsc::channel();
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(take_batch(&rx, 3), Some(vec![0, 1, 2]));
        // A partial batch: only two are waiting, none is waited for.
        assert_eq!(take_batch(&rx, 3), Some(vec![3, 4]));
        tx.send(5).unwrap();
        assert_eq!(take_batch(&rx, 1), Some(vec![5]));
        drop(tx);
        assert_eq!(take_batch(&rx, 3), None);
    }

    #[test]
    fn inference_uses_every_core_with_at_most_four_workers() {
        assert_eq!(inference_plan(1), (1, 1));
        assert_eq!(inference_plan(2), (2, 1));
        assert_eq!(inference_plan(4), (4, 1));
        assert_eq!(inference_plan(16), (4, 4));
        assert_eq!(inference_plan(0), (1, 1));
    }
}
