//! Wires the stages: scan -> hash -> (cache | decode pool -> inference workers -> cache) ->
//! cluster -> identify -> plan -> execute -> report. The only module that uses
//! `anyhow::Context`; everything below returns typed errors.

use std::{
    collections::{BTreeSet, HashMap},
    fs::File,
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Mutex, PoisonError,
    },
    time::{Instant, UNIX_EPOCH},
};

use anyhow::{bail, Context};
use po_backend_api::{BackendError, FaceBackend};
use rayon::prelude::*;
use sha2::Digest;

use crate::{
    cache::{Cache, FaceKey, StoredAnalysis},
    cluster::{cluster_gated, ClusterParams},
    config::{
        Config, FaceRuntime, Mode, OrganizeConfig, PeopleAction, PeopleConfig, ProgressStyle,
    },
    decode::DecodeLimits,
    execute::{execute, remove_stale_partials, ExecReport, OpOutcome},
    faces::{analyse, good_enough_to_seed, prepare, PREPROCESSING_VERSION},
    models::{Manifest, Role},
    people::{folder_names, identify, one_face_per_person_per_photo, PeopleState},
    plan::{destinations, plan, Destination, Layout, PlacedPhoto, Plan},
    progress::{Bars, Lines, ProgressSink},
    report::{
        html::write_report, print_json, render_summary, write_manifest, FaceEntry,
        Manifest as RunManifest, PersonEntry, PhotoEntry, PhotoError, PhotoStatus, Stage, Summary,
        MANIFEST_SCHEMA,
    },
    scan::{scan, PhotoRef},
    setup::{self, file_digest},
};

/// Some photos could not be processed; the rest were.
pub const EXIT_WITH_ERRORS: u8 = 1;
/// Nothing (or only part) could be done: bad arguments, missing runtime or models, unwritable
/// output.
pub const EXIT_FATAL: u8 = 2;
/// Stopped by Ctrl-C (128 + SIGINT, as shells report it); what was finished is kept.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Set by Ctrl-C: stages stop between photos, the cache is flushed and the summary printed.
static STOP: AtomicBool = AtomicBool::new(false);

fn install_interrupt_handler() {
    // Fails only if a handler is already installed (a second `run` in one process).
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: the user wants out now. The cache is WAL-journalled, so what it
            // committed is safe; copies in progress are temporary files cleaned by the next run.
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!("stopping after the current photo (Ctrl-C again to stop at once)");
    });
}

/// Most photos analysed between two cache commits: a killed run loses at most this many.
const CACHE_BATCH: usize = 8;
/// Longest time between two cache commits.
const CACHE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    match &config.mode {
        Mode::Setup { check, all } => run_setup(config, *check, *all),
        Mode::People(p) => run_people(config, p),
        Mode::Organize(c) => {
            install_interrupt_handler();
            organize(c, &config.cache_dir, config.verbose)
        }
        Mode::Bench(b) => run_bench(b, &config.cache_dir),
        Mode::Doctor {
            json,
            runtime_candidates,
            ld_library_path,
        } => run_doctor(
            config,
            *json,
            runtime_candidates,
            ld_library_path.as_deref(),
        ),
        Mode::Eval { organize, json } => {
            run_eval(organize, &config.cache_dir, *json, config.verbose)
        }
    }
}

fn run_setup(config: &Config, check: bool, all: bool) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr();
    let not_ready = setup::run(&config.cache_dir, check, all, &mut stderr)
        .context("setup could not fetch the runtime and models")?;
    if not_ready > 0 {
        writeln!(
            stderr,
            "{not_ready} file(s) missing or corrupt: run `photo_organizer setup`"
        )?;
        return Ok(ExitCode::from(EXIT_WITH_ERRORS));
    }
    Ok(ExitCode::SUCCESS)
}

fn open_cache(dir: &Path) -> anyhow::Result<Cache> {
    Cache::open(dir).with_context(|| format!("cannot use the cache in {}", dir.display()))
}

