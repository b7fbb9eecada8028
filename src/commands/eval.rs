//! `photo_organizer eval LABELLED_DIR`: runs stages 1-5 of the pipeline over a folder with one
//! sub-folder per person (`_name/` for distractors that must match nobody), writes nothing,
//! and scores the grouping ([`crate::people::eval`]). Exit code 0 when scored, 2 when it cannot run.

use std::{collections::HashMap, io::Write, path::Path, process::ExitCode};

use crate::{
    config::OrganizeConfig,
    output::report::print_json,
    people::identity::PeopleState,
    pipeline::{
        analyse::{analyse, model_key},
        cluster::{cluster_faces, gather_faces},
        hash::hash,
        identify::identify_people,
        library::scan_library,
    },
    util::exit::{EXIT_INTERRUPTED, STOP},
};

use super::{open_cache, progress_sink};

/// Organizes a labelled folder without writing anything and scores the grouping, one item per
/// photo (its largest face's person).
pub fn run(
    c: &OrganizeConfig,
    cache_dir: &Path,
    json: bool,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let progress = progress_sink(c.progress);
    let progress = progress.as_ref();
    let mut cache = open_cache(cache_dir)?;
    let model_key = model_key(c);
    let library = scan_library(c, progress);
    let hashes = hash(&library, &mut cache, progress)?;
    let Some(analyses) = analyse(
        c, &library, &hashes, &mut cache, &model_key, progress, verbose, &STOP,
    )?
    else {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    };
    let faces = gather_faces(&library, &hashes, &analyses);
    let labels = cluster_faces(&faces, &analyses, c, progress)?;
    // Pure clustering: no earlier people, names or corrections.
    let people = identify_people(&faces, &analyses, &labels, &PeopleState::default());
    let mut largest: HashMap<usize, (f32, Option<u32>, usize)> = HashMap::new();
    for (face, ((owner, key), person)) in faces
        .owner
        .iter()
        .zip(&faces.keys)
        .zip(&people.person_of_face)
        .enumerate()
    {
        let bbox = analyses.of_item[owner].faces[key.1 as usize].bbox;
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
    for (i, item) in library.items.iter().enumerate().take(library.library_len) {
        if analyses.duplicate_of.contains_key(&i) || !analyses.of_item.contains_key(&i) {
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
        outcome_of_item.push(face.map(|f| people.attach[f]));
        before_attach.push(
            face.and_then(|f| people.before_attach[f])
                .map(|p| p as usize),
        );
        names.push(name);
    }
    let scores = crate::people::eval::score(&truth, &predicted);
    let merges = crate::people::eval::worst_merges(&truth, &predicted, &names, 5);
    let splits = crate::people::eval::worst_splits(&truth, &predicted, &names, 5);
    let unknowns = crate::people::eval::unknowns_by_identity(
        &truth,
        &predicted,
        &outcome_of_item,
        &names,
        &identities,
    );
    let scores_before_attach = crate::people::eval::score(&truth, &before_attach);
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
            "photo_errors": analyses.errors.len(),
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
        for line in crate::people::eval::unknowns_text(&unknowns) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
