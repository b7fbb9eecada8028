//! Stage 3: what every photo holds. The first item of each content is analysed once (later
//! ones are duplicates of it); analyses come from the cache when it has them, the rest from
//! the inference workers ([`super::workers`]), which store them as they finish.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
};

use po_backend_api::{BackendInfo, DeviceRequest};

use crate::{
    cache::{Cache, StoredAnalysis},
    config::OrganizeConfig,
    faces::analyse::PREPROCESSING_VERSION,
    faces::animals,
    output::report::{PhotoError, Stage},
    pipeline::backend::{checks_pets, start_backend},
    util::progress::ProgressSink,
};

use super::{
    hash::Hashes,
    library::Library,
    workers::{inference_plan, run_workers, Todo, Work},
};

/// What stage 3 found, per item index.
pub struct Analyses {
    pub of_item: HashMap<usize, StoredAnalysis>,
    /// Items that could not be read, decoded or analysed.
    pub errors: HashMap<usize, PhotoError>,
    /// Item -> the earlier item with the same bytes.
    pub duplicate_of: HashMap<usize, usize>,
    pub cache_hits: usize,
    pub work: Work,
    /// The backend that ran, if one was started.
    pub backend: Option<BackendInfo>,
}

/// What a cached result depends on: the models, the detector threshold and the preprocessing.
/// The runtime is not part of it: tract runs the same files as ONNX Runtime and its boxes and
/// embeddings match to 1.5e-4 px and 1.4e-6 (backends/tract's tests), so either may reuse the
/// other's analyses. People are stored under it too, so embeddings of different embedders
/// never meet.
pub fn model_key(c: &OrganizeConfig) -> String {
    format!(
        "{}@{:.3}+{}+p{PREPROCESSING_VERSION}",
        c.detector_id, c.detect.score_threshold, c.embedder_id
    )
}

/// `Ok(None)` when interrupted (what was analysed is cached, and the user told so).
#[allow(clippy::too_many_arguments)]
pub fn analyse(
    c: &OrganizeConfig,
    library: &Library,
    hashes: &Hashes,
    cache: &mut Cache,
    model_key: &str,
    progress: &dyn ProgressSink,
    verbose: bool,
    stop: &AtomicBool,
) -> anyhow::Result<Option<Analyses>> {
    let items = &library.items;
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut duplicate_of: HashMap<usize, usize> = HashMap::new();
    let mut of_item: HashMap<usize, StoredAnalysis> = HashMap::new();
    let mut todo: Vec<(usize, String)> = Vec::new();
    let mut errors: HashMap<usize, PhotoError> = HashMap::new();
    // Analysed before the pet check could run on them: analysed again if the backend can
    // check (the same faces and embeddings, now checked), so pets cached as people leave them.
    let mut unchecked: Vec<(usize, String, StoredAnalysis)> = Vec::new();
    for (i, h) in hashes.iter().enumerate() {
        match h {
            Err(cause) => {
                errors.insert(
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
                    Some(a) if c.face_check_ready && animals::needs_recheck(&a) => {
                        unchecked.push((i, sha.clone(), a));
                    }
                    Some(a) => {
                        of_item.insert(i, a);
                    }
                    None => todo.push((i, sha.clone())),
                }
            }
        }
    }

    let mut work = Work::default();
    let mut backend = None;
    // Decided from the configuration, not from a started backend, so that decoding can start
    // while the backend loads.
    let can_check = c.face_check_ready && checks_pets(c);
    for (i, sha, a) in unchecked.drain(..) {
        if can_check {
            todo.push((i, sha));
        } else {
            of_item.insert(i, a);
        }
    }
    let cache_hits = of_item.len();
    if todo.is_empty() {
        // A requested accelerator is checked even when the cache makes it unnecessary: a
        // request that cannot be met is an error, never silently ignored.
        if c.device != DeviceRequest::Cpu {
            let (_, threads_each) = inference_plan(c.threads);
            backend = Some(start_backend(c, threads_each, progress)?.info().clone());
        }
    } else {
        let (results, done, info) = run_workers(
            &Todo {
                photos: &todo,
                items,
                model_key,
            },
            inference_plan(c.threads),
            cache,
            c,
            progress,
            verbose,
            stop,
        )?;
        backend = Some(info);
        work = done;
        if stop.load(Ordering::Relaxed) {
            eprintln!(
                "interrupted: {} photo(s) analysed and cached; run the same command again to continue",
                results.values().filter(|r| r.is_ok()).count()
            );
            return Ok(None);
        }
        for (i, r) in results {
            match r {
                Ok(a) => {
                    of_item.insert(i, a);
                }
                Err(e) => {
                    errors.insert(i, e);
                }
            }
        }
    }
    Ok(Some(Analyses {
        of_item,
        errors,
        duplicate_of,
        cache_hits,
        work,
        backend,
    }))
}
