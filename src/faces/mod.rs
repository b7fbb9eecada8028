//! Faces in one decoded photo. Takes a photo's path and bytes (through [`crate::media`]) and a
//! `FaceBackend` (chosen by [`crate::pipeline::backend`]); hands on each face's box, landmarks,
//! score, quality, aligned crop and embedding, and whether it is a pet's
//! ([`crate::cache::StoredAnalysis`]), to clustering ([`crate::people`]) and the cache.
//!
//! | file | owns |
//! | --- | --- |
//! | [`analyse`] | per photo: prepare (decode, shrink) in the pool, then detect, map back, embed |
//! | [`align`] | five-landmark similarity transform to the embedder's 112x112 template |
//! | [`animals`] | the pet check: a second detector's opinion on doubtful faces |
//! | [`video`] | per video: sampled frames through the photo path, one best face per person |
//!
//! Depends on [`crate::media`], [`crate::cache`], [`crate::setup`] (model files) and
//! [`crate::util`].

pub mod align;
pub mod analyse;
pub mod animals;
pub mod video;
