//! photo_organizer sorts a photo library into one folder per person. The organize pipeline
//! ([`pipeline`]) is a chain of stage functions, each from one plain type to the next: scan the
//! library, hash it, analyse what the cache lacks (a rayon decode pool feeding inference
//! workers that each own a face backend: detect, [`align`], embed), [`cluster`] the embeddings,
//! identify people with stable ids ([`people`]), [`plan`] every destination without touching
//! the disk, [`execute`] the plan (never overwriting, never writing outside OUT, never touching
//! the source unless `--move`), and [`report`] the summary, `manifest.json` and `report.html`.
//! [`app`] dispatches to one module per command ([`commands`]); [`setup`] fetches the runtime
//! and models.

pub mod align;
pub mod animals;
pub mod app;
pub mod attach;
pub mod backend;
pub mod bench;
pub mod budget;
pub mod cache;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod decisions;
pub mod decode;
pub mod doctor;
pub mod eval;
pub mod execute;
pub mod exif;
pub mod exit;
pub mod faces;
pub mod fuzzing;
pub mod gpu_libs;
pub mod heif;
pub mod jpeg_crop;
pub mod jpeg_scaled;
pub mod lock;
pub mod models;
pub mod paths;
pub mod people;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod python_bytes;
pub mod report;
pub mod review;
pub mod rng;
pub mod safe_fs;
pub mod scan;
pub mod setup;
pub mod simd;
pub mod sync;
