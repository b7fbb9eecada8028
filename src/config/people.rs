//! What the `people` and `review` commands act on: an output folder's key in the store and, for
//! `people`, the action, validated from the command line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::canonical_key;

#[derive(Debug, Clone)]
pub struct PeopleConfig {
    /// The output directory, canonical: the key of its people in the store.
    pub collection: String,
    pub action: PeopleAction,
    pub json: bool,
}

#[derive(Debug, Clone)]
pub struct ReviewConfig {
    /// The output directory, absolute.
    pub output: PathBuf,
    /// Its key in the store ([`canonical_key`]).
    pub collection: String,
    pub port: Option<u16>,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeopleAction {
    List,
    Name {
        id: u32,
        name: String,
    },
    Unname {
        id: u32,
    },
    Split {
        id: u32,
        photos: Vec<PathBuf>,
    },
    /// `hide` (true) or `unhide` (false).
    Hide {
        id: u32,
        hidden: bool,
    },
    Merge {
        keep: u32,
        other: u32,
        force: bool,
    },
    Reject {
        id: u32,
        photo: PathBuf,
        face: Option<u32>,
    },
    /// `give`, and `not-a-face` (`id` `None`).
    Give {
        id: Option<u32>,
        photo: PathBuf,
        face: Option<u32>,
    },
}

pub(super) fn people_config(args: crate::cli::PeopleArgs) -> anyhow::Result<PeopleConfig> {
    use crate::cli::PeopleAction as Cli;
    if !args.output.is_dir() {
        bail!(
            "{} is not an output directory of photo_organizer; run `photo_organizer -s LIBRARY -o {}` first",
            args.output.display(),
            args.output.display()
        );
    }
    let absolute = |photo: &Path| {
        std::path::absolute(photo).with_context(|| format!("cannot resolve {}", photo.display()))
    };
    let action = match args.action.unwrap_or(Cli::List) {
        Cli::List => PeopleAction::List,
        Cli::Name { id, name } => PeopleAction::Name {
            id,
            name: crate::people::identity::check_name(&name)?,
        },
        Cli::Unname { id } => PeopleAction::Unname { id },
        Cli::Split { id, photos } => PeopleAction::Split { id, photos },
        Cli::Hide { id } => PeopleAction::Hide { id, hidden: true },
        Cli::Unhide { id } => PeopleAction::Hide { id, hidden: false },
        Cli::Merge { keep, other, force } => {
            if keep == other {
                bail!("cannot merge person {keep} into itself");
            }
            PeopleAction::Merge { keep, other, force }
        }
        Cli::Reject { id, photo, face } => PeopleAction::Reject {
            id,
            photo: absolute(&photo)?,
            face,
        },
        Cli::Give { id, photo, face } => PeopleAction::Give {
            id: Some(id),
            photo: absolute(&photo)?,
            face,
        },
        Cli::NotAFace { photo, face } => PeopleAction::Give {
            id: None,
            photo: absolute(&photo)?,
            face,
        },
    };
    Ok(PeopleConfig {
        collection: canonical_key(&args.output),
        action,
        json: args.json,
    })
}
