//! photo_organizer sorts a photo library into one folder per person. The pipeline is a chain of
//! functions, each from one plain type to the next: [`scan`] walks the library into `PhotoRef`s,
//! [`decode`] turns bytes into oriented RGB (a rayon pool), one inference thread runs the face
//! backend ([`faces`]: detect, [`align`], embed), [`cluster`] groups the embeddings into people,
//! [`plan`] decides every destination without touching the disk, [`execute`] copies (never
//! overwriting, never touching the source), and [`report`] writes the summary and
//! `manifest.json`. [`app`] wires the stages; [`setup`] fetches the runtime and models.

pub mod align;
pub mod animals;
pub mod app;
pub mod backend;
pub mod bench;
pub mod budget;
pub mod cache;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod decode;
pub mod doctor;
pub mod eval;
pub mod execute;
pub mod exif;
pub mod exit;
pub mod faces;
pub mod lock;
pub mod models;
pub mod paths;
pub mod people;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod report;
pub mod rng;
pub mod scan;
pub mod setup;
pub mod simd;
