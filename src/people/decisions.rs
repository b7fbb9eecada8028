//! The user's decisions about one output directory (people's names, merges, rejected faces, and
//! which face belongs to whom), kept beside the photos in `OUT/people.json` as well as in the
//! cache, so that a damaged or deleted cache loses none of them. The cache stays the working
//! copy: [`save`] writes the file (atomically) after every change to the cache's people, and
//! [`restore`] takes back into the cache what the file has and the cache lacks, before a run
//! or a `people` command reads them. Schema in docs/MANIFEST.md.

use std::{
    collections::{BTreeMap, HashSet},
    fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    cache::{Cache, CacheError, FaceKey},
    people::identity::{check_name, merged_name, MergeConflict},
};

pub const PEOPLE_NAME: &str = "people.json";
pub const PEOPLE_SCHEMA: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DecisionsError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Merge(#[from] MergeConflict),
    #[error("cannot rename {from} to {to} (check that the output directory is writable)")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path} (check that the output directory is writable)")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    pub id: u32,
    pub name: Option<String>,
    /// `people hide`: never exported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeRecord {
    pub from: u32,
    pub into: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RejectionRecord {
    pub sha256: String,
    pub face: u32,
    pub person: u32,
}

/// `OUT/people.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decisions {
    pub schema: u32,
    pub tool: String,
    pub people: Vec<PersonRecord>,
    /// Every `people merge`, oldest first (the assignments already reflect them).
    #[serde(default)]
    pub merges: Vec<MergeRecord>,
    #[serde(default)]
    pub rejections: Vec<RejectionRecord>,
    /// `people split`: `[photo sha256, face index, person]` for every face given to a person.
    #[serde(default)]
    pub pins: Vec<(String, u32, u32)>,
    /// Per model key: `[photo sha256, face index, person]` for every assigned face.
    #[serde(default)]
    pub assignments: BTreeMap<String, Vec<(String, u32, u32)>>,
}

/// The output directory of a collection (its key is the canonical path of OUT).
fn out_of(collection: &str) -> &Path {
    Path::new(collection)
}

pub fn people_json(collection: &str) -> PathBuf {
    out_of(collection).join(PEOPLE_NAME)
}

/// Reads `people.json`: `Ok(None)` when there is none, `Err` with the cause when it cannot be
/// used.
pub fn read(collection: &str) -> Result<Option<Decisions>, String> {
    let path = people_json(collection);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Ok(m) if !m.is_file() => return Err("it is not a regular file".into()),
        _ => {}
    }
    let text = fs::read(&path).map_err(|e| e.to_string())?;
    let d: Decisions = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    if d.schema > PEOPLE_SCHEMA {
        return Err(format!(
            "schema {} is newer than this binary's {PEOPLE_SCHEMA}; upgrade photo_organizer",
            d.schema
        ));
    }
    Ok(Some(d))
}

/// What the cache holds for `collection`, with `merges` as the history.
fn from_cache(
    cache: &Cache,
    collection: &str,
    merges: Vec<MergeRecord>,
) -> Result<Decisions, CacheError> {
    let mut assignments: BTreeMap<String, Vec<(String, u32, u32)>> = BTreeMap::new();
    for (model_key, (sha, idx), person) in cache.all_assignments(collection)? {
        assignments
            .entry(model_key)
            .or_default()
            .push((sha, idx, person));
    }
    assignments.values_mut().for_each(|v| v.sort());
    let mut rejections: Vec<RejectionRecord> = cache
        .rejections(collection)?
        .into_iter()
        .map(|((sha256, face), person)| RejectionRecord {
            sha256,
            face,
            person,
        })
        .collect();
    rejections.sort_by(|a, b| (&a.sha256, a.face, a.person).cmp(&(&b.sha256, b.face, b.person)));
    Ok(Decisions {
        schema: PEOPLE_SCHEMA,
        tool: format!("photo_organizer {}", env!("CARGO_PKG_VERSION")),
        people: {
            let hidden = cache.hidden(collection)?;
            cache
                .people(collection)?
                .into_iter()
                .map(|(id, name)| PersonRecord {
                    id,
                    name,
                    hidden: hidden.contains(&id),
                })
                .collect()
        },
        merges,
        rejections,
        pins: {
            let mut pins: Vec<(String, u32, u32)> = cache
                .pins(collection)?
                .into_iter()
                .map(|((sha, idx), person)| (sha, idx, person))
                .collect();
            pins.sort();
            pins
        },
        assignments,
    })
}

