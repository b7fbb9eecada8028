//! Stage 1: walks the library (and `--known DIR/<Name>/`) into [`Item`]s, each library photo
//! with its companion files ([`crate::media::companions`]); unreadable entries become scan
//! errors. Hands the [`Library`] to every later stage.

use crate::{
    config::OrganizeConfig,
    media::{
        companions::{companions_of, Companion},
        scan::{scan, PhotoRef},
    },
    output::report::{PhotoError, Stage},
    util::progress::ProgressSink,
};

/// One photo to identify: from the library, or from `--known` with the name it labels.
pub struct Item {
    pub photo: PhotoRef,
    pub known_name: Option<String>,
}

pub struct Library {
    /// Library photos first, then `--known` ones.
    pub items: Vec<Item>,
    /// Items before this index are from the library; the rest from `--known`.
    pub library_len: usize,
    pub errors: Vec<PhotoError>,
    /// The companions of each library photo (sidecars, edits, a Live Photo's video), by item
    /// index; they go wherever their photo goes.
    pub companions: Vec<Vec<Companion>>,
    /// Companion files whose photo is not in the library: left where they are.
    pub orphans: Vec<PhotoRef>,
}

impl Library {
    /// Whether item `i` is a library photo (not a `--known` one).
    pub fn in_library(&self, i: usize) -> bool {
        i < self.library_len
    }

    /// The companions of item `i` (none for a `--known` photo).
    pub fn companions_of(&self, i: usize) -> &[Companion] {
        self.companions.get(i).map_or(&[], Vec::as_slice)
    }
}

pub fn scan_library(c: &OrganizeConfig, progress: &dyn ProgressSink) -> Library {
    progress.start("scan", None);
    let scanned = scan(&c.source, &c.output, &c.exclude);
    let mut scan_errors = scanned.errors;
    let (companions, orphans) = companions_of(&scanned.photos, scanned.others);
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
        // --exclude is about the library; --known photos are all wanted.
        let known = scan(known_dir, &c.output, &globset::GlobSet::empty());
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
    Library {
        items,
        library_len,
        errors: scan_errors
            .into_iter()
            .map(|e| PhotoError {
                path: e.path,
                stage: Stage::Scan,
                cause: e.cause,
            })
            .collect(),
        companions,
        orphans,
    }
}
