//! `photo_organizer eval LABELLED_DIR`: runs stages 1-5 of the pipeline over a labelled library
//! ([`labels`]: one sub-folder per person, or a flat folder with `labels.csv`), optionally one
//! half of its people, writes nothing, and scores the grouping ([`crate::people::eval`]), in
//! all and per kind of photo ([`kinds`]) and per corpus source, with the faces of people
//! called animals. Exit code 0 when scored, 2 when it cannot run.

mod kinds;
mod labels;

use std::{collections::HashMap, io::Write, path::Path, process::ExitCode};

use labels::{Labels, Truth};

use crate::{
    cli::EvalHalf,
    config::OrganizeConfig,
    output::report::print_json,
    people::{eval_breakdown, identity::PeopleState},
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
    half: Option<EvalHalf>,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let progress = progress_sink(c.progress);
    let progress = progress.as_ref();
    let mut cache = open_cache(cache_dir)?;
    let model_key = model_key(c);
    let truth_of = Labels::read(&c.source)?;
    let mut library = scan_library(c, progress);
    if let Some(half) = half {
        // eval has no --known photos: every item is the library's.
        library
            .items
            .retain(|item| truth_of.in_half(&item.photo.rel_path, half));
        library.library_len = library.items.len();
    }
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
    let (mut kinds_of_item, mut largest_embedding) = (Vec::new(), Vec::new());
    let mut called_animal = AnimalCount::default();
    for (i, item) in library.items.iter().enumerate().take(library.library_len) {
        if analyses.duplicate_of.contains_key(&i) || !analyses.of_item.contains_key(&i) {
            continue;
        }
        let person = largest.get(&i).and_then(|(_, p, _)| *p);
        let face = largest.get(&i).map(|(_, _, f)| *f);
        let name = item.photo.rel_path.display().to_string();
        let label = match truth_of.of(&item.photo.rel_path) {
            Truth::Unscored => continue,
            Truth::Distractor => {
                if person.is_some() {
                    false_people.push(name);
                }
                continue;
            }
            Truth::Person(label) => label,
        };
        let analysis = &analyses.of_item[&i];
        called_animal.add(&name, analysis);
        if !largest.contains_key(&i) {
            missed += 1;
        }
        let mut kinds = vec!["all".to_string()];
        kinds.extend(
            kinds::kinds_of(&item.photo.path, analysis)
                .into_iter()
                .map(String::from),
        );
        if let Some(source) = labels::source_of(&label).filter(|_| truth_of.is_csv()) {
            kinds.push(format!("source {source}"));
        }
        kinds_of_item.push(kinds);
        largest_embedding.push(face.map(|f| faces.embeddings[f].as_slice()));
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
    let near = kinds::near_duplicates(&largest_embedding);
    for (kinds, near) in kinds_of_item.iter_mut().zip(near) {
        if near {
            kinds.push("near-duplicate".to_string());
        }
    }
    let by_kind = eval_breakdown::by_kind(
        &eval_breakdown::bcubed_per_item(&truth, &predicted),
        &kinds_of_item,
    );
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
            "half": half,
            "by_kind": by_kind,
            "human_faces_called_animals": called_animal,
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
        writeln!(
            out,
            "faces of people called animals: {} of {} ({:.2}%){}",
            called_animal.faces,
            called_animal.of,
            100.0 * called_animal.faces as f64 / called_animal.of.max(1) as f64,
            if called_animal.photos.is_empty() {
                String::new()
            } else {
                format!(": {}", called_animal.photos.join(", "))
            }
        )?;
        writeln!(out, "by kind           photos  precision  recall  BCubed F")?;
        for k in &by_kind {
            writeln!(
                out,
                "{:<16} {:>7}  {:9.3}  {:6.3}  {:.3}",
                k.kind, k.photos, k.bcubed_precision, k.bcubed_recall, k.bcubed_f
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Faces in photos labelled as a person's that the pet check called animals.
#[derive(Debug, Default, serde::Serialize)]
struct AnimalCount {
    faces: usize,
    /// All faces found in those photos.
    of: usize,
    photos: Vec<String>,
}

impl AnimalCount {
    fn add(&mut self, name: &str, analysis: &crate::cache::StoredAnalysis) {
        let animals = analysis.faces.iter().filter(|f| f.animal).count();
        self.faces += animals;
        self.of += analysis.faces.len();
        if animals > 0 {
            self.photos.push(name.to_string());
        }
    }
}