/// Writes `OUT/people.json` from the cache, keeping the file's merge history and adding
/// `merge`.
fn write(
    cache: &Cache,
    collection: &str,
    merge: Option<MergeRecord>,
) -> Result<(), DecisionsError> {
    let path = people_json(collection);
    let mut merges = read(collection)
        .ok()
        .flatten()
        .map_or_else(Vec::new, |d| d.merges);
    merges.extend(merge);
    let decisions = from_cache(cache, collection, merges)?;
    let json = serde_json::to_vec_pretty(&decisions).map_err(io::Error::other);
    json.and_then(|json| {
        fs::create_dir_all(out_of(collection))?;
        crate::util::safe_fs::write_atomic(&path, &json)
    })
    .map_err(|source| DecisionsError::Write { path, source })
}

/// Writes `OUT/people.json` from what the cache now holds.
pub fn save(cache: &Cache, collection: &str) -> Result<(), DecisionsError> {
    write(cache, collection, None)
}

/// Takes back from `OUT/people.json` what the cache lacks: people it does not know (with their
/// names), names it lost, rejections, and the assignments of a model key it has none for. The
/// cache wins wherever it has something. Returns a line for the user when anything came back,
/// or when the file could not be used (it is then moved aside, and the run goes on).
pub fn restore(cache: &mut Cache, collection: &str) -> Result<Option<String>, DecisionsError> {
    let path = people_json(collection);
    let file = match read(collection) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(None),
        Err(why) => {
            let aside = path.with_extension(format!(
                "json.damaged-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            ));
            let moved = fs::rename(&path, &aside).is_ok();
            return Ok(Some(format!(
                "warning: {} cannot be used ({why}); {}; it is written again from the cache",
                path.display(),
                if moved {
                    format!("moved to {}", aside.display())
                } else {
                    "left where it is".to_string()
                }
            )));
        }
    };
    let known: BTreeMap<u32, Option<String>> = cache.people(collection)?.into_iter().collect();
    let mut names = 0;
    let mut people = 0;
    // Assignments first: they create the people they mention (unnamed).
    let merged_into: BTreeMap<u32, u32> = file.merges.iter().map(|m| (m.from, m.into)).collect();
    let resolve = |mut p: u32| {
        // Follow merge chains (bounded, in case the file holds a cycle).
        for _ in 0..merged_into.len() {
            match merged_into.get(&p) {
                Some(&into) => p = into,
                None => break,
            }
        }
        p
    };
    let mut assignments = 0;
    for (model_key, rows) in &file.assignments {
        if !cache.assignments(collection, model_key)?.is_empty() {
            continue;
        }
        let rows: Vec<(FaceKey, u32)> = rows
            .iter()
            .map(|(sha, idx, p)| ((sha.clone(), *idx), resolve(*p)))
            .collect();
        assignments += rows.len();
        cache.save_assignments(collection, model_key, &rows)?;
    }
    for person in &file.people {
        let name = person.name.as_deref().and_then(|n| check_name(n).ok());
        match known.get(&person.id) {
            None => {
                cache.set_name(collection, person.id, name.as_deref())?;
                if person.hidden {
                    cache.set_hidden(collection, person.id, true)?;
                }
                people += 1;
                names += usize::from(name.is_some());
            }
            Some(None) if name.is_some() => {
                cache.set_name(collection, person.id, name.as_deref())?;
                names += 1;
            }
            Some(_) => {}
        }
    }
    let pinned: HashSet<FaceKey> = cache
        .pins(collection)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for (sha, idx, person) in &file.pins {
        let key = (sha.clone(), *idx);
        if !pinned.contains(&key) {
            // The face's earlier person is among the file's rejections, restored below.
            cache.pin(collection, &key, *person, None)?;
            assignments += 1;
        }
    }
    let had: HashSet<(FaceKey, u32)> = cache.rejections(collection)?.into_iter().collect();
    let mut rejections = 0;
    for r in &file.rejections {
        let key = ((r.sha256.clone(), r.face), r.person);
        if !had.contains(&key) {
            cache.reject(collection, &key.0, key.1)?;
            rejections += 1;
        }
    }
    if people + names + rejections + assignments == 0 {
        return Ok(None);
    }
    Ok(Some(format!(
        "took back from {}: {people} people, {names} names, {rejections} rejections, {assignments} face assignments (the cache lacked them)",
        path.display()
    )))
}

/// Names person `id` (the name already checked by [`check_name`]) and records it.
pub fn set_name(
    cache: &mut Cache,
    collection: &str,
    id: u32,
    name: &str,
) -> Result<(), DecisionsError> {
    cache.set_name(collection, id, Some(name))?;
    save(cache, collection)
}

/// `people name` and the review page: names person `id` (the name already checked by
/// [`check_name`]), records it, and renames their folder in OUT now when that replaces nothing
/// (otherwise the next run fills the new one). Returns the folder.
pub fn name_and_rename(
    cache: &mut Cache,
    collection: &str,
    id: u32,
    name: &str,
) -> Result<PathBuf, DecisionsError> {
    let old = cache
        .people(collection)?
        .into_iter()
        .find(|(p, _)| *p == id)
        .and_then(|(_, n)| n);
    set_name(cache, collection, id, name)?;
    let out = out_of(collection);
    let from = out.join(crate::people::identity::folder_name(id, old.as_deref()));
    let to = out.join(crate::people::identity::folder_name(id, Some(name)));
    if from.is_dir() && !to.exists() {
        fs::rename(&from, &to).map_err(|source| DecisionsError::Rename {
            from,
            to: to.clone(),
            source,
        })?;
    }
    Ok(to)
}

/// `people reject` and the review page's "not this person": `faces` are never put in
/// `person` again (nor kept there now), and it is recorded.
pub fn reject(
    cache: &mut Cache,
    collection: &str,
    person: u32,
    faces: &[FaceKey],
) -> Result<(), DecisionsError> {
    for face in faces {
        cache.reject(collection, face, person)?;
    }
    save(cache, collection)
}

/// The review page's "this is X" (an unknown group given to a person, a suggestion accepted):
/// each face is pinned to `person` as `people split` pins, and an earlier rejection of it from
/// `person` is forgotten (the user has now said the opposite).
pub fn give(
    cache: &mut Cache,
    collection: &str,
    person: u32,
    faces: &[FaceKey],
) -> Result<(), DecisionsError> {
    for face in faces {
        cache.unreject(collection, face, person)?;
        cache.pin(collection, face, person, None)?;
    }
    save(cache, collection)
}

/// Name of the hidden person that holds what the user marked "not a face" (an animal, a
/// statue, a pattern): hidden, so it gets no folder and nothing is attached to it.
pub const NOT_A_FACE: &str = "Not a face";

/// The review page's "not a face / an animal": `faces` (each with the person it has now, if
/// any) go to the hidden person [`NOT_A_FACE`], made on first use, as `people split` and
/// `people hide` store it. Returns that person's id.
pub fn not_a_face(
    cache: &mut Cache,
    collection: &str,
    faces: &[(FaceKey, Option<u32>)],
) -> Result<u32, DecisionsError> {
    let hidden = cache.hidden(collection)?;
    let existing = cache
        .people(collection)?
        .into_iter()
        .find(|(id, name)| name.as_deref() == Some(NOT_A_FACE) && hidden.contains(id))
        .map(|(id, _)| id);
    let id = match existing {
        Some(id) => id,
        None => {
            let id = cache.new_person_id(collection)?;
            cache.set_name(collection, id, Some(NOT_A_FACE))?;
            cache.set_hidden(collection, id, true)?;
            id
        }
    };
    for (face, from) in faces {
        cache.pin(collection, face, id, from.filter(|p| *p != id))?;
    }
    save(cache, collection)?;
    Ok(id)
}

/// Removes person `id`'s name (their folder becomes `person_NNN` again) and records it.
pub fn unname(cache: &mut Cache, collection: &str, id: u32) -> Result<(), DecisionsError> {
    cache.set_name(collection, id, None)?;
    save(cache, collection)
}

/// `people split`: gives `faces` of person `from` to a new person, for this and later runs.
/// Returns the new person's id.
pub fn split(
    cache: &mut Cache,
    collection: &str,
    from: u32,
    faces: &[FaceKey],
) -> Result<u32, DecisionsError> {
    let id = cache.new_person_id(collection)?;
    cache.set_name(collection, id, None)?;
    for face in faces {
        cache.pin(collection, face, id, Some(from))?;
    }
    save(cache, collection)?;
    Ok(id)
}

/// Hides person `id` (no folder, their photos go where photos of nobody known go), or shows
/// them again, and records it.
pub fn set_hidden(
    cache: &mut Cache,
    collection: &str,
    id: u32,
    hidden: bool,
) -> Result<(), DecisionsError> {
    cache.set_hidden(collection, id, hidden)?;
    save(cache, collection)
}

/// Merges person `other` into `keep`, who keeps a name: their own, else `other`'s; two
/// different names need `force`. Returns the kept name.
pub fn merge(
    cache: &mut Cache,
    collection: &str,
    keep: u32,
    other: u32,
    force: bool,
) -> Result<Option<String>, DecisionsError> {
    let names: BTreeMap<u32, Option<String>> = cache.people(collection)?.into_iter().collect();
    let name_of = |id: u32| names.get(&id).cloned().flatten();
    let (keep_name, other_name) = (name_of(keep), name_of(other));
    let name = merged_name(
        (keep, keep_name.as_deref()),
        (other, other_name.as_deref()),
        force,
    )?;
    cache.merge(collection, keep, other)?;
    if name != keep_name {
        cache.set_name(collection, keep, name.as_deref())?;
    }
    write(
        cache,
        collection,
        Some(MergeRecord {
            from: other,
            into: keep,
        }),
    )?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_cache_takes_back_names_rejections_and_assignments() {
        let dir = tempfile::tempdir().unwrap();
        let collection = dir.path().to_str().unwrap().to_string();
        let mut old = Cache::in_memory().unwrap();
        let (a, b) = (("aa".to_string(), 0), ("bb".to_string(), 1));
        old.save_assignments(&collection, "m", &[(a.clone(), 1), (b.clone(), 2)])
            .unwrap();
        set_name(&mut old, &collection, 1, "Ada").unwrap();
        old.reject(&collection, &("cc".into(), 0), 1).unwrap();
        merge(&mut old, &collection, 1, 2, false).unwrap();

        let mut new = Cache::in_memory().unwrap();
        let note = restore(&mut new, &collection).unwrap().unwrap();
        assert!(note.contains("1 names"), "{note}");
        assert_eq!(
            new.people(&collection).unwrap(),
            vec![(1, Some("Ada".into()))]
        );
        let mut asg = new.assignments(&collection, "m").unwrap();
        asg.sort();
        assert_eq!(asg, vec![(a, 1), (b, 1)]);
        assert_eq!(
            new.rejections(&collection).unwrap(),
            vec![(("cc".into(), 0), 1)]
        );
        // Nothing more to take back the second time.
        assert_eq!(restore(&mut new, &collection).unwrap(), None);
        let file = read(&collection).unwrap().unwrap();
        assert_eq!(file.merges, vec![MergeRecord { from: 2, into: 1 }]);
    }

    #[test]
    fn an_unreadable_file_is_moved_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let collection = dir.path().to_str().unwrap().to_string();
        fs::write(people_json(&collection), b"{ half").unwrap();
        let mut cache = Cache::in_memory().unwrap();
        let note = restore(&mut cache, &collection).unwrap().unwrap();
        assert!(note.contains("moved to"), "{note}");
        assert!(!people_json(&collection).exists());
    }
}