fn run_people(config: &Config, p: &PeopleConfig) -> anyhow::Result<ExitCode> {
    let mut cache = open_cache(&config.cache_dir)?;
    let stats = cache.person_stats(&p.collection)?;
    let exists = |id: u32| stats.iter().any(|s| s.id == id);
    let missing = |id: u32| {
        anyhow::anyhow!(
            "no person {id} in {}; `photo_organizer people -o {}` lists them",
            p.collection,
            p.collection
        )
    };
    match &p.action {
        PeopleAction::List => {
            let rows: Vec<serde_json::Value> = stats
                .iter()
                .map(|s| {
                    let sample = s
                        .sample_sha256
                        .as_deref()
                        .and_then(|sha| cache.path_of(sha).ok().flatten());
                    serde_json::json!({
                        "id": s.id,
                        "name": s.name,
                        "folder": crate::people::folder_name(s.id, s.name.as_deref()),
                        "faces": s.faces,
                        "sample": sample,
                    })
                })
                .collect();
            if p.json {
                print_json(&rows)?;
            } else {
                let mut out = std::io::stdout().lock();
                for r in &rows {
                    writeln!(
                        out,
                        "{:>4}  {:<24} {:>5} faces  {}",
                        r["id"],
                        r["name"].as_str().unwrap_or("-"),
                        r["faces"],
                        r["sample"].as_str().unwrap_or("")
                    )?;
                }
            }
        }
        PeopleAction::Name { id, name } => {
            if !exists(*id) {
                return Err(missing(*id));
            }
            let old = stats
                .iter()
                .find(|s| s.id == *id)
                .and_then(|s| s.name.clone());
            cache.set_name(&p.collection, *id, Some(name))?;
            // Rename the folder now, if that replaces nothing; otherwise the next run fills
            // the new one.
            let out = Path::new(&p.collection);
            let from = out.join(crate::people::folder_name(*id, old.as_deref()));
            let to = out.join(crate::people::folder_name(*id, Some(name)));
            if from.is_dir() && !to.exists() {
                std::fs::rename(&from, &to).with_context(|| {
                    format!("cannot rename {} to {}", from.display(), to.display())
                })?;
            }
            eprintln!("person {id} is now {name:?} (folder {})", to.display());
        }
        PeopleAction::Merge { keep, other } => {
            for id in [keep, other] {
                if !exists(*id) {
                    return Err(missing(*id));
                }
            }
            cache.merge(&p.collection, *keep, *other)?;
            eprintln!("person {other} merged into {keep}; re-run to update the folders");
        }
        PeopleAction::Reject { id, photo, face } => {
            let (sha, _) =
                file_digest(photo).with_context(|| format!("cannot read {}", photo.display()))?;
            let assigned = cache.assigned_faces(&p.collection, &sha)?;
            let faces: Vec<u32> = assigned
                .iter()
                .filter(|(idx, person)| person == id && face.is_none_or(|f| f == *idx))
                .map(|(idx, _)| *idx)
                .collect();
            let faces = match (faces.is_empty(), face) {
                (false, _) => faces,
                // Not assigned now, but remember it so a later run never assigns it.
                (true, Some(f)) => vec![*f],
                (true, None) => bail!(
                    "no face of {} belongs to person {id}; give --face N (see manifest.json)",
                    photo.display()
                ),
            };
            for f in &faces {
                cache.reject(&p.collection, &(sha.clone(), *f), *id)?;
            }
            eprintln!(
                "face(s) {faces:?} of {} will not be put in person {id} again; re-run to update the folders",
                photo.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How inference is spread over `threads` cores on the CPU: `(workers, threads each)`. Small
/// models gain little from splitting one run over threads (SFace: 8 ms a face on one thread,
/// about 6 on two, with a wake-up per node), so photos go to up to 4 workers, each with its
/// own sessions (about 60 MB each).
pub fn inference_plan(threads: usize) -> (usize, usize) {
    let workers = threads.clamp(1, 4);
    (workers, (threads / workers).max(1))
}

/// The backend the configuration asks for. The default `yunet` on the CPU (or `--gpu`) runs on
/// the pure-Rust tract backend when libonnxruntime cannot be loaded, with the reason recorded;
/// any other failure, and any explicitly named execution provider, stays an error.
fn build_backend(c: &OrganizeConfig, threads: usize) -> anyhow::Result<Box<dyn FaceBackend>> {
    match &c.runtime {
        FaceRuntime::Tract => return Ok(build_tract(c, None)?),
        FaceRuntime::Torch { pnet, rnet } => return build_torch_backend(c, pnet, rnet, threads),
        FaceRuntime::OnnxRuntime => {}
    }
    match build_onnx(c, threads) {
        Err(BackendError::RuntimeMissing { what, fix }) if may_fall_back_to_tract(c) => {
            let reason = format!("{what}: {fix}");
            match build_tract(c, Some(reason.clone())) {
                Ok(b) => Ok(b),
                // Without tract in this build, the missing runtime is the error to show.
                Err(BackendError::NotCompiled { .. }) => {
                    Err(BackendError::RuntimeMissing { what, fix }.into())
                }
                Err(e) => Err(anyhow::Error::new(e)
                    .context(format!("the tract fallback failed too; first, {reason}"))),
            }
        }
        other => Ok(other?),
    }
}

/// Only the default models on an unnamed device may quietly change runtime: the tract backend
/// runs YuNet + SFace on the CPU and nothing else.
fn may_fall_back_to_tract(c: &OrganizeConfig) -> bool {
    let default_detector = Manifest::builtin().default_for(Role::Detector).id.clone();
    c.detector_id == default_detector
        && !c.custom_embedder
        && matches!(
            c.device,
            po_backend_api::DeviceRequest::Cpu | po_backend_api::DeviceRequest::Auto
        )
}

/// Builds the backend and says, in one `warning:` line, when it is not what was asked for.
fn start_backend(
    c: &OrganizeConfig,
    threads: usize,
    progress: &dyn ProgressSink,
) -> anyhow::Result<Box<dyn FaceBackend>> {
    let b = build_backend(c, threads).context("cannot start the face backend")?;
    let info = b.info();
    if let Some(reason) = &info.device.fallback_reason {
        // Only the missing-runtime fallback puts tract in place of what was asked for.
        progress.message(&if info.backend == "tract" {
            format!(
                "warning: ONNX Runtime could not be loaded, so the same models run on the pure-Rust tract backend (slower): {reason}"
            )
        } else {
            format!(
                "warning: running on {} because no accelerator could be used: {reason}",
                info.device.device
            )
        });
    }
    Ok(b)
}

#[cfg(feature = "facenet")]
fn build_torch_backend(
    c: &OrganizeConfig,
    pnet: &Path,
    rnet: &Path,
    threads: usize,
) -> anyhow::Result<Box<dyn FaceBackend>> {
    use po_backend_torch::{TorchBackend, TorchConfig};
    let config = TorchConfig {
        pnet: pnet.to_path_buf(),
        rnet: rnet.to_path_buf(),
        onet: c.detector_model.clone(),
        embedder: c.embedder_model.clone(),
        threads,
        device: c.device,
        device_options: c.device_options.clone(),
        detect: c.detect,
    };
    Ok(Box::new(TorchBackend::new(&config)?))
}

#[cfg(not(feature = "facenet"))]
fn build_torch_backend(
    _: &OrganizeConfig,
    _: &Path,
    _: &Path,
    _: usize,
) -> anyhow::Result<Box<dyn FaceBackend>> {
    bail!("{FACENET_NOT_COMPILED}")
}

/// Why `--face-backend facenet` cannot run in a build without the `facenet` feature, and the fix.
pub const FACENET_NOT_COMPILED: &str = "backend `facenet` is not compiled into this build; run scripts/setup-facenet.sh (installs libtorch 2.13.0, converts the models), then rebuild with `cargo build --release --features facenet` and the LIBTORCH it prints";

#[cfg(feature = "onnx")]
fn build_onnx(c: &OrganizeConfig, threads: usize) -> Result<Box<dyn FaceBackend>, BackendError> {
    use po_backend_onnx::{DetectorKind, OnnxBackend, OnnxConfig, RuntimeCandidate};
    let config = OnnxConfig {
        runtime: c
            .runtime_candidates
            .iter()
            .map(|(path, source)| RuntimeCandidate {
                path: path.clone(),
                source: source.clone(),
            })
            .collect(),
        detector_kind: if c.detector_id.starts_with("scrfd") {
            DetectorKind::Scrfd
        } else if c.detector_id.starts_with("yolov8") {
            DetectorKind::YoloV8
        } else {
            DetectorKind::YuNet
        },
        detector_model: c.detector_model.clone(),
        landmark_model: c.landmark_model.clone(),
        embedder_model: c.embedder_model.clone(),
        embedder_kind: if c.custom_embedder {
            po_backend_onnx::sface::EmbedderKind::ArcFace
        } else {
            po_backend_onnx::sface::EmbedderKind::SFace
        },
        embedder_id: c.embedder_id.clone(),
        threads,
        device: c.device,
        device_options: c.device_options.clone(),
        detect: c.detect,
    };
    Ok(Box::new(OnnxBackend::new(&config)?))
}

#[cfg(not(feature = "onnx"))]
fn build_onnx(_: &OrganizeConfig, _: usize) -> Result<Box<dyn FaceBackend>, BackendError> {
    Err(BackendError::NotCompiled {
        name: "yunet".into(),
        feature: "onnx".into(),
    })
}

#[cfg(feature = "tract")]
fn build_tract(
    c: &OrganizeConfig,
    fallback_reason: Option<String>,
) -> Result<Box<dyn FaceBackend>, BackendError> {
    use po_backend_tract::{TractBackend, TractConfig};
    Ok(Box::new(TractBackend::new(&TractConfig {
        detector_model: c.detector_model.clone(),
        embedder_model: c.embedder_model.clone(),
        detect: c.detect,
        fallback_reason,
    })?))
}

#[cfg(not(feature = "tract"))]
fn build_tract(
    _: &OrganizeConfig,
    _: Option<String>,
) -> Result<Box<dyn FaceBackend>, BackendError> {
    Err(BackendError::NotCompiled {
        name: "tract".into(),
        feature: "tract".into(),
    })
}

/// What a cached result depends on: the models, the detector threshold and the preprocessing.
/// The runtime is not part of it: tract runs the same files as ONNX Runtime and its boxes and
/// embeddings match to 1.5e-4 px and 1.4e-6 (backends/tract's tests), so either may reuse the
/// other's analyses. People are stored under it too, so embeddings of different embedders
/// never meet.
fn model_key(c: &OrganizeConfig) -> String {
    format!(
        "{}@{:.3}+{}+p{PREPROCESSING_VERSION}",
        c.detector_id, c.detect.score_threshold, c.embedder_id
    )
}

/// Bars on a terminal, plain lines otherwise.
fn progress_sink(style: ProgressStyle) -> Box<dyn ProgressSink> {
    match style {
        ProgressStyle::Bars => Box::<Bars>::default(),
        ProgressStyle::Plain => Box::<Lines>::default(),
    }
}

/// Holds a lock for the output directory during the run (a file in the cache, so a run that
/// fails early leaves no trace in OUT); a second run into the same OUT refuses to start.
fn lock_output(cache_dir: &Path, collection: &str, out: &Path) -> anyhow::Result<File> {
    let dir = cache_dir.join("locks");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let digest: String = sha2::Sha256::digest(collection.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = dir.join(format!("{digest}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another photo_organizer run is writing to {}; wait for it to finish",
            out.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// One photo to identify: from the library, or from `--known` with the name it labels.
struct Item {
    photo: PhotoRef,
    known_name: Option<String>,
}

/// Content hashes: from the store when size and mtime are unchanged, else computed in parallel.
fn hash_all(items: &[Item], cache: &mut Cache) -> anyhow::Result<Vec<Result<String, String>>> {
    let mut known: Vec<Option<String>> = Vec::with_capacity(items.len());
    for it in items {
        known.push(cache.known_hash(&it.photo.path, it.photo.size, it.photo.mtime)?);
    }
    let hashed: Vec<Result<String, String>> = items
        .par_iter()
        .zip(known.par_iter())
        .map(|(it, k)| match k {
            Some(sha) => Ok(sha.clone()),
            None => file_digest(&it.photo.path)
                .map(|(sha, _)| sha)
                .map_err(|e| format!("cannot read file: {e}")),
        })
        .collect();
    let fresh: Vec<_> = items
        .iter()
        .zip(&known)
        .zip(&hashed)
        .filter(|((_, k), _)| k.is_none())
        .filter_map(|((it, _), h)| {
            h.as_ref().ok().map(|sha| {
                (
                    it.photo.path.clone(),
                    it.photo.size,
                    it.photo.mtime,
                    sha.clone(),
                )
            })
        })
        .collect();
    cache.put_hashes(&fresh)?;
    Ok(hashed)
}

/// Counters of the work the models did.
#[derive(Default)]
struct Work {
    decoded: usize,
    detector_calls: usize,
    embedder_calls: usize,
}

/// What an inference worker hands back for one photo.
enum Outcome {
    Undecodable(String),
    Analysed(Result<StoredAnalysis, String>),
}

/// Decodes `todo` on a rayon pool and runs one inference worker per backend as photos arrive,
/// plus `more` workers that first build a backend of their own (`threads_each` threads), while
/// the others already work; this thread commits results to the cache every [`CACHE_BATCH`]
/// photos or [`CACHE_INTERVAL`], before the photos are reported done.
#[allow(clippy::too_many_arguments)]
fn analyse_all(
    todo: &[(usize, String)],
    items: &[Item],
    backends: &mut [Box<dyn FaceBackend>],
    (more, threads_each): (usize, usize),
    cache: &mut Cache,
    model_key: &str,
    c: &OrganizeConfig,
    progress: &dyn ProgressSink,
    verbose: bool,
    work: &mut Work,
) -> anyhow::Result<HashMap<usize, Result<StoredAnalysis, PhotoError>>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(c.threads)
        .build()
        .context("cannot start the decoding threads")?;
    let limits = DecodeLimits::default();
    let mut results = HashMap::new();
    let mut batch: Vec<(String, StoredAnalysis)> = Vec::new();
    let mut last_commit = Instant::now();
    // Bounded: at most this many decoded photos wait in memory for the inference workers.
    let (tx, rx) = mpsc::sync_channel(c.threads * 2);
    // Shared by the workers; the one that finds this thread gone drops it, which stops the
    // decoders too.
    let decoded = Mutex::new(Some(rx));
    let (done_tx, done_rx) = mpsc::channel();
    progress.start("faces", Some(todo.len() as u64));
    let outcome = std::thread::scope(|s| -> anyhow::Result<()> {
        s.spawn(|| {
            pool.install(|| {
                todo.par_iter().for_each_with(tx, |tx, (i, _)| {
                    if STOP.load(Ordering::Relaxed) {
                        return;
                    }
                    // A send fails only when the receiver has gone; nothing is left to do then.
                    let _ = tx.send((*i, prepare(&items[*i].photo.path, &limits)));
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
                Ok(p) => Outcome::Analysed(analyse(backend, &p).map_err(|e| e.to_string())),
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
        let sha_of: HashMap<usize, &String> = todo.iter().map(|(i, s)| (*i, s)).collect();
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
                        cache.put_analyses(model_key, &batch)?;
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
        cache.put_analyses(model_key, &batch)?;
        Ok(())
    });
    progress.finish();
    outcome?;
    Ok(results)
}

/// Year of a Unix time (UTC), by the civil-from-days algorithm.
fn year_of_unix(secs: i64) -> i32 {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2)) as i32
}

fn year_taken(analysis: &StoredAnalysis, photo: &PhotoRef) -> Option<i32> {
    analysis
        .date_taken
        .as_deref()
        .and_then(|d| d.get(..4)?.parse().ok())
        .or_else(|| {
            let secs = photo.mtime?.duration_since(UNIX_EPOCH).ok()?.as_secs();
            Some(year_of_unix(secs as i64))
        })
}

/// Everything known about a library once its faces are analysed and clustered.
struct Analysed {
    items: Vec<Item>,
    /// Items before this index are from the library; the rest from `--known`.
    library_len: usize,
    errors: Vec<PhotoError>,
    duplicate_of: HashMap<usize, usize>,
    analyses: HashMap<usize, StoredAnalysis>,
    photo_errors: HashMap<usize, PhotoError>,
    face_keys: Vec<FaceKey>,
    face_owner: Vec<usize>,
    known_faces: HashMap<usize, String>,
    labels: Vec<Option<usize>>,
    embeddings: Vec<Vec<f32>>,
    cache_hits: usize,
    work: Work,
    backend: Option<po_backend_api::BackendInfo>,
}

/// Scan, hash, analyse what the cache lacks, cluster. `Err(code)` when interrupted.
fn analyse_library(
    c: &OrganizeConfig,
    cache: &mut Cache,
    model_key: &str,
    progress: &dyn ProgressSink,
    verbose: bool,
) -> anyhow::Result<Result<Analysed, ExitCode>> {
    progress.start("scan", None);
    let scanned = scan(&c.source, &c.output);
    let mut errors: Vec<PhotoError> = Vec::new();
    let mut scan_errors = scanned.errors;
    let mut items: Vec<Item> = scanned
        .photos
        .into_iter()
        .map(|photo| Item {
            photo,
            known_name: None,
        })
        .collect();
    let library_len = items.len();
    if let Some(known_dir) = &c.known {
        let known = scan(known_dir, &c.output);
        scan_errors.extend(known.errors);
        for photo in known.photos {
            let mut parts = photo.rel_path.components();
            match (parts.next(), parts.next()) {
                (Some(name), Some(_)) => items.push(Item {
                    known_name: Some(name.as_os_str().to_string_lossy().into_owned()),
                    photo,
                }),
                _ => progress.message(&format!(
                    "ignored {}: --known photos go in DIR/<Name>/",
                    photo.path.display()
                )),
            }
        }
    }
    progress.advance(items.len() as u64);
    progress.finish();
    errors.extend(scan_errors.into_iter().map(|e| PhotoError {
        path: e.path,
        stage: Stage::Scan,
        cause: e.cause,
    }));

    progress.start("hash", Some(items.len() as u64));
    let hashes = hash_all(&items, cache)?;
    progress.advance(items.len() as u64);
    progress.finish();

    // The first item of each content is analysed; later ones are duplicates of it.
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut duplicate_of: HashMap<usize, usize> = HashMap::new();
    let mut analyses: HashMap<usize, StoredAnalysis> = HashMap::new();
    let mut todo: Vec<(usize, String)> = Vec::new();
    let mut photo_errors: HashMap<usize, PhotoError> = HashMap::new();
    for (i, h) in hashes.iter().enumerate() {
        match h {
            Err(cause) => {
                photo_errors.insert(
                    i,
                    PhotoError {
                        path: items[i].photo.path.clone(),
                        stage: Stage::Decode,
                        cause: cause.clone(),
                    },
                );
            }
            Ok(sha) => {
                if let Some(&first) = first_of.get(sha.as_str()) {
                    duplicate_of.insert(i, first);
                    continue;
                }
                first_of.insert(sha, i);
                match cache.analysis(sha, model_key)? {
                    Some(a) => {
                        analyses.insert(i, a);
                    }
                    None => todo.push((i, sha.clone())),
                }
            }
        }
    }
    let cache_hits = analyses.len();

    let mut work = Work::default();
    let mut backends: Vec<Box<dyn FaceBackend>> = Vec::new();
    let (workers, threads_each) = inference_plan(c.threads);
    // Built by analyse_all's workers themselves, while the first one already works.
    let mut extra_workers = 0;
    // A requested accelerator is checked even when the cache makes it unnecessary: a request
    // that cannot be met is an error, never silently ignored.
    if !todo.is_empty() || c.device != po_backend_api::DeviceRequest::Cpu {
        let b = start_backend(c, threads_each, progress)?;
        // An accelerator gets one worker; on the CPU, more workers use the cores better.
        let more = if b.info().device.device == "cpu" {
            workers.min(todo.len()).saturating_sub(1)
        } else {
            0
        };
        backends.push(b);
        extra_workers = more;
    }
    if !todo.is_empty() && !backends.is_empty() {
        let results = analyse_all(
            &todo,
            &items,
            &mut backends,
            (extra_workers, threads_each),
            cache,
            model_key,
            c,
            progress,
            verbose,
            &mut work,
        )?;
        if STOP.load(Ordering::Relaxed) {
            eprintln!(
                "interrupted: {} photo(s) analysed and cached; run the same command again to continue",
                results.values().filter(|r| r.is_ok()).count()
            );
            return Ok(Err(ExitCode::from(EXIT_INTERRUPTED)));
        }
        for (i, r) in results {
            match r {
                Ok(a) => {
                    analyses.insert(i, a);
                }
                Err(e) => {
                    photo_errors.insert(i, e);
                }
            }
        }
    }

    // Every face of every analysed item, in item order.
    let mut face_keys: Vec<FaceKey> = Vec::new();
    let mut face_owner: Vec<usize> = Vec::new();
    let mut embeddings: Vec<Vec<f32>> = Vec::new();
    let mut known_faces: HashMap<usize, String> = HashMap::new();
    for (i, h) in hashes.iter().enumerate() {
        let (Ok(sha), Some(a)) = (h, analyses.get(&i)) else {
            continue;
        };
        // A known photo names only its largest face.
        let largest = a
            .faces
            .iter()
            .enumerate()
            .max_by(|x, y| (x.1.bbox[2] - x.1.bbox[0]).total_cmp(&(y.1.bbox[2] - y.1.bbox[0])))
            .map(|(f, _)| f);
        for (f, face) in a.faces.iter().enumerate() {
            if let (Some(name), Some(l)) = (&items[i].known_name, largest) {
                if l == f {
                    known_faces.insert(embeddings.len(), name.clone());
                }
            }
            face_keys.push((sha.clone(), f as u32));
            face_owner.push(i);
            embeddings.push(face.embedding.clone());
        }
    }
    progress.start("cluster", Some(embeddings.len() as u64));
    let good: Vec<bool> = face_owner
        .iter()
        .zip(&face_keys)
        .map(|(o, k)| good_enough_to_seed(&analyses[o].faces[k.1 as usize]))
        .collect();
    let labels = cluster_gated(
        &embeddings,
        &good,
        ClusterParams {
            min_cluster_size: c.min_cluster_size,
            merge_distance: c.merge_distance,
            ..ClusterParams::default()
        },
    )
    .context("clustering failed")?;
    progress.advance(embeddings.len() as u64);
    progress.finish();

    Ok(Ok(Analysed {
        items,
        library_len,
        errors,
        duplicate_of,
        analyses,
        photo_errors,
        face_keys,
        face_owner,
        known_faces,
        labels,
        embeddings,
        cache_hits,
        work,
        backend: backends.first().map(|b| b.info().clone()),
    }))
}

fn organize(c: &OrganizeConfig, cache_dir: &Path, verbose: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let progress = progress_sink(c.progress);
    let _lock = if c.dry_run {
        None
    } else {
        Some(lock_output(cache_dir, &c.collection, &c.output)?)
    };
    let mut cache = open_cache(cache_dir)?;
    let model_key = model_key(c);

    let Analysed {
        items,
        library_len,
        mut errors,
        duplicate_of,
        analyses,
        photo_errors,
        face_keys,
        face_owner,
        known_faces,
        labels,
        embeddings,
        cache_hits,
        work,
        backend,
    } = match analyse_library(c, &mut cache, &model_key, progress.as_ref(), verbose)? {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let state = PeopleState {
        assignments: cache
            .assignments(&c.collection, &model_key)?
            .into_iter()
            .collect(),
        names: cache.people(&c.collection)?.into_iter().collect(),
        rejections: cache.rejections(&c.collection)?.into_iter().collect(),
    };
    let mut ids = identify(&face_keys, &labels, &known_faces, &state);
    let vectors: Vec<&[f32]> = embeddings.iter().map(Vec::as_slice).collect();
    one_face_per_person_per_photo(&mut ids.person_of_face, &face_owner, &vectors);
    let doubtful = crate::attach::doubtful_faces(&analyses, &face_owner, &face_keys);
    crate::attach::attach_unknown_faces(
        &mut ids.person_of_face,
        crate::attach::Faces {
            embeddings: &vectors,
            photo: &face_owner,
            doubtful: &doubtful,
        },
        |f, p| state.rejections.contains(&(face_keys[f].clone(), p)),
        &Default::default(),
        &crate::attach::DEFAULT_ATTACH,
    );
    if !c.dry_run {
        let assigned: Vec<(FaceKey, u32)> = face_keys
            .iter()
            .zip(&ids.person_of_face)
            .filter_map(|(k, p)| p.map(|p| (k.clone(), p)))
            .collect();
        cache.save_assignments(&c.collection, &model_key, &assigned)?;
        for (id, name) in &ids.names {
            if name.is_some() && state.names.get(id) != Some(name) {
                cache.set_name(&c.collection, *id, name.as_deref())?;
            }
        }
    }
    let mut person_of: HashMap<usize, Vec<Option<u32>>> = HashMap::new();
    for (owner, p) in face_owner.iter().zip(&ids.person_of_face) {
        person_of.entry(*owner).or_default().push(*p);
    }
    let folders = folder_names(&ids.names);

    let placed_items: Vec<usize> = (0..library_len)
        .filter(|i| analyses.contains_key(i))
        .collect();
    let placed: Vec<PlacedPhoto> = placed_items
        .iter()
        .map(|&i| PlacedPhoto {
            src: items[i].photo.path.clone(),
            rel_path: items[i].photo.rel_path.clone(),
            destinations: destinations(person_of.get(&i).map_or(&[][..], Vec::as_slice)),
            year: year_taken(&analyses[&i], &items[i].photo),
        })
        .collect();
    let layout = Layout {
        folders: folders.clone(),
        by_year: c.by_year,
    };
    let the_plan = plan(&placed, &layout);

    let exec = if c.dry_run {
        print_plan(&the_plan, c)?;
        ExecReport::default()
    } else {
        let stale = remove_stale_partials(&c.output);
        if stale > 0 && verbose {
            progress.message(&format!(
                "removed {stale} unfinished copies left by an earlier run"
            ));
        }
        execute(&the_plan, &c.output, c.transfer, progress.as_ref(), &STOP)
    };

    let mut copied_to: HashMap<usize, Vec<PathBuf>> = HashMap::new();
    for (k, op) in the_plan.ops.iter().enumerate() {
        let item = placed_items[op.photo];
        match exec.outcomes.get(k).and_then(Option::as_ref) {
            Some(OpOutcome::Failed(cause)) => errors.push(PhotoError {
                path: items[item].photo.path.clone(),
                stage: Stage::Copy,
                cause: cause.clone(),
            }),
            Some(_) => copied_to.entry(item).or_default().push(op.dst.clone()),
            None => {}
        }
    }
    let mut photo_error_list: Vec<(usize, PhotoError)> = photo_errors.clone().into_iter().collect();
    photo_error_list.sort_by_key(|(i, _)| *i);
    errors.extend(photo_error_list.into_iter().map(|(_, e)| e));

    let people_in_library: BTreeSet<u32> = placed_items
        .iter()
        .flat_map(|i| person_of.get(i).into_iter().flatten().flatten().copied())
        .collect();
    let count_dest = |d: Destination| placed.iter().filter(|p| p.destinations == [d]).count();
    let elapsed = started.elapsed().as_secs_f64();
    let summary = Summary {
        photos: library_len,
        faces: placed_items.iter().map(|i| analyses[i].faces.len()).sum(),
        people: people_in_library.len(),
        photos_with_people: placed
            .iter()
            .filter(|p| matches!(p.destinations.first(), Some(Destination::Person(_))))
            .count(),
        no_face_photos: count_dest(Destination::NoFaces),
        unknown_photos: count_dest(Destination::Unknown),
        errors: errors.len(),
        copied: if c.dry_run {
            the_plan.ops.len()
        } else {
            exec.copied
        },
        already_present: exec.already_present,
        moved: exec.moved,
        duplicates: duplicate_of.keys().filter(|i| **i < library_len).count(),
        dry_run: c.dry_run,
        elapsed_s: elapsed,
        photos_per_s: library_len as f64 / elapsed.max(1e-9),
        cache_hits,
        decoded: work.decoded,
        detector_calls: work.detector_calls,
        embedder_calls: work.embedder_calls,
        backend,
    };

    if !c.dry_run {
        let people: Vec<PersonEntry> = people_in_library
            .iter()
            .map(|&id| {
                let faces = face_owner
                    .iter()
                    .zip(&ids.person_of_face)
                    .filter(|(o, p)| **o < library_len && **p == Some(id))
                    .count();
                let photos = placed_items
                    .iter()
                    .filter(|i| person_of.get(i).is_some_and(|v| v.contains(&Some(id))))
                    .count();
                PersonEntry {
                    id,
                    name: ids.names.get(&id).cloned().flatten(),
                    folder: folders[&id].clone(),
                    faces,
                    photos,
                }
            })
            .collect();
        let photo_entries: Vec<PhotoEntry> = items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let analysis = analyses.get(&i);
                let status = if let Some(e) = photo_errors.get(&i) {
                    let _ = e;
                    PhotoStatus::Error
                } else if duplicate_of.contains_key(&i) {
                    PhotoStatus::Duplicate
                } else if it.known_name.is_some() {
                    PhotoStatus::Known
                } else if analysis.is_some_and(|a| a.faces.is_empty()) {
                    PhotoStatus::NoFaces
                } else {
                    PhotoStatus::Faces
                };
                let people = person_of.get(&i);
                PhotoEntry {
                    source: if i < library_len {
                        it.photo.rel_path.clone()
                    } else {
                        it.photo.path.clone()
                    },
                    status,
                    width: analysis.map(|a| a.width),
                    height: analysis.map(|a| a.height),
                    date_taken: analysis.and_then(|a| a.date_taken.clone()),
                    faces: analysis.map_or_else(Vec::new, |a| {
                        a.faces
                            .iter()
                            .enumerate()
                            .map(|(f, face)| {
                                let person = people.and_then(|p| p.get(f).copied().flatten());
                                FaceEntry {
                                    bbox: face.bbox,
                                    score: face.score,
                                    landmarks: face.landmarks,
                                    person,
                                    folder: person.map(|p| folders[&p].clone()),
                                }
                            })
                            .collect()
                    }),
                    copied_to: copied_to.remove(&i).unwrap_or_default(),
                    duplicate_of: duplicate_of
                        .get(&i)
                        .map(|&f| items[f].photo.rel_path.clone()),
                    error: photo_errors.get(&i).map(|e| e.cause.clone()),
                }
            })
            .collect();
        let manifest = RunManifest {
            schema: MANIFEST_SCHEMA,
            tool: format!("photo_organizer {}", env!("CARGO_PKG_VERSION")),
            source: c.source.clone(),
            output: c.output.clone(),
            summary: summary.clone(),
            people,
            photos: photo_entries,
            errors: errors.clone(),
        };
        write_manifest(&c.output, &manifest)
            .with_context(|| format!("cannot write the manifest in {}", c.output.display()))?;
        let thumbs = |id: u32| -> Vec<Vec<u8>> {
            face_owner
                .iter()
                .zip(&ids.person_of_face)
                .zip(&face_keys)
                .filter(|((o, p), _)| **o < library_len && **p == Some(id))
                .filter_map(|((o, _), (_, f))| analyses[o].faces[*f as usize].thumb.clone())
                .take(12)
                .collect()
        };
        let unknown_thumbs: Vec<Vec<u8>> = face_owner
            .iter()
            .zip(&ids.person_of_face)
            .zip(&face_keys)
            .filter(|((o, p), _)| **o < library_len && p.is_none())
            .filter_map(|((o, _), (_, f))| analyses[o].faces[*f as usize].thumb.clone())
            .take(48)
            .collect();
        write_report(&c.output, &manifest, &thumbs, &unknown_thumbs)
            .with_context(|| format!("cannot write the report in {}", c.output.display()))?;
    }
    if c.json {
        if !c.dry_run {
            print_json(&summary)?;
        }
    } else {
        print!("{}", render_summary(&summary, &errors));
    }
    if STOP.load(Ordering::Relaxed) {
        eprintln!("interrupted while copying; run the same command again to finish");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_WITH_ERRORS)
    })
}

fn run_doctor(
    config: &Config,
    json: bool,
    candidates: &[(PathBuf, String)],
    ld_library_path: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use crate::doctor::{check_libraries, gpus, library_dirs, Check, CUDA_LIBRARIES};
    let mut checks: Vec<Check> = Vec::new();
    let found = candidates.iter().find(|(p, _)| p.is_file());
    checks.push(match found {
        Some((path, source)) => Check {
            what: "ONNX Runtime library".into(),
            ok: true,
            detail: format!("{} (from {source})", path.display()),
            fix: None,
        },
        None => Check {
            what: "ONNX Runtime library".into(),
            ok: false,
            detail: "libonnxruntime.so not found".into(),
            fix: Some("`photo_organizer setup`, or set ORT_DYLIB_PATH".into()),
        },
    });
    #[cfg(feature = "onnx")]
    if found.is_some() {
        let runtime: Vec<po_backend_onnx::RuntimeCandidate> = candidates
            .iter()
            .map(|(path, source)| po_backend_onnx::RuntimeCandidate {
                path: path.clone(),
                source: source.clone(),
            })
            .collect();
        match po_backend_onnx::load_runtime(&runtime) {
            Ok(rt) => {
                let offered: Vec<&str> = po_backend_onnx::offered_providers()
                    .into_iter()
                    .filter(|(_, ok)| *ok)
                    .map(|(p, _)| p.name())
                    .collect();
                let cuda = offered.contains(&"cuda");
                checks.push(Check {
                    what: "execution providers".into(),
                    ok: true,
                    detail: format!(
                        "ONNX Runtime {} offers: {}",
                        rt.version.as_deref().unwrap_or("(unknown version)"),
                        offered.join(", ")
                    ),
                    fix: (!cuda).then(|| "for CUDA: `pip install -r requirements-gpu.txt` and set ORT_DYLIB_PATH to onnxruntime-gpu's onnxruntime/capi/libonnxruntime.so.1.31.1".into()),
                });
            }
            Err(e) => checks.push(Check {
                what: "execution providers".into(),
                ok: false,
                detail: e.to_string(),
                fix: Some("`photo_organizer setup`".into()),
            }),
        }
    }
    checks.push(gpus());
    let runtime_dir = found.and_then(|(p, _)| p.parent());
    let dirs = library_dirs(runtime_dir, ld_library_path);
    checks.extend(check_libraries(&dirs, CUDA_LIBRARIES));
    checks.extend(check_libraries(
        &dirs,
        &[(
            "libonnxruntime_providers_cuda.so",
            "onnxruntime-gpu, beside libonnxruntime",
        )],
    ));
    checks.push(Check {
        what: "pure-Rust runtime (tract backend)".into(),
        ok: cfg!(feature = "tract"),
        detail: if cfg!(feature = "tract") {
            "compiled in: runs the yunet models on the CPU with no native library (`--face-backend tract`, and automatically when ONNX Runtime cannot be loaded)".into()
        } else {
            "not compiled into this build".into()
        },
        fix: (!cfg!(feature = "tract")).then(|| "rebuild with `--features tract`".into()),
    });
    checks.extend(libtorch_checks(&config.cache_dir));
    for a in &Manifest::builtin().artifact {
        let st = setup::state(&config.cache_dir, a);
        checks.push(Check {
            what: format!("{} ({:?})", a.id, a.role).to_lowercase(),
            ok: st == setup::State::Present,
            detail: a.path_in(&config.cache_dir).display().to_string(),
            fix: (st != setup::State::Present).then(|| "`photo_organizer setup`".into()),
        });
    }
    if json {
        print_json(&checks)?;
    } else {
        let mut out = std::io::stdout().lock();
        for c in &checks {
            writeln!(
                out,
                "[{}] {}: {}",
                if c.ok { "ok" } else { "--" },
                c.what,
                c.detail
            )?;
            if let Some(fix) = &c.fix {
                writeln!(out, "     fix: {fix}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// libtorch (the `facenet` backend): version, where it was loaded from, CUDA and MPS; and its
/// converted models.
#[cfg(feature = "facenet")]
fn libtorch_checks(cache_dir: &Path) -> Vec<crate::doctor::Check> {
    use crate::doctor::Check;
    let rt = po_backend_torch::runtime_report();
    let mut checks = vec![
        Check {
            what: "libtorch (facenet backend)".into(),
            ok: true,
            detail: format!(
                "{}{}",
                rt.version,
                rt.library
                    .map(|p| format!(" at {}", p.display()))
                    .unwrap_or_default()
            ),
            fix: None,
        },
        Check {
            what: "libtorch CUDA".into(),
            ok: rt.cuda_devices > 0,
            detail: if rt.cuda_devices > 0 {
                format!("{} device(s), cuDNN {}", rt.cuda_devices, if rt.cudnn { "yes" } else { "no" })
            } else {
                "no CUDA device visible to libtorch".into()
            },
            fix: (rt.cuda_devices == 0).then(|| "the facenet backend runs on the CPU; for CUDA see docs/BACKENDS.md (facenet): it needs an NVIDIA GPU and a build that links libtorch_cuda".into()),
        },
        Check {
            what: "libtorch MPS (Apple)".into(),
            ok: rt.mps,
            detail: if rt.mps { "available" } else { "not available (macOS on Apple silicon only)" }.into(),
            fix: None,
        },
    ];
    for c in &Manifest::builtin().converted {
        let path = c.path_in(cache_dir);
        let present = path.is_file();
        checks.push(Check {
            what: format!("{} ({:?}, converted)", c.id, c.role).to_lowercase(),
            ok: present,
            detail: path.display().to_string(),
            fix: (!present).then(|| "scripts/setup-facenet.sh".into()),
        });
    }
    checks
}

#[cfg(not(feature = "facenet"))]
fn libtorch_checks(_: &Path) -> Vec<crate::doctor::Check> {
    vec![crate::doctor::Check {
        what: "libtorch (facenet backend)".into(),
        ok: false,
        detail: "not compiled into this build".into(),
        fix: Some(
            "scripts/setup-facenet.sh, then rebuild with `--features facenet` (only for --face-backend facenet)".into(),
        ),
    }]
}

/// A cache directory holding only links to the shared runtime and models: runs in it start cold.
fn cold_cache(shared: &Path, at: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(at)?;
    #[cfg(unix)]
    for sub in ["runtime", "models"] {
        std::os::unix::fs::symlink(shared.join(sub), at.join(sub))
            .with_context(|| format!("cannot link {} into {}", sub, at.display()))?;
    }
    Ok(())
}

fn run_bench(b: &crate::config::BenchConfig, cache_dir: &Path) -> anyhow::Result<ExitCode> {
    use crate::bench::{cluster_figure, BenchReport, ClusterFigure, StageFigure};
    if let Some(n) = b.cluster_only {
        print_json(&cluster_figure(n)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("cannot find this program to re-run it")?;
    let mut report = BenchReport {
        machine: format!(
            "{} cores, {}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            std::env::consts::ARCH
        ),
        ..BenchReport::default()
    };
    if let Some(c) = &b.organize {
        let photos = scan(&c.source, &c.output).photos;
        report.threads = c.threads;
        report.library = c.source.display().to_string();
        report.photos = photos.len();
        let provider = "cpu".to_string();
        let figure = |stage: &str, items: usize, seconds: f64| StageFigure {
            provider: provider.clone(),
            stage: stage.into(),
            per_s: items as f64 / seconds.max(1e-9),
            items,
            seconds,
        };
        eprintln!(
            "bench: decoding {} photos on {} threads",
            photos.len(),
            c.threads
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(c.threads)
            .build()?;
        let limits = DecodeLimits::default();
        let t = Instant::now();
        let decoded = pool.install(|| {
            photos
                .par_iter()
                .filter(|p| prepare(&p.path, &limits).is_ok())
                .count()
        });
        report
            .stages
            .push(figure("decode", decoded, t.elapsed().as_secs_f64()));

        eprintln!("bench: detector and embedder, one inference thread");
        let mut backend = start_backend(c, c.threads, &crate::progress::Lines::default())?;
        let (mut detect_s, mut analyse_s, mut faces, mut analysed) = (0.0, 0.0, 0, 0);
        for p in &photos {
            let Ok(prepared) = prepare(&p.path, &limits) else {
                continue;
            };
            let (w, h) = prepared.detect.dimensions();
            let view = po_backend_api::RgbView::new(w, h, prepared.detect.as_raw())
                .expect("RgbImage is 3 bytes a pixel");
            let t = Instant::now();
            backend.detect(view)?;
            detect_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            faces += analyse(backend.as_mut(), &prepared)?.faces.len();
            analyse_s += t.elapsed().as_secs_f64();
            analysed += 1;
        }
        report.stages.push(figure("detect", analysed, detect_s));
        report.stages.push(figure(
            "align+embed (faces)",
            faces,
            (analyse_s - detect_s).max(1e-9),
        ));

        eprintln!("bench: end to end (cold cache), then a no-change re-run");
        let work = tempfile_dir()?;
        cold_cache(cache_dir, &work.join("cache"))?;
        let mut run = |label: &str| -> anyhow::Result<()> {
            let out = std::process::Command::new(&exe)
                .arg("-s")
                .arg(&c.source)
                .arg("-o")
                .arg(work.join("out"))
                .args(["--json", "-j", &c.threads.to_string()])
                .env("PHOTO_ORGANIZER_CACHE", work.join("cache"))
                .stderr(std::process::Stdio::null())
                .output()?;
            let s: serde_json::Value = serde_json::from_slice(&out.stdout)
                .with_context(|| format!("the {label} run printed no summary"))?;
            let seconds = s["elapsed_s"].as_f64().unwrap_or(f64::NAN);
            report.stages.push(figure(label, photos.len(), seconds));
            Ok(())
        };
        run("end to end")?;
        run("no-change re-run")?;
        let _ = std::fs::remove_dir_all(&work);
    }
    for &n in &b.cluster_sizes {
        eprintln!("bench: clustering {n} synthetic faces (own process)");
        let out = std::process::Command::new(&exe)
            .args(["bench", "--cluster-only", &n.to_string()])
            .output()?;
        let figure: ClusterFigure = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "clustering {n} faces failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        report.clustering.push(figure);
    }
    crate::bench::write(&report, &b.out)
        .with_context(|| format!("cannot write results into {}", b.out.display()))?;
    let mut out = std::io::stdout().lock();
    for s in &report.stages {
        writeln!(
            out,
            "{:<4} {:<22} {:>9.1}/s  ({} in {:.2}s)",
            s.provider, s.stage, s.per_s, s.items, s.seconds
        )?;
    }
    for f in &report.clustering {
        writeln!(
            out,
            "cluster {:>8} faces  {:>8.1}s  peak {:>7.0} MB  {} people, pairwise F {:.3}",
            f.faces, f.seconds, f.peak_rss_mb, f.people_found, f.pairwise_f
        )?;
        writeln!(
            out,
            "  attach {:>7.2}s  {} faces attached, pairwise P {:.3} F {:.3} after",
            f.attach_seconds,
            f.attached,
            f.pairwise_precision_after_attach,
            f.pairwise_f_after_attach
        )?;
    }
    writeln!(out, "wrote {}/bench.json and bench.svg", b.out.display())?;
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("photo_organizer-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `eval`: organizes a labelled folder without writing anything and scores the grouping, one
/// item per photo (its largest face's person).
fn run_eval(
    c: &OrganizeConfig,
    cache_dir: &Path,
    json: bool,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let progress = progress_sink(c.progress);
    let mut cache = open_cache(cache_dir)?;
    let model_key = model_key(c);
    let a = match analyse_library(c, &mut cache, &model_key, progress.as_ref(), verbose)? {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    // Pure clustering: no earlier people, names or corrections.
    let mut ids = identify(
        &a.face_keys,
        &a.labels,
        &HashMap::new(),
        &PeopleState::default(),
    );
    let vectors: Vec<&[f32]> = a.embeddings.iter().map(Vec::as_slice).collect();
    one_face_per_person_per_photo(&mut ids.person_of_face, &a.face_owner, &vectors);
    let before = ids.person_of_face.clone();
    let doubtful = crate::attach::doubtful_faces(&a.analyses, &a.face_owner, &a.face_keys);
    let outcomes = crate::attach::attach_unknown_faces(
        &mut ids.person_of_face,
        crate::attach::Faces {
            embeddings: &vectors,
            photo: &a.face_owner,
            doubtful: &doubtful,
        },
        |_, _| false,
        &Default::default(),
        &crate::attach::DEFAULT_ATTACH,
    );
    let mut largest: HashMap<usize, (f32, Option<u32>, usize)> = HashMap::new();
    for (face, ((owner, key), person)) in a
        .face_owner
        .iter()
        .zip(&a.face_keys)
        .zip(&ids.person_of_face)
        .enumerate()
    {
        let bbox = a.analyses[owner].faces[key.1 as usize].bbox;
        let width = bbox[2] - bbox[0];
        if largest.get(owner).is_none_or(|(w, _, _)| width > *w) {
            largest.insert(*owner, (width, *person, face));
        }
    }
    let (mut outcome_of_item, mut before_attach) = (Vec::new(), Vec::new());
    let mut identities: Vec<String> = Vec::new();
    let (mut truth, mut predicted, mut names) = (Vec::new(), Vec::new(), Vec::new());
    let mut false_people: Vec<String> = Vec::new();
    let mut missed = 0;
    for (i, item) in a.items.iter().enumerate().take(a.library_len) {
        if a.duplicate_of.contains_key(&i) || !a.analyses.contains_key(&i) {
            continue;
        }
        let label = item
            .photo
            .rel_path
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let Some(label) = label.filter(|_| item.photo.rel_path.components().count() > 1) else {
            continue;
        };
        let person = largest.get(&i).and_then(|(_, p, _)| *p);
        let face = largest.get(&i).map(|(_, _, f)| *f);
        let name = item.photo.rel_path.display().to_string();
        if label.starts_with('_') {
            if person.is_some() {
                false_people.push(name);
            }
            continue;
        }
        if !largest.contains_key(&i) {
            missed += 1;
        }
        let id = match identities.iter().position(|n| *n == label) {
            Some(id) => id,
            None => {
                identities.push(label);
                identities.len() - 1
            }
        };
        truth.push(id);
        predicted.push(person.map(|p| p as usize));
        outcome_of_item.push(face.map(|f| outcomes[f]));
        before_attach.push(face.and_then(|f| before[f]).map(|p| p as usize));
        names.push(name);
    }
    let scores = crate::eval::score(&truth, &predicted);
    let merges = crate::eval::worst_merges(&truth, &predicted, &names, 5);
    let splits = crate::eval::worst_splits(&truth, &predicted, &names, 5);
    let unknowns = crate::eval::unknowns_by_identity(
        &truth,
        &predicted,
        &outcome_of_item,
        &names,
        &identities,
    );
    let scores_before_attach = crate::eval::score(&truth, &before_attach);
    if json {
        print_json(&serde_json::json!({
            "photos": truth.len(),
            "identities": identities,
            "no_face_found": missed,
            "distractors_in_a_person": false_people,
            "scores": scores,
            "scores_before_attach": scores_before_attach,
            "unknown_by_identity": unknowns,
            "worst_merges": merges,
            "worst_splits": splits,
            "photo_errors": a.photo_errors.len(),
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} photos of {} people; {} found; {} photos with no face found; {} distractors in a person",
            truth.len(),
            scores.people_true,
            scores.people_found,
            missed,
            false_people.len()
        )?;
        writeln!(out, "            precision  recall  F")?;
        writeln!(
            out,
            "pairwise    {:9.3}  {:6.3}  {:.3}",
            scores.pairwise_precision, scores.pairwise_recall, scores.pairwise_f
        )?;
        writeln!(
            out,
            "BCubed      {:9.3}  {:6.3}  {:.3}",
            scores.bcubed_precision, scores.bcubed_recall, scores.bcubed_f
        )?;
        for m in &merges {
            let parts: Vec<String> = m
                .identities
                .iter()
                .map(|p| {
                    format!(
                        "{} ({})",
                        identities[p.label.unwrap_or(0)],
                        p.items.join(", ")
                    )
                })
                .collect();
            writeln!(out, "merged in one person: {}", parts.join(" + "))?;
        }
        for sp in &splits {
            let parts: Vec<String> = sp
                .parts
                .iter()
                .map(|p| match p.label {
                    Some(c) => format!("person {c}: {}", p.items.join(", ")),
                    None => format!("nobody: {}", p.items.join(", ")),
                })
                .collect();
            writeln!(
                out,
                "{} split: {}",
                identities[sp.identity],
                parts.join(" | ")
            )?;
        }
        for f in &false_people {
            writeln!(out, "distractor given a person: {f}")?;
        }
        writeln!(
            out,
            "before the attachment step: pairwise {:.3} / {:.3} / {:.3}, BCubed F {:.3}",
            scores_before_attach.pairwise_precision,
            scores_before_attach.pairwise_recall,
            scores_before_attach.pairwise_f,
            scores_before_attach.bcubed_f
        )?;
        for line in crate::eval::unknowns_text(&unknowns) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(the_plan: &Plan, c: &OrganizeConfig) -> anyhow::Result<()> {
    if c.json {
        print_json(the_plan)?;
    } else {
        let mut out = std::io::stdout().lock();
        for op in &the_plan.ops {
            writeln!(
                out,
                "{} -> {}",
                op.src.display(),
                c.output.join(&op.dst).display()
            )?;
        }
    }
    Ok(())
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

    #[test]
    fn years_from_unix_time() {
        assert_eq!(year_of_unix(0), 1970);
        assert_eq!(year_of_unix(1_252_528_029), 2009); // 2009-09-09
        assert_eq!(year_of_unix(951_782_400), 2000); // 2000-02-29
        assert_eq!(year_of_unix(978_307_199), 2000); // 2000-12-31T23:59:59
        assert_eq!(year_of_unix(-1), 1969);
    }
}
