//! The review page's "Apply": organizes OUT again with the arguments its manifest recorded
//! (the same run as on the command line, which the command passes in as [`Organize`]), then
//! says what moved,
//! from OUT's ledger before and after ([`crate::output::sync`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::config::{organize_config_of, OrganizeConfig, ProgressStyle};

/// What one Apply changed in OUT (paths relative to OUT).
#[derive(Debug, Serialize)]
pub struct Applied {
    pub moved: Vec<(PathBuf, PathBuf)>,
    pub removed: Vec<PathBuf>,
    pub added: Vec<PathBuf>,
    /// The run's summary from the manifest it wrote (`moved_in_out`, `removed_from_out`, ...).
    pub summary: serde_json::Value,
}

/// Placements per source photo, from the ledger.
fn placements(out: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let (ledger, _) = crate::output::sync::load(out);
    let mut by_source: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for e in ledger.entries {
        by_source.entry(e.source).or_default().insert(e.path);
    }
    by_source
}

/// The organize run (`commands::organize::run`): given to the page by its command.
pub type Organize = fn(&OrganizeConfig, &Path, bool) -> anyhow::Result<std::process::ExitCode>;

/// Runs organize into `out` with its recorded settings.
pub fn apply(out: &Path, cache_dir: &Path, organize: Organize) -> anyhow::Result<Applied> {
    let manifest = super::read_manifest(out)?;
    let Some(settings) = manifest.get("settings").filter(|s| !s.is_null()) else {
        bail!(
            "{} does not record the settings that made it (an older version wrote it); run `photo_organizer -s LIBRARY -o {}` with your settings instead",
            out.join(crate::output::report::MANIFEST_NAME).display(),
            out.display()
        );
    };
    let args: crate::cli::OrganizeArgs = serde_json::from_value(settings.clone())
        .context("the settings recorded in manifest.json cannot be read")?;
    let mut c = organize_config_of(args, cache_dir, true)?;
    c.progress = ProgressStyle::Silent;
    let before = placements(out);
    organize(&c, cache_dir, false)?;
    let after = placements(out);
    let mut applied = Applied {
        moved: Vec::new(),
        removed: Vec::new(),
        added: Vec::new(),
        summary: super::read_manifest(out)?["summary"].clone(),
    };
    let empty = BTreeSet::new();
    let sources: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    for source in sources {
        let old = before.get(source).unwrap_or(&empty);
        let new = after.get(source).unwrap_or(&empty);
        let mut gone: Vec<&PathBuf> = old.difference(new).collect();
        let mut came: Vec<&PathBuf> = new.difference(old).collect();
        // Pair what left with what arrived: those are moves; the rest removals and copies.
        while let (Some(from), Some(to)) = (gone.pop(), came.pop()) {
            applied.moved.push((from.clone(), to.clone()));
        }
        applied.removed.extend(gone.into_iter().cloned());
        applied.added.extend(came.into_iter().cloned());
    }
    Ok(applied)
}
