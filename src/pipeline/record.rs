//! Stage 8: what the run did, for people and programs: the summary (stdout, `--json`), and in
//! OUT `manifest.json` (every photo, face, person, companion, copy and error) and `report.html`.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
};

use anyhow::Context;

use crate::{
    config::OrganizeConfig,
    output::execute::{ExecReport, OpOutcome},
    output::plan::Destination,
    output::report::{
        html::write_report, write_manifest, CompanionEntry, FaceEntry, Manifest, PersonEntry,
        PhotoEntry, PhotoError, PhotoStatus, Stage, Summary, MANIFEST_SCHEMA,
    },
    output::sync::{LeftInPlace, SyncReport},
};

use super::{
    analyse::Analyses, cluster::Faces, identify::People, library::Library, place::Placement,
};

/// Where each placed item's copies (and its companions' copies) landed, and the files whose
/// copies failed.
pub struct Placed {
    pub copied_to: HashMap<usize, Vec<PathBuf>>,
    /// (item, index of the companion in [`Library::companions_of`]) -> its copies.
    pub companion_copied_to: HashMap<(usize, usize), Vec<PathBuf>>,
    pub copy_errors: Vec<PhotoError>,
}

pub fn placed(placement: &Placement, exec: &ExecReport) -> Placed {
    let mut copied_to: HashMap<usize, Vec<PathBuf>> = HashMap::new();
    let mut companion_copied_to: HashMap<(usize, usize), Vec<PathBuf>> = HashMap::new();
    let mut copy_errors = Vec::new();
    for (k, op) in placement.plan.ops.iter().enumerate() {
        let item = placement.items[op.photo];
        match exec.outcomes.get(k).and_then(Option::as_ref) {
            Some(OpOutcome::Failed(cause)) => copy_errors.push(PhotoError {
                path: op.src.clone(),
                stage: Stage::Copy,
                cause: cause.clone(),
            }),
            Some(_) => match op.companion {
                None => copied_to.entry(item).or_default().push(op.dst.clone()),
                Some(c) => companion_copied_to
                    .entry((item, c))
                    .or_default()
                    .push(op.dst.clone()),
            },
            None => {}
        }
    }
    Placed {
        copied_to,
        companion_copied_to,
        copy_errors,
    }
}

/// Every error of the run in stage order: scan, copy, then per photo in library order.
pub fn all_errors(library: &Library, analyses: &Analyses, placed: &Placed) -> Vec<PhotoError> {
    let mut errors = library.errors.clone();
    errors.extend(placed.copy_errors.iter().cloned());
    let mut per_photo: Vec<(&usize, &PhotoError)> = analyses.errors.iter().collect();
    per_photo.sort_by_key(|(i, _)| **i);
    errors.extend(per_photo.into_iter().map(|(_, e)| e.clone()));
    errors
}

/// The people who have a face in a library photo (not only in `--known` ones).
fn people_in_library(placement: &Placement, people: &People) -> BTreeSet<u32> {
    placement
        .items
        .iter()
        .flat_map(|i| {
            people
                .of_item
                .get(i)
                .into_iter()
                .flatten()
                .flatten()
                .copied()
        })
        .collect()
}

/// What the report reads: the values the stages handed on, borrowed at the end of the run.
pub struct RunView<'a> {
    pub c: &'a OrganizeConfig,
    pub library: &'a Library,
    pub analyses: &'a Analyses,
    pub faces: &'a Faces,
    pub people: &'a People,
    pub placement: &'a Placement,
}

pub fn summary(
    run: &RunView,
    exec: &ExecReport,
    sync: &SyncReport,
    errors: usize,
    elapsed_s: f64,
) -> Summary {
    let RunView {
        c,
        library,
        analyses,
        people,
        placement,
        ..
    } = run;
    let count_dest = |d: Destination| {
        placement
            .photos
            .iter()
            .filter(|p| p.destinations == [d])
            .count()
    };
    let photos = library.library_len;
    Summary {
        photos,
        faces: placement
            .items
            .iter()
            .map(|i| analyses.of_item[i].faces.len())
            .sum(),
        people: people_in_library(placement, people).len(),
        photos_with_people: placement
            .photos
            .iter()
            .filter(|p| matches!(p.destinations.first(), Some(Destination::Person(_))))
            .count(),
        no_face_photos: count_dest(Destination::NoFaces),
        unknown_photos: count_dest(Destination::Unknown),
        errors,
        copied: if c.dry_run {
            placement.plan.ops.len()
        } else {
            exec.copied
        },
        already_present: exec.already_present,
        moved: exec.moved,
        moved_in_out: sync.moved_in_out,
        removed_from_out: sync.removed,
        left_in_place: sync.left_in_place.len(),
        duplicates: analyses
            .duplicate_of
            .keys()
            .filter(|i| library.in_library(**i))
            .count(),
        companions: library.companions.iter().map(Vec::len).sum(),
        orphan_companions: library.orphans.len(),
        dry_run: c.dry_run,
        elapsed_s,
        photos_per_s: photos as f64 / elapsed_s.max(1e-9),
        cache_hits: analyses.cache_hits,
        decoded: analyses.work.decoded,
        detector_calls: analyses.work.detector_calls,
        embedder_calls: analyses.work.embedder_calls,
        largest_batch: analyses.work.largest_batch,
        backend: analyses.backend.clone(),
    }
}

