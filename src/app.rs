//! Wires the stages: scan -> (decode pool -> one inference thread) -> cluster -> plan -> execute
//! -> report. The only module that uses `anyhow::Context`; everything below returns typed errors.

use std::{
    collections::BTreeSet, io::Write, path::PathBuf, process::ExitCode, sync::mpsc, time::Instant,
};

use anyhow::Context;
use po_backend_api::FaceBackend;
use rayon::prelude::*;

use crate::{
    cluster::{cluster, ClusterParams},
    config::{Config, Mode, OrganizeConfig, ProgressStyle},
    decode::DecodeLimits,
    execute::{execute, ExecReport, OpOutcome},
    exif::ExifInfo,
    faces::{analyse, prepare, FaceRecord},
    plan::{destinations, person_folder, plan, Destination, PlacedPhoto, Plan},
    progress::{Bars, Lines, ProgressSink},
    report::{
        print_json, render_summary, write_manifest, FaceEntry, Manifest, PersonEntry, PhotoEntry,
        PhotoError, PhotoStatus, Stage, Summary, MANIFEST_SCHEMA,
    },
    scan::{scan, PhotoRef},
    setup,
};

/// Some photos could not be processed; the rest were.
pub const EXIT_WITH_ERRORS: u8 = 1;
/// Nothing (or only part) could be done: bad arguments, missing runtime or models, unwritable
/// output.
pub const EXIT_FATAL: u8 = 2;

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    match &config.mode {
        Mode::Setup { check } => run_setup(config, *check),
        Mode::Organize(c) => organize(c, config.verbose),
    }
}

fn run_setup(config: &Config, check: bool) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr();
    let not_ready = setup::run(&config.cache_dir, check, &mut stderr)
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

#[cfg(feature = "onnx")]
fn build_backend(c: &OrganizeConfig) -> anyhow::Result<Box<dyn FaceBackend>> {
    use po_backend_onnx::{OnnxBackend, OnnxConfig, RuntimeCandidate};
    let config = OnnxConfig {
        runtime: c
            .runtime_candidates
            .iter()
            .map(|(path, source)| RuntimeCandidate {
                path: path.clone(),
                source: source.clone(),
            })
            .collect(),
        detector_model: c.detector_model.clone(),
        embedder_model: c.embedder_model.clone(),
        threads: c.threads,
        device: c.device,
        detect: c.detect,
    };
    Ok(Box::new(OnnxBackend::new(&config)?))
}

#[cfg(not(feature = "onnx"))]
fn build_backend(_: &OrganizeConfig) -> anyhow::Result<Box<dyn FaceBackend>> {
    Err(po_backend_api::BackendError::NotCompiled {
        name: "yunet".into(),
        feature: "onnx".into(),
    }
    .into())
}

/// What the face stage learned about one photo.
struct Analysed {
    faces: Vec<FaceRecord>,
    width: u32,
    height: u32,
    exif: ExifInfo,
}

