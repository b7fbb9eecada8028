//! Stage 2: every item's content hash (sha256), and every companion's, from the cache when size
//! and mtime are unchanged, else computed in parallel and stored. The hash is what the cache,
//! duplicates and people are keyed by, and what the ledger knows a placed file by.

use rayon::prelude::*;

use crate::{
    cache::Cache, media::scan::PhotoRef, setup::fetch::file_digest, util::progress::ProgressSink,
};

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
    let files: Vec<&PhotoRef> = items.iter().map(|it| &it.photo).collect();
    let (hashed, new) = hash_files(&files, cache)?;
    progress.advance(items.len() as u64);
    progress.finish();
    Ok((hashed, new))
}

/// Per library item, the sha256 of each of its companions (in
/// [`Library::companions_of`]'s order), or why one could not be read: what the ledger records
/// of a placed companion, and how a re-run finds it again.
pub type CompanionHashes = Vec<Vec<Result<String, String>>>;

/// Every companion's sha256, from the cache like a photo's.
pub fn hash_companions(library: &Library, cache: &mut Cache) -> anyhow::Result<CompanionHashes> {
    let files: Vec<&PhotoRef> = library
        .companions
        .iter()
        .flatten()
        .map(|c| &c.file)
        .collect();
    let mut hashed = hash_files(&files, cache)?.0.into_iter();
    Ok(library
        .companions
        .iter()
        .map(|cs| hashed.by_ref().take(cs.len()).collect())
        .collect())
}

/// The sha256 of each file, from the cache while its size and mtime are unchanged, else
/// computed in parallel and stored; and the indices of the files hashed now.
fn hash_files(files: &[&PhotoRef], cache: &mut Cache) -> anyhow::Result<(Hashes, Vec<usize>)> {
    let mut known: Vec<Option<String>> = Vec::with_capacity(files.len());
    for f in files {
        known.push(cache.known_hash(&f.path, f.size, f.mtime)?);
    }
    let hashed: Hashes = files
        .par_iter()
        .zip(known.par_iter())
        .map(|(f, k)| match k {
            Some(sha) => Ok(sha.clone()),
            None => file_digest(&f.path)
                .map(|(sha, _)| sha)
                .map_err(|e| format!("cannot read file: {e}")),
        })
        .collect();
    let fresh: Vec<_> = files
        .iter()
        .zip(&known)
        .zip(&hashed)
        .filter(|((_, k), _)| k.is_none())
        .filter_map(|((f, _), h)| {
            h.as_ref()
                .ok()
                .map(|sha| (f.path.clone(), f.size, f.mtime, sha.clone()))
        })
        .collect();
    cache.put_hashes(&fresh)?;
    let new = (0..files.len()).filter(|&i| known[i].is_none()).collect();
    Ok((hashed, new))
}
