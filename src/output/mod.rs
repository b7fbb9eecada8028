//! The output folder. Takes every photo's people (from [`crate::people`]); hands on files in
//! OUT, the ledger, `manifest.json` and `report.html`, and a summary for the command to print.
//! Never writes outside OUT, never overwrites, never touches the library unless `--move`.
//!
//! | file | owns |
//! | --- | --- |
//! | [`plan`] | every destination, a photo's companions beside it, decided before anything is written (pure) |
//! | [`sync`] | the ledger, and what a re-run removes or moves after corrections |
//! | [`execute`] | the plan on disk: temporary file, sync, link into place |
//! | [`lock`] | OUT's lock: one writer at a time |
//! | [`report`] | the summary, `manifest.json`, `report.html` |
//! | [`xmp_write`] | XMP sidecars with the faces and names, new or merged into one there |
//!
//! Depends on [`crate::people`] (ids and names), [`crate::media`] (the XMP reader's types and
//! orientation), [`crate::setup`] (hashing) and [`crate::util`] (safe writes).

pub mod execute;
pub mod lock;
pub mod plan;
pub mod report;
pub mod sync;
pub mod xmp_write;