/// Decodes on a rayon pool and runs the backend on this thread, photo by photo as they arrive.
fn analyse_all(
    photos: &[PhotoRef],
    backend: &mut dyn FaceBackend,
    threads: usize,
    progress: &dyn ProgressSink,
    verbose: bool,
) -> anyhow::Result<Vec<Result<Analysed, PhotoError>>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the decoding threads")?;
    let limits = DecodeLimits::default();
    let mut results: Vec<Option<Result<Analysed, PhotoError>>> =
        (0..photos.len()).map(|_| None).collect();
    // Bounded: at most this many decoded photos wait in memory for the inference thread.
    let (tx, rx) = mpsc::sync_channel(threads * 2);
    progress.start("faces", Some(photos.len() as u64));
    std::thread::scope(|s| {
        s.spawn(|| {
            pool.install(|| {
                photos
                    .par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, p)| {
                        // A send fails only when the receiver has gone; nothing is left to do then.
                        let _ = tx.send((i, prepare(&p.path, &limits)));
                    })
            })
        });
        for (i, prepared) in rx {
            let photo = &photos[i];
            let error = |stage, cause: String| PhotoError {
                path: photo.path.clone(),
                stage,
                cause,
            };
            let result = match prepared {
                Err(e) => Err(error(Stage::Decode, e.to_string())),
                Ok(p) => match analyse(backend, &p) {
                    Ok(faces) => Ok(Analysed {
                        faces,
                        width: p.rgb.width(),
                        height: p.rgb.height(),
                        exif: p.exif,
                    }),
                    Err(e) => Err(error(Stage::Faces, e.to_string())),
                },
            };
            match &result {
                Err(e) => progress.message(&format!("skipped {}: {}", e.path.display(), e.cause)),
                Ok(a) if verbose => progress.message(&format!(
                    "{}: {} face(s)",
                    photo.rel_path.display(),
                    a.faces.len()
                )),
                Ok(_) => {}
            }
            results[i] = Some(result);
            progress.advance(1);
        }
    });
    progress.finish();
    Ok(results
        .into_iter()
        .map(|r| r.expect("every photo is sent exactly once"))
        .collect())
}

fn organize(c: &OrganizeConfig, verbose: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let progress: Box<dyn ProgressSink> = match c.progress {
        ProgressStyle::Bars => Box::<Bars>::default(),
        ProgressStyle::Plain => Box::<Lines>::default(),
    };

    let mut backend = build_backend(c).context("cannot start the face backend")?;

    progress.start("scan", None);
    let scanned = scan(&c.source, &c.output);
    progress.advance(scanned.photos.len() as u64);
    progress.finish();
    let photos = scanned.photos;
    let mut errors: Vec<PhotoError> = scanned
        .errors
        .into_iter()
        .map(|e| PhotoError {
            path: e.path,
            stage: Stage::Scan,
            cause: e.cause,
        })
        .collect();

    let analysed = analyse_all(
        &photos,
        backend.as_mut(),
        c.threads,
        progress.as_ref(),
        verbose,
    )?;

    // Every face of every analysed photo, in photo order, as (photo, face) -> embedding.
    let face_index: Vec<(usize, usize)> = analysed
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().ok().map(|a| (i, a)))
        .flat_map(|(i, a)| (0..a.faces.len()).map(move |f| (i, f)))
        .collect();
    let embeddings: Vec<Vec<f32>> = face_index
        .iter()
        .map(|&(i, f)| match &analysed[i] {
            Ok(a) => a.faces[f].embedding.clone(),
            Err(_) => unreachable!("only analysed photos are indexed"),
        })
        .collect();
    progress.start("cluster", Some(embeddings.len() as u64));
    let labels = cluster(
        &embeddings,
        ClusterParams {
            min_cluster_size: c.min_cluster_size,
            ..ClusterParams::default()
        },
    )
    .context("clustering failed")?;
    progress.advance(embeddings.len() as u64);
    progress.finish();

    let mut face_people: Vec<Vec<Option<usize>>> = analysed
        .iter()
        .map(|r| r.as_ref().map_or(Vec::new(), |a| vec![None; a.faces.len()]))
        .collect();
    for (&(i, f), label) in face_index.iter().zip(&labels) {
        face_people[i][f] = *label;
    }
    let placed: Vec<PlacedPhoto> = photos
        .iter()
        .zip(&analysed)
        .zip(&face_people)
        .filter(|((_, r), _)| r.is_ok())
        .map(|((p, _), people)| PlacedPhoto {
            src: p.path.clone(),
            rel_path: p.rel_path.clone(),
            destinations: destinations(people),
        })
        .collect();
    // Index from placed back to photos, for the manifest.
    let placed_to_photo: Vec<usize> = (0..photos.len()).filter(|&i| analysed[i].is_ok()).collect();
    let the_plan = plan(&placed);

    let exec = if c.dry_run {
        print_plan(&the_plan, c)?;
        ExecReport::default()
    } else {
        execute(&the_plan, &c.output, progress.as_ref())
    };

    let mut copied_to: Vec<Vec<PathBuf>> = vec![Vec::new(); photos.len()];
    for (k, op) in the_plan.ops.iter().enumerate() {
        let photo = placed_to_photo[op.photo];
        match exec.outcomes.get(k) {
            Some(OpOutcome::Failed(cause)) => errors.push(PhotoError {
                path: photos[photo].path.clone(),
                stage: Stage::Copy,
                cause: cause.clone(),
            }),
            Some(_) => copied_to[photo].push(op.dst.clone()),
            None => {}
        }
    }
    errors.extend(analysed.iter().filter_map(|r| r.as_ref().err().cloned()));

    let people_count = labels.iter().flatten().collect::<BTreeSet<_>>().len();
    let count_dest = |d: Destination| placed.iter().filter(|p| p.destinations == [d]).count();
    let elapsed = started.elapsed().as_secs_f64();
    let summary = Summary {
        photos: photos.len(),
        faces: embeddings.len(),
        people: people_count,
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
        dry_run: c.dry_run,
        elapsed_s: elapsed,
        photos_per_s: photos.len() as f64 / elapsed.max(1e-9),
        backend: backend.info().clone(),
    };

    if !c.dry_run {
        let manifest = build_manifest(
            c,
            &summary,
            &photos,
            &analysed,
            &face_people,
            copied_to,
            &errors,
        );
        write_manifest(&c.output, &manifest)
            .with_context(|| format!("cannot write the manifest in {}", c.output.display()))?;
    }
    if c.json {
        if !c.dry_run {
            print_json(&summary)?;
        }
    } else {
        print!("{}", render_summary(&summary, &errors));
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_WITH_ERRORS)
    })
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

