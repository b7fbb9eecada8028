//! `photo_organizer review`: a page on 127.0.0.1 for naming and correcting the people of one
//! output directory. [`Review`] holds the store and what the page shows ([`model::View`],
//! rebuilt after every change); each action calls the same [`crate::people::decisions`] function the
//! `people` subcommands call, so the cache and `OUT/people.json` hold it exactly as they
//! would; [`server`] serves the page and its JSON API and guards them (token, Host, POST).
//! "Apply" ([`apply`]) organizes OUT again with the settings its manifest recorded.

pub mod apply;
pub mod http;
pub mod model;
pub mod server;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
};

use crate::{
    cache::{Cache, CacheError, FaceKey, DB_NAME},
    people::decisions::DecisionsError,
    people::identity::NameError,
};

use model::{Face, View};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{0} has no manifest.json: it was never organized; run `photo_organizer -s LIBRARY -o {0}` first")]
    NeverOrganized(PathBuf),
    #[error("{path} cannot be read ({why}); run `photo_organizer -s LIBRARY -o {out}` again to write it")]
    BadManifest {
        path: PathBuf,
        out: PathBuf,
        why: String,
    },
    #[error("the cache {0} is missing, so the faces of OUT are unknown here; pass the --cache-dir that organized OUT, or organize OUT again (`photo_organizer -s LIBRARY -o OUT`)")]
    CacheMissing(PathBuf),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Decisions(#[from] DecisionsError),
    #[error(transparent)]
    Name(#[from] NameError),
    /// An action the page sent that cannot be done; the text says why.
    #[error("{0}")]
    Refused(String),
}

/// One output directory under review.
pub struct Review {
    pub out: PathBuf,
    pub collection: String,
    pub cache_dir: PathBuf,
    cache: Cache,
    /// The model key of the faces shown.
    model_key: Option<String>,
    /// Content hashes of OUT's photos (manifest order).
    photos: Vec<String>,
    pub faces: Vec<Face>,
    pub view: View,
    pub names: BTreeMap<u32, Option<String>>,
    /// What `people.json` restored into the cache when it opened, for the user.
    pub restore_note: Option<String>,
}

impl Review {
    /// Opens OUT's manifest and the cache, or says clearly which one is missing.
    pub fn open(out: &Path, collection: &str, cache_dir: &Path) -> Result<Self, ReviewError> {
        let manifest = read_manifest(out)?;
        if !cache_dir.join(DB_NAME).is_file() {
            return Err(ReviewError::CacheMissing(cache_dir.join(DB_NAME)));
        }
        let mut cache = Cache::open(cache_dir)?;
        let restore_note = crate::people::decisions::restore(&mut cache, collection)?;
        let source = PathBuf::from(manifest["source"].as_str().unwrap_or_default());
        let mut photos = Vec::new();
        let mut seen = HashSet::new();
        for p in manifest["photos"].as_array().into_iter().flatten() {
            // Faces of photos placed in OUT (and pets-only photos, for "not a face").
            if !matches!(p["status"].as_str(), Some("faces" | "no_faces")) {
                continue;
            }
            let Some(rel) = p["source"].as_str() else {
                continue;
            };
            if let Some(sha) = cache.sha_of_path(&source.join(rel))? {
                if seen.insert(sha.clone()) {
                    photos.push(sha);
                }
            }
        }
        let mut model_key = cache.main_model_key(collection)?;
        if model_key.is_none() {
            if let Some(first) = photos.first() {
                model_key = cache.model_key_of(first)?;
            }
        }
        let mut review = Review {
            out: out.to_path_buf(),
            collection: collection.to_string(),
            cache_dir: cache_dir.to_path_buf(),
            cache,
            model_key,
            photos,
            faces: Vec::new(),
            view: model::build(&[], &BTreeMap::new(), &HashSet::new(), &HashSet::new()),
            names: BTreeMap::new(),
            restore_note,
        };
        review.reload()?;
        Ok(review)
    }

    /// Reads the store again and rebuilds the view: after every action and every Apply.
    pub fn reload(&mut self) -> Result<(), ReviewError> {
        let c = &self.collection;
        self.names = self.cache.people(c)?.into_iter().collect();
        let hidden: HashSet<u32> = self.cache.hidden(c)?.into_iter().collect();
        let rejections: HashSet<(FaceKey, u32)> = self.cache.rejections(c)?.into_iter().collect();
        let pins: HashMap<FaceKey, u32> = self.cache.pins(c)?.into_iter().collect();
        let mut faces = Vec::new();
        if let Some(key) = &self.model_key {
            let assigned: HashMap<FaceKey, u32> =
                self.cache.assignments(c, key)?.into_iter().collect();
            for sha in &self.photos {
                for f in self.cache.review_faces(sha, key)? {
                    // As the next run identifies a face nothing new is said about: a pin
                    // wins, then the last run's person, never one it was rejected from.
                    let person = pins
                        .get(&f.key)
                        .or(assigned.get(&f.key))
                        .copied()
                        .filter(|p| !rejections.contains(&(f.key.clone(), *p)));
                    faces.push(Face {
                        key: f.key,
                        embedding: f.embedding,
                        animal: f.animal,
                        person,
                    });
                }
            }
        }
        self.view = model::build(&faces, &self.names, &hidden, &rejections);
        self.faces = faces;
        Ok(())
    }

    /// The stored thumbnail of a face of OUT (`None` for any other face).
    pub fn thumb(&self, face: &FaceKey) -> Result<Option<Vec<u8>>, ReviewError> {
        if !self.photos.contains(&face.0) {
            return Ok(None);
        }
        match &self.model_key {
            Some(key) => Ok(self.cache.face_thumb(face, key)?),
            None => Ok(None),
        }
    }

    fn require_person(&self, id: u32) -> Result<(), ReviewError> {
        if self.names.contains_key(&id) {
            Ok(())
        } else {
            Err(ReviewError::Refused(format!(
                "no person {id} in {} (reload the page)",
                self.collection
            )))
        }
    }

    /// The faces named by the page, checked to be faces of OUT (and, with `of`, of that
    /// person).
    fn faces_named(&self, ids: &[String], of: Option<u32>) -> Result<Vec<FaceKey>, ReviewError> {
        let index = model::index_of(&self.faces);
        if ids.is_empty() {
            return Err(ReviewError::Refused("select at least one face".into()));
        }
        ids.iter()
            .map(|id| {
                let key = model::parse_face_id(id)
                    .filter(|k| index.contains_key(k))
                    .ok_or_else(|| ReviewError::Refused(format!("no face {id} in OUT")))?;
                match of {
                    Some(p) if self.faces[index[&key]].person != Some(p) => Err(
                        ReviewError::Refused(format!("face {id} is not person {p}'s")),
                    ),
                    _ => Ok(key),
                }
            })
            .collect()
    }

    /// Does one action of the page, stored as the `people` subcommands store it; returns what
    /// to tell the user.
    pub fn act(&mut self, action: &Action) -> Result<String, ReviewError> {
        let c = self.collection.clone();
        let message = match action {
            Action::Name { person, name } => {
                self.require_person(*person)?;
                let name = crate::people::identity::check_name(name)?;
                let folder =
                    crate::people::decisions::name_and_rename(&mut self.cache, &c, *person, &name)?;
                format!(
                    "person {person} is now {name:?} (folder {})",
                    folder.display()
                )
            }
            Action::Unname { person } => {
                self.require_person(*person)?;
                crate::people::decisions::unname(&mut self.cache, &c, *person)?;
                format!("person {person} has no name now")
            }
            Action::Merge { people, force } => {
                let [keep, others @ ..] = people.as_slice() else {
                    return Err(ReviewError::Refused("select the people to merge".into()));
                };
                if others.is_empty() {
                    return Err(ReviewError::Refused("select at least two people".into()));
                }
                for p in people {
                    self.require_person(*p)?;
                }
                for other in others.iter().filter(|o| *o != keep) {
                    crate::people::decisions::merge(&mut self.cache, &c, *keep, *other, *force)?;
                }
                format!("{others:?} merged into person {keep}")
            }
            Action::Reject { person, faces } => {
                self.require_person(*person)?;
                let keys = self.faces_named(faces, Some(*person))?;
                crate::people::decisions::reject(&mut self.cache, &c, *person, &keys)?;
                format!("{} face(s) are not person {person} any more", keys.len())
            }
            Action::No { person, faces } => {
                self.require_person(*person)?;
                let keys = self.faces_named(faces, None)?;
                crate::people::decisions::reject(&mut self.cache, &c, *person, &keys)?;
                format!(
                    "remembered: these {} face(s) are not person {person}",
                    keys.len()
                )
            }
            Action::Split { person, faces } => {
                self.require_person(*person)?;
                let keys = self.faces_named(faces, Some(*person))?;
                let new = crate::people::decisions::split(&mut self.cache, &c, *person, &keys)?;
                format!(
                    "{} face(s) of person {person} are now person {new}",
                    keys.len()
                )
            }
            Action::Give { person, faces } => {
                self.require_person(*person)?;
                let keys = self.faces_named(faces, None)?;
                crate::people::decisions::give(&mut self.cache, &c, *person, &keys)?;
                format!("{} face(s) given to person {person}", keys.len())
            }
            Action::Hide { person, hidden } => {
                self.require_person(*person)?;
                crate::people::decisions::set_hidden(&mut self.cache, &c, *person, *hidden)?;
                format!(
                    "person {person} is {}",
                    if *hidden { "hidden" } else { "shown" }
                )
            }
            Action::NotAFace { faces } => {
                let keys = self.faces_named(faces, None)?;
                let index = model::index_of(&self.faces);
                let with_person: Vec<(FaceKey, Option<u32>)> = keys
                    .iter()
                    .map(|k| (k.clone(), self.faces[index[k]].person))
                    .collect();
                let id = crate::people::decisions::not_a_face(&mut self.cache, &c, &with_person)?;
                format!(
                    "{} face(s) marked not a face (hidden person {id}, {:?})",
                    keys.len(),
                    crate::people::decisions::NOT_A_FACE
                )
            }
        };
        self.reload()?;
        Ok(message)
    }
}

/// What the page can ask for; JSON `{"op": "name", ...}`. Faces are `sha256:index`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Name {
        person: u32,
        name: String,
    },
    Unname {
        person: u32,
    },
    /// The first person keeps; the others merge into them.
    Merge {
        people: Vec<u32>,
        #[serde(default)]
        force: bool,
    },
    /// "Not this person" on faces of `person`.
    Reject {
        person: u32,
        faces: Vec<String>,
    },
    /// A suggestion refused: the faces are rejected from `person`, so it is not made again.
    No {
        person: u32,
        faces: Vec<String>,
    },
    Split {
        person: u32,
        faces: Vec<String>,
    },
    /// An unknown group given to a person, or a suggestion accepted.
    Give {
        person: u32,
        faces: Vec<String>,
    },
    Hide {
        person: u32,
        hidden: bool,
    },
    NotAFace {
        faces: Vec<String>,
    },
}

/// OUT/manifest.json as JSON, or why it cannot be used.
pub fn read_manifest(out: &Path) -> Result<serde_json::Value, ReviewError> {
    let path = out.join(crate::output::report::MANIFEST_NAME);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReviewError::NeverOrganized(out.to_path_buf()))
        }
        Err(e) => {
            return Err(ReviewError::BadManifest {
                path,
                out: out.to_path_buf(),
                why: e.to_string(),
            })
        }
    };
    serde_json::from_slice(&text).map_err(|e| ReviewError::BadManifest {
        path,
        out: out.to_path_buf(),
        why: e.to_string(),
    })
}
