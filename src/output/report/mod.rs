//! What a run tells the user: the [`Summary`] (printed, or JSON with `--json`) and
//! `OUT/manifest.json` ([`Manifest`], schema in docs/MANIFEST.md), which records every photo's
//! faces, people and copies, and every error with its path and cause.

use std::{
    fmt::Write as _,
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

pub mod html;

use po_backend_api::BackendInfo;
use serde::Serialize;

pub const MANIFEST_NAME: &str = "manifest.json";
/// 2: each photo's `companions`, the top-level `orphan_companions`, and the summary's
/// `companions` and `orphan_companions` counts (issue #34).
pub const MANIFEST_SCHEMA: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Scan,
    Decode,
    Faces,
    Cluster,
    Copy,
}

/// One thing that went wrong, with the file it concerns.
#[derive(Debug, Clone, Serialize)]
pub struct PhotoError {
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub path: PathBuf,
    pub stage: Stage,
    pub cause: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub photos: usize,
    pub faces: usize,
    pub people: usize,
    pub photos_with_people: usize,
    pub no_face_photos: usize,
    pub unknown_photos: usize,
    pub errors: usize,
    pub copied: usize,
    pub already_present: usize,
    /// Sources removed after verified copies (`--move`).
    pub moved: usize,
    /// Earlier placements moved to the folder they belong in now (a rename, merge, rejection).
    pub moved_in_out: usize,
    /// Earlier placements no folder wants any more, removed (copies and links only).
    pub removed_from_out: usize,
    /// Files in OUT left untouched although the plan no longer wants them (see the manifest's
    /// `left_in_place` for each path and reason).
    pub left_in_place: usize,
    /// Files with the same content as an earlier one; analysed and placed once.
    pub duplicates: usize,
    /// Companion files of the library's photos (sidecars, edits, Live Photo videos): each
    /// goes wherever its photo goes (its copies are counted in `copied`).
    pub companions: usize,
    /// Companion files whose photo is not in the library: left where they are.
    pub orphan_companions: usize,
    pub dry_run: bool,
    pub elapsed_s: f64,
    pub photos_per_s: f64,
    /// Photos whose faces came from the cache.
    pub cache_hits: usize,
    /// Photos decoded this run.
    pub decoded: usize,
    pub detector_calls: usize,
    pub embedder_calls: usize,
    /// Most photos one inference worker analysed together (`--batch-size` caps it; a batch is
    /// what is already decoded and waiting).
    pub largest_batch: usize,
    /// The backend that ran; `null` when every photo came from the cache and none was loaded.
    pub backend: Option<BackendInfo>,
}

