//! `photo_organizer people`: lists, names, merges and corrects the people of an output folder,
//! in the cache ([`crate::cache`]); the next organize run applies the changes to the folders.

use std::{io::Write, process::ExitCode};

use anyhow::{bail, Context};

use crate::{
    config::{Config, PeopleAction, PeopleConfig},
    output::report::print_json,
    setup::fetch::file_digest,
};

use super::open_cache;

pub fn run(config: &Config, p: &PeopleConfig) -> anyhow::Result<ExitCode> {
    let mut cache = open_cache(&config.cache_dir)?;
    crate::people::decisions::restore(&mut cache, &p.collection)?.inspect(|n| eprintln!("{n}"));
    let stats = cache.person_stats(&p.collection)?;
    // Every action on a person needs that person to exist.
    let require = |id: u32| -> anyhow::Result<()> {
        if stats.iter().any(|s| s.id == id) {
            return Ok(());
        }
        bail!(
            "no person {id} in {}; `photo_organizer people -o {}` lists them",
            p.collection,
            p.collection
        )
    };
    match &p.action {
        PeopleAction::List => {
            let hidden = cache.hidden(&p.collection)?;
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
                        // A hidden person has no folder.
                        "folder": (!hidden.contains(&s.id))
                            .then(|| crate::people::identity::folder_name(s.id, s.name.as_deref())),
                        "hidden": hidden.contains(&s.id),
                        "faces": s.faces,
                        "sample": sample,
                    })
                })
                .collect();
            if p.json {
                print_json(&rows)?;
            } else {
                let text = |v: &serde_json::Value| match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "-".into(),
                    other => other.to_string(),
                };
                let table: Vec<[String; 5]> = rows
                    .iter()
                    .map(|r| {
                        ["id", "name", "folder", "faces", "sample"].map(|k| {
                            if k == "folder" && r["hidden"] == true {
                                "(hidden)".into()
                            } else {
                                text(&r[k])
                            }
                        })
                    })
                    .collect();
                print_table(["ID", "NAME", "FOLDER", "FACES", "SAMPLE"], &table)?;
            }
        }
        PeopleAction::Name { id, name } => {
            require(*id)?;
            let folder =
                crate::people::decisions::name_and_rename(&mut cache, &p.collection, *id, name)?;
            eprintln!("person {id} is now {name:?} (folder {})", folder.display());
        }
        PeopleAction::Split { id, photos } => {
            require(*id)?;
            let mut faces = Vec::new();
            for photo in photos {
                let (sha, _) = file_digest(photo)
                    .with_context(|| format!("cannot read {}", photo.display()))?;
                let of_person: Vec<u32> = cache
                    .assigned_faces(&p.collection, &sha)?
                    .into_iter()
                    .filter(|(_, person)| person == id)
                    .map(|(idx, _)| idx)
                    .collect();
                if of_person.is_empty() {
                    bail!(
                        "no face of {} belongs to person {id}; `photo_organizer people -o {}` and manifest.json say whose faces it has",
                        photo.display(),
                        p.collection
                    );
                }
                faces.extend(of_person.into_iter().map(|idx| (sha.clone(), idx)));
            }
            let new = crate::people::decisions::split(&mut cache, &p.collection, *id, &faces)?;
            eprintln!(
                "{} face(s) of person {id} are now person {new}; re-run to update the folders",
                faces.len()
            );
        }
        PeopleAction::Unname { id } => {
            require(*id)?;
            crate::people::decisions::unname(&mut cache, &p.collection, *id)?;
            eprintln!(
                "person {id} has no name now (folder {}); re-run to update the folders",
                crate::people::identity::folder_name(*id, None)
            );
        }
        PeopleAction::Hide { id, hidden } => {
            require(*id)?;
            crate::people::decisions::set_hidden(&mut cache, &p.collection, *id, *hidden)?;
            if *hidden {
                eprintln!("person {id} is hidden: no folder from the next run on (`people unhide {id}` undoes it)");
            } else {
                eprintln!("person {id} is shown again from the next run on");
            }
        }
        PeopleAction::Merge { keep, other, force } => {
            for id in [keep, other] {
                require(*id)?;
            }
            crate::people::decisions::merge(&mut cache, &p.collection, *keep, *other, *force)?;
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
            let keys: Vec<_> = faces.iter().map(|f| (sha.clone(), *f)).collect();
            crate::people::decisions::reject(&mut cache, &p.collection, *id, &keys)?;
            eprintln!(
                "face(s) {faces:?} of {} will not be put in person {id} again; re-run to update the folders",
                photo.display()
            );
        }
        PeopleAction::Give { id, photo, face } => {
            if let Some(id) = id {
                require(*id)?;
            }
            let (sha, _) =
                file_digest(photo).with_context(|| format!("cannot read {}", photo.display()))?;
            let idx = face_of(&cache, &p.collection, &sha, photo, *face)?;
            let key = (sha.clone(), idx);
            match id {
                Some(id) => {
                    crate::people::decisions::give(&mut cache, &p.collection, *id, &[key])?;
                    eprintln!(
                        "face {idx} of {} is person {id} now and on later runs; re-run to update the folders",
                        photo.display()
                    );
                }
                None => {
                    let now = cache
                        .assigned_faces(&p.collection, &sha)?
                        .into_iter()
                        .find(|(i, _)| *i == idx)
                        .map(|(_, person)| person);
                    crate::people::decisions::not_a_face(&mut cache, &p.collection, &[(key, now)])?;
                    eprintln!(
                        "face {idx} of {} is not a face: it joins no person now or on later runs; re-run to update the folders",
                        photo.display()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The face of `photo` (content `sha`) that `give` and `not-a-face` act on: `face` when the
/// last run found that many, else the photo's only face; an error naming the fix otherwise.
fn face_of(
    cache: &crate::cache::Cache,
    collection: &str,
    sha: &str,
    photo: &std::path::Path,
    face: Option<u32>,
) -> anyhow::Result<u32> {
    let key = match cache.main_model_key(collection)? {
        Some(key) => Some(key),
        None => cache.model_key_of(sha)?,
    };
    let found = match &key {
        Some(key) => cache.review_faces(sha, key)?.len() as u32,
        None => 0,
    };
    match face {
        Some(f) if f < found => Ok(f),
        _ if found == 0 => bail!(
            "no face of {} is known: organize it into {collection} first",
            photo.display()
        ),
        Some(f) => bail!(
            "{} has {found} face(s), numbered from 0 in manifest.json; there is no face {f}",
            photo.display()
        ),
        None if found == 1 => Ok(0),
        None => bail!(
            "{} has {found} faces; say which with --face N (as numbered in manifest.json)",
            photo.display()
        ),
    }
}

/// Columns padded to their widest cell, numbers (ID, FACES) right-aligned, under a header.
fn print_table(header: [&str; 5], rows: &[[String; 5]]) -> std::io::Result<()> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let header = header.map(String::from);
    for row in std::iter::once(&header).chain(rows) {
        let [id, name, folder, faces, sample] = row;
        let line = format!(
            "{id:>w0$}  {name:<w1$}  {folder:<w2$}  {faces:>w3$}  {sample}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