/// Writes `manifest.json` and `report.html` into OUT.
pub fn write_outputs(
    run: &RunView,
    mut placed: Placed,
    summary: &Summary,
    errors: &[PhotoError],
    left_in_place: &[LeftInPlace],
) -> anyhow::Result<()> {
    let RunView {
        c,
        library,
        analyses,
        faces,
        people,
        placement,
    } = run;
    let in_library = |o: &usize| library.in_library(*o);
    let person_entries: Vec<PersonEntry> = people_in_library(placement, people)
        .iter()
        .map(|&id| PersonEntry {
            id,
            name: people.names.get(&id).cloned().flatten(),
            folder: people.folders[&id].clone(),
            faces: faces
                .owner
                .iter()
                .zip(&people.person_of_face)
                .filter(|(o, p)| in_library(o) && **p == Some(id))
                .count(),
            photos: placement
                .items
                .iter()
                .filter(|i| people.of_item.get(i).is_some_and(|v| v.contains(&Some(id))))
                .count(),
        })
        .collect();
    let photo_entries: Vec<PhotoEntry> = library
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let analysis = analyses.of_item.get(&i);
            let status = if analyses.errors.contains_key(&i) {
                PhotoStatus::Error
            } else if analyses.duplicate_of.contains_key(&i) {
                PhotoStatus::Duplicate
            } else if it.known_name.is_some() {
                PhotoStatus::Known
            } else if analysis.is_some_and(|a| a.faces.iter().all(|f| f.animal)) {
                PhotoStatus::NoFaces
            } else {
                PhotoStatus::Faces
            };
            let persons = people.of_item.get(&i);
            PhotoEntry {
                source: if library.in_library(i) {
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
                            let person = persons.and_then(|p| p.get(f).copied().flatten());
                            FaceEntry {
                                bbox: face.bbox,
                                score: face.score,
                                landmarks: face.landmarks,
                                person,
                                folder: person
                                    .filter(|p| !people.hidden.contains(p))
                                    .map(|p| people.folders[&p].clone()),
                                animal: face.animal,
                            }
                        })
                        .collect()
                }),
                copied_to: placed.copied_to.remove(&i).unwrap_or_default(),
                duplicate_of: analyses
                    .duplicate_of
                    .get(&i)
                    .map(|&f| library.items[f].photo.rel_path.clone()),
                error: analyses.errors.get(&i).map(|e| e.cause.clone()),
                companions: library
                    .companions_of(i)
                    .iter()
                    .enumerate()
                    .map(|(k, c)| CompanionEntry {
                        source: c.file.rel_path.clone(),
                        kind: c.kind,
                        copied_to: placed
                            .companion_copied_to
                            .remove(&(i, k))
                            .unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect();
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        tool: format!("photo_organizer {}", env!("CARGO_PKG_VERSION")),
        source: c.source.clone(),
        output: c.output.clone(),
        summary: summary.clone(),
        people: person_entries,
        photos: photo_entries,
        errors: errors.to_vec(),
        orphan_companions: library.orphans.iter().map(|o| o.rel_path.clone()).collect(),
        left_in_place: left_in_place.to_vec(),
        settings: c.settings.clone(),
    };
    write_manifest(&c.output, &manifest)
        .with_context(|| format!("cannot write the manifest in {}", c.output.display()))?;
    let thumbs_where = |want: &dyn Fn(Option<u32>) -> bool, most: usize| -> Vec<Vec<u8>> {
        faces
            .owner
            .iter()
            .zip(&people.person_of_face)
            .zip(&faces.keys)
            .filter(|((o, p), _)| in_library(o) && want(**p))
            .filter_map(|((o, _), (_, f))| analyses.of_item[o].faces[*f as usize].thumb.clone())
            .take(most)
            .collect()
    };
    let thumbs = |id: u32| thumbs_where(&|p| p == Some(id), 12);
    let unknown_thumbs = thumbs_where(&|p: Option<u32>| p.is_none(), 48);
    write_report(&c.output, &manifest, &thumbs, &unknown_thumbs)
        .with_context(|| format!("cannot write the report in {}", c.output.display()))?;
    Ok(())
}