#[derive(Debug, Serialize)]
pub struct FaceEntry {
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
    /// Id of the person, or `null` when the face matched nobody.
    pub person: Option<u32>,
    /// Folder of the person.
    pub folder: Option<String>,
    /// Not a person's face (a pet's, as far as the check tells: docs/QUALITY.md); never in a
    /// person.
    pub animal: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoStatus {
    Faces,
    NoFaces,
    /// Same bytes as `duplicate_of`; placed once.
    Duplicate,
    /// From `--known`: labels people, is not copied.
    Known,
    Error,
}

#[derive(Debug, Serialize)]
pub struct PhotoEntry {
    /// Relative to the source library.
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub source: PathBuf,
    pub status: PhotoStatus,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub date_taken: Option<String>,
    pub faces: Vec<FaceEntry>,
    /// Relative to the output directory.
    #[serde(serialize_with = "crate::util::paths::lossy_vec")]
    pub copied_to: Vec<PathBuf>,
    #[serde(serialize_with = "crate::util::paths::lossy_opt")]
    pub duplicate_of: Option<PathBuf>,
    pub error: Option<String>,
    /// The files that go with this photo, wherever it goes.
    pub companions: Vec<CompanionEntry>,
}

/// A companion file of a photo.
#[derive(Debug, Serialize)]
pub struct CompanionEntry {
    /// Relative to the source library.
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub source: PathBuf,
    pub kind: crate::media::companions::Kind,
    /// Relative to the output directory: beside the photo's copies.
    #[serde(serialize_with = "crate::util::paths::lossy_vec")]
    pub copied_to: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct PersonEntry {
    pub id: u32,
    pub name: Option<String>,
    pub folder: String,
    pub faces: usize,
    pub photos: usize,
}

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub schema: u32,
    pub tool: String,
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub source: PathBuf,
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub output: PathBuf,
    pub summary: Summary,
    pub people: Vec<PersonEntry>,
    pub photos: Vec<PhotoEntry>,
    pub errors: Vec<PhotoError>,
    /// Companion files whose photo is not in the library (relative to it): left where they are.
    #[serde(serialize_with = "crate::util::paths::lossy_vec")]
    pub orphan_companions: Vec<PathBuf>,
    /// Earlier placements left as they are, each with the reason.
    pub left_in_place: Vec<crate::output::sync::LeftInPlace>,
    /// The run's arguments (paths absolute): `review`'s Apply runs again with them.
    pub settings: crate::cli::OrganizeArgs,
}

/// Writes `OUT/manifest.json` atomically ([`crate::util::safe_fs::write_atomic`]): a reader never
/// sees half of it, and a link planted at a temporary name or at the manifest is not followed.
pub fn write_manifest(out: &Path, manifest: &Manifest) -> io::Result<PathBuf> {
    fs::create_dir_all(out)?;
    let path = out.join(MANIFEST_NAME);
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    crate::util::safe_fs::write_atomic(&path, &json)?;
    Ok(path)
}

/// Orphan companions the summary names; `manifest.json` lists them all.
const ORPHANS_NAMED: usize = 10;

/// The human-readable end-of-run summary; `orphans`: companion files whose photo is not in the
/// library (paths relative to it).
pub fn render_summary(s: &Summary, errors: &[PhotoError], orphans: &[PathBuf]) -> String {
    let mut out = String::new();
    let verb = if s.dry_run { "would copy" } else { "copied" };
    let _ = writeln!(
        out,
        "{} photos, {} faces, {} people ({} photos with people, {} without faces, {} unknown)",
        s.photos, s.faces, s.people, s.photos_with_people, s.no_face_photos, s.unknown_photos
    );
    let _ = writeln!(
        out,
        "{verb} {} files, {} already present, {} duplicates, {} errors",
        s.copied, s.already_present, s.duplicates, s.errors
    );
    if s.companions > 0 {
        let _ = writeln!(
            out,
            "{} companion files (sidecars, edits, Live Photo videos) go with their photos",
            s.companions
        );
    }
    if !orphans.is_empty() {
        let named: Vec<String> = orphans
            .iter()
            .take(ORPHANS_NAMED)
            .map(|p| p.display().to_string())
            .collect();
        let more = orphans.len().saturating_sub(ORPHANS_NAMED);
        let _ = writeln!(
            out,
            "{} companion files have no photo in the library and were left where they are: {}{}",
            orphans.len(),
            named.join(", "),
            if more > 0 {
                format!(" and {more} more (see manifest.json)")
            } else {
                String::new()
            }
        );
    }
    if s.moved > 0 {
        let _ = writeln!(out, "moved {} source files (copies verified)", s.moved);
    }
    if s.moved_in_out + s.removed_from_out + s.left_in_place > 0 {
        let _ = writeln!(
            out,
            "{} {} earlier files to their new folders, {} {} no folder wants, {} left in place (see manifest.json)",
            if s.dry_run { "would move" } else { "moved" },
            s.moved_in_out,
            if s.dry_run { "would remove" } else { "removed" },
            s.removed_from_out,
            s.left_in_place
        );
    }
    let _ = writeln!(
        out,
        "{:.1}s, {:.1} photos/s; {} from cache, {} decoded",
        s.elapsed_s, s.photos_per_s, s.cache_hits, s.decoded
    );
    match &s.backend {
        Some(b) => {
            // The tract backend's version string names its runtime ("tract 0.23.9").
            let runtime = match b.runtime_version.as_deref() {
                Some(v) if v.starts_with("tract") => v.to_string(),
                // The libtorch backend names its providers after the runtime.
                v if b.device.provider.starts_with("libtorch") => {
                    format!("libtorch {}", v.unwrap_or("unknown version"))
                }
                v => format!("ONNX Runtime {}", v.unwrap_or("unknown version")),
            };
            let _ = writeln!(
                out,
                "ran on {} via {} ({} + {}, backend {}, {runtime})",
                b.device.device, b.device.provider, b.detector_model, b.embedder_model, b.backend,
            );
            if let Some(reason) = &b.device.fallback_reason {
                let to = if b.backend == "tract" {
                    "the tract backend"
                } else {
                    &b.device.device
                };
                let _ = writeln!(out, "fell back to {to}: {reason}");
            }
        }
        None => {
            let _ = writeln!(out, "no model ran: every photo came from the cache");
        }
    }
    for e in errors {
        let _ = writeln!(out, "error: {}: {}", e.path.display(), e.cause);
    }
    out
}

pub fn print_json<T: Serialize>(value: &T) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).map_err(io::Error::other)?;
    writeln!(stdout)
}
