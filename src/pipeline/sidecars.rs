//! Stage 7b (issue #35, not yet called by `commands/organize.rs`): after the plan is executed,
//! an XMP sidecar beside every photo placed in OUT with the faces found and the names given
//! ([`crate::output::xmp_write`]), so other photo tools see them. Takes the run's values and the
//! execution's outcomes; hands on counts and one [`PhotoError`] per sidecar that could not be
//! written (the photo stays placed).

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use crate::media::companions::Kind;
use crate::media::xmp::PhotoGeometry;
use crate::output::execute::{ExecReport, OpOutcome};
use crate::output::report::{PhotoError, Stage};
use crate::output::xmp_write::{sidecar_path, write_beside, SidecarFace, SidecarOutcome};

use super::record::RunView;

#[derive(Debug, Default)]
pub struct SidecarReport {
    pub written: usize,
    pub merged: usize,
    pub unchanged: usize,
    /// Placements whose sidecar is a companion that travelled with the photo (issue #34): not
    /// merged yet, because the ledger records the companion's bytes as placed, and a merge would
    /// make the next run take it for a user's edit. Merging needs the ledger to record the
    /// merged bytes ([`crate::output::sync::record`]).
    pub companion_left: usize,
    pub errors: Vec<PhotoError>,
}

/// Enough of a photo's start to hold its EXIF (a JPEG's APP1 comes first; 64 KB at most).
const EXIF_PREFIX: u64 = 256 << 10;

/// Writes or merges `<placed file>.xmp` for every op the execution placed.
pub fn write_sidecars(run: &RunView, exec: &ExecReport) -> SidecarReport {
    let mut report = SidecarReport::default();
    let ops = &run.placement.plan.ops;
    // Where an XMP companion of a photo was placed: beside that placement of the photo.
    let companion_xmp: HashSet<(usize, &Path)> = ops
        .iter()
        .filter(|op| op.kind == Some(Kind::Xmp))
        .filter_map(|op| Some((op.photo, op.dst.parent()?)))
        .collect();
    for (k, op) in ops.iter().enumerate() {
        match exec.outcomes.get(k).and_then(Option::as_ref) {
            Some(OpOutcome::Copied | OpOutcome::AlreadyPresent) if op.companion.is_none() => {}
            _ => continue,
        }
        if op
            .dst
            .parent()
            .is_some_and(|folder| companion_xmp.contains(&(op.photo, folder)))
        {
            report.companion_left += 1;
            continue;
        }
        let item = run.placement.items[op.photo];
        let Some(analysis) = run.analyses.of_item.get(&item) else {
            continue;
        };
        let person_of = run.people.of_item.get(&item);
        let faces: Vec<SidecarFace<'_>> = analysis
            .faces
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.animal)
            .map(|(i, f)| SidecarFace {
                bbox: f.bbox,
                name: person_of
                    .and_then(|p| p.get(i).copied().flatten())
                    .filter(|id| !run.people.hidden.contains(id))
                    .and_then(|id| run.people.names.get(&id)?.as_deref()),
            })
            .collect();
        let source = &run.library.items[item].photo.path;
        let photo =
            PhotoGeometry::from_oriented(analysis.width, analysis.height, orientation(source));
        let placed = run.c.output.join(&op.dst);
        match write_beside(&placed, photo, &faces) {
            Ok(SidecarOutcome::Written) => report.written += 1,
            Ok(SidecarOutcome::Merged) => report.merged += 1,
            Ok(SidecarOutcome::Unchanged) => report.unchanged += 1,
            Err(e) => report.errors.push(PhotoError {
                path: source.clone(),
                stage: Stage::Copy,
                cause: format!("{}: {}", sidecar_path(&op.dst).display(), error_chain(&e)),
            }),
        }
    }
    report
}

/// The cause with its sources, as `{:#}` prints an anyhow error.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// The photo's EXIF orientation, read from the start of the file. A HEIF photo's rotation is
/// its `irot`/`imir`, already in the analysed size, so it counts as stored as shown (1).
fn orientation(path: &Path) -> u16 {
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(EXIF_PREFIX).read_to_end(&mut head));
    if read.is_err() || crate::media::decoded::is_heif(&head) {
        return 1;
    }
    crate::media::exif::ExifInfo::read(&head).orientation
}
