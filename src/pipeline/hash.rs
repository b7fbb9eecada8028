//! Stage 2: every item's content hash (sha256), from the cache when size and mtime are
//! unchanged, else computed in parallel and stored. The hash is what the cache, duplicates and
//! people are keyed by.

use rayon::prelude::*;

use crate::{cache::Cache, setup::fetch::file_digest, util::progress::ProgressSink};

use super::library::Library;

/// Per item: its sha256, or why the file could not be read.
pub type Hashes = Vec<Result<String, String>>;

pub fn hash(
    library: &Library,
    cache: &mut Cache,
    progress: &dyn ProgressSink,
) -> anyhow::Result<Hashes> {
    Ok(hash_noting_new(library, cache, progress)?.0)
}

/// [`hash`], and the items hashed now: new to the cache, or changed since (by size and mtime).
pub fn hash_noting_new(
    library: &Library,
    cache: &mut Cache,
    progress: &dyn ProgressSink,
) -> anyhow::Result<(Hashes, Vec<usize>)> {
    let items = &library.items;
    progress.start("hash", Some(items.len() as u64));
    let mut known: Vec<Option<String>> = Vec::with_capacity(items.len());
    for it in items {
        known.push(cache.known_hash(&it.photo.path, it.photo.size, it.photo.mtime)?);
    }
    let hashed: Hashes = items
        .par_iter()
        .zip(known.par_iter())
        .map(|(it, k)| match k {
            Some(sha) => Ok(sha.clone()),
            None => file_digest(&it.photo.path)
                .map(|(sha, _)| sha)
                .map_err(|e| format!("cannot read file: {e}")),
        })
        .collect();
    let fresh: Vec<_> = items
        .iter()
        .zip(&known)
        .zip(&hashed)
        .filter(|((_, k), _)| k.is_none())
        .filter_map(|((it, _), h)| {
            h.as_ref().ok().map(|sha| {
                (
                    it.photo.path.clone(),
                    it.photo.size,
                    it.photo.mtime,
                    sha.clone(),
                )
            })
        })
        .collect();
    cache.put_hashes(&fresh)?;
    progress.advance(items.len() as u64);
    progress.finish();
    let new = (0..items.len()).filter(|&i| known[i].is_none()).collect();
    Ok((hashed, new))
}
