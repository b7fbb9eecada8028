//! Faces -> people. Takes the embeddings of every face (from the cache) and the user's
//! decisions; hands on a person (stable id and name) or none for each face, to the output plan
//! ([`crate::output`]). Pure where it can be: the store is read and written by the caller.
//!
//! | file | owns |
//! | --- | --- |
//! | [`cluster`] | HDBSCAN on the embeddings (graph-based, scaled to 100k+ faces) |
//! | [`identity`] | cluster labels -> stable people: ids, names, `--known` people |
//! | [`attach`] | unknown faces joining the clearly nearest person after clustering |
//! | [`decisions`] | the user's names, merges and rejections, kept in `OUT/people.json` too |
//! | [`eval`], [`eval_breakdown`] | scoring a grouping against labels (BCubed, pairwise), per kind of photo |
//! | [`bench`] | synthetic faces and the figures `photo_organizer bench` writes |
//!
//! Depends on [`crate::faces`] (face quality), [`crate::cache`] and [`crate::util`].

pub mod attach;
pub mod bench;
pub mod cluster;
pub mod decisions;
pub mod eval;
pub mod eval_breakdown;
pub mod identity;
