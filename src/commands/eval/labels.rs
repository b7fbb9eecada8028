//! What each photo of a labelled library is: a person's (by label), a distractor that must
//! become nobody, or not scored. Two layouts: one sub-folder per person (`_name/` for
//! distractors), or a flat library with `labels.csv` (`file,label`; `MULTI` for photos of
//! several people, not scored; `NOFACE` for distractors), its photos beside it or in
//! `library/`, as `../shared/CORPUS.md` builds it.
//! And which half of the people a photo belongs to, so thresholds are chosen on one half and
//! reported on the other.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::cli::EvalHalf;

/// The labels file of a flat library.
pub const LABELS_CSV: &str = "labels.csv";
/// Where a corpus built by `../shared/corpus/build_corpus.sh` keeps its photos, beside
/// labels.csv, whose names are relative to it.
const LIBRARY_FOLDER: &str = "library";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    Person(String),
    Distractor,
    Unscored,
}

pub struct Labels {
    /// From labels.csv, by path relative to the library; `None`: labels are folders.
    csv: Option<HashMap<PathBuf, String>>,
}

impl Labels {
    /// The library's labels.csv if it has one, else folder labels.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(LABELS_CSV);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self { csv: None }),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut csv = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || (n == 0 && line == "file,label") {
                continue;
            }
            let Some((file, label)) = line.rsplit_once(',') else {
                bail!(
                    "{} line {}: expected `file,label`, found {line:?}; fix the line or remove the file to label by folders",
                    path.display(),
                    n + 1
                );
            };
            csv.insert(PathBuf::from(file), label.to_string());
        }
        Ok(Self { csv: Some(csv) })
    }

    pub fn is_csv(&self) -> bool {
        self.csv.is_some()
    }

    /// What the photo at `rel` (relative to the library) is.
    pub fn of(&self, rel: &Path) -> Truth {
        match &self.csv {
            // The corpus keeps its photos in `library/` beside labels.csv, named from there.
            Some(csv) => match csv
                .get(rel)
                .or_else(|| csv.get(rel.strip_prefix(LIBRARY_FOLDER).ok()?))
                .map(String::as_str)
            {
                None | Some("MULTI") => Truth::Unscored,
                Some("NOFACE") => Truth::Distractor,
                Some(label) => Truth::Person(label.to_string()),
            },
            None => {
                let mut parts = rel.components();
                match (parts.next(), parts.next()) {
                    (Some(first), Some(_)) => {
                        let label = first.as_os_str().to_string_lossy().into_owned();
                        if label.starts_with('_') {
                            Truth::Distractor
                        } else {
                            Truth::Person(label)
                        }
                    }
                    _ => Truth::Unscored,
                }
            }
        }
    }

    /// Whether the photo at `rel` is in `half`: a person's photos by the person's label, the
    /// others by their own path, so that each half is a library of its own people.
    pub fn in_half(&self, rel: &Path, half: EvalHalf) -> bool {
        match self.of(rel) {
            Truth::Person(label) => half_of(&label) == half,
            _ => half_of(&rel.to_string_lossy()) == half,
        }
    }
}

/// A person's half: `a` when the first byte of the sha256 of the label is even. Fixed by the
/// label alone, so every run and every machine splits a corpus the same way.
pub fn half_of(label: &str) -> EvalHalf {
    if Sha256::digest(label.as_bytes())[0] % 2 == 0 {
        EvalHalf::A
    } else {
        EvalHalf::B
    }
}

/// A source prefix of a corpus label (`lfw_george_bush` -> `lfw`), for the table per source.
pub fn source_of(label: &str) -> Option<&str> {
    label.split_once('_').map(|(source, _)| source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_library_is_labelled_by_its_csv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LABELS_CSV),
            "file,label\n0001.jpg,lfw_ann\n0002.jpg,MULTI\n0003.jpg,NOFACE\n",
        )
        .unwrap();
        let labels = Labels::read(dir.path()).unwrap();
        assert!(labels.is_csv());
        assert_eq!(
            labels.of(Path::new("0001.jpg")),
            Truth::Person("lfw_ann".into())
        );
        assert_eq!(labels.of(Path::new("0002.jpg")), Truth::Unscored);
        assert_eq!(labels.of(Path::new("0003.jpg")), Truth::Distractor);
        assert_eq!(labels.of(Path::new("0004.jpg")), Truth::Unscored);
        assert_eq!(
            labels.of(Path::new("library/0001.jpg")),
            Truth::Person("lfw_ann".into())
        );
        assert_eq!(source_of("lfw_ann"), Some("lfw"));
    }

    #[test]
    fn folders_label_when_there_is_no_csv() {
        let dir = tempfile::tempdir().unwrap();
        let labels = Labels::read(dir.path()).unwrap();
        assert!(!labels.is_csv());
        assert_eq!(
            labels.of(Path::new("ann/1.jpg")),
            Truth::Person("ann".into())
        );
        assert_eq!(labels.of(Path::new("_dogs/1.jpg")), Truth::Distractor);
        assert_eq!(labels.of(Path::new("loose.jpg")), Truth::Unscored);
    }

    #[test]
    fn halves_split_people_not_photos_and_are_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let labels = Labels::read(dir.path()).unwrap();
        let people: Vec<String> = (0..200).map(|i| format!("person{i}")).collect();
        let in_a = people.iter().filter(|p| half_of(p) == EvalHalf::A).count();
        assert!((70..130).contains(&in_a), "{in_a} of 200 in half a");
        for p in &people {
            let a = labels.in_half(&Path::new(p).join("1.jpg"), EvalHalf::A);
            let b = labels.in_half(&Path::new(p).join("2.jpg"), EvalHalf::B);
            assert_ne!(a, b, "both photos of {p} in one half");
        }
        // Pinned, so a corpus's halves never move between versions (Python:
        // hashlib.sha256(label.encode()).digest()[0] % 2).
        assert_eq!(half_of("lfw_george_w_bush"), EvalHalf::B);
        assert_eq!(half_of("c5_madonna"), EvalHalf::A);
    }
}