fn build_manifest(
    c: &OrganizeConfig,
    summary: &Summary,
    photos: &[PhotoRef],
    analysed: &[Result<Analysed, PhotoError>],
    face_people: &[Vec<Option<usize>>],
    copied_to: Vec<Vec<PathBuf>>,
    errors: &[PhotoError],
) -> Manifest {
    let mut people: Vec<PersonEntry> = (0..summary.people)
        .map(|p| PersonEntry {
            id: person_folder(p),
            folder: person_folder(p),
            faces: 0,
            photos: 0,
        })
        .collect();
    for persons in face_people {
        for p in persons.iter().flatten() {
            people[*p].faces += 1;
        }
        for p in persons.iter().flatten().collect::<BTreeSet<_>>() {
            people[*p].photos += 1;
        }
    }
    let photo_entries = photos
        .iter()
        .zip(analysed)
        .zip(face_people)
        .zip(copied_to)
        .map(|(((photo, result), persons), copied_to)| match result {
            Ok(a) => PhotoEntry {
                source: photo.rel_path.clone(),
                status: if a.faces.is_empty() {
                    PhotoStatus::NoFaces
                } else {
                    PhotoStatus::Faces
                },
                width: Some(a.width),
                height: Some(a.height),
                date_taken: a.exif.date_taken.clone(),
                faces: a
                    .faces
                    .iter()
                    .zip(persons)
                    .map(|(f, p)| FaceEntry {
                        bbox: f.bbox,
                        score: f.score,
                        landmarks: f.landmarks,
                        person: p.map(person_folder),
                    })
                    .collect(),
                copied_to,
                error: None,
            },
            Err(e) => PhotoEntry {
                source: photo.rel_path.clone(),
                status: PhotoStatus::Error,
                width: None,
                height: None,
                date_taken: None,
                faces: Vec::new(),
                copied_to,
                error: Some(e.cause.clone()),
            },
        })
        .collect();
    Manifest {
        schema: MANIFEST_SCHEMA,
        tool: format!("photo_organizer {}", env!("CARGO_PKG_VERSION")),
        source: c.source.clone(),
        output: c.output.clone(),
        summary: summary.clone(),
        people,
        photos: photo_entries,
        errors: errors.to_vec(),
    }
}
