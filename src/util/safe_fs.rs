//! Writing under the output directory without ever writing outside it. Every file the tool
//! creates there goes through a temporary file with an unpredictable name, opened exclusively
//! (`create_new`, so a link planted at that name is refused, never followed), synced, and then
//! linked or renamed into place; folders on the way are created one component at a time and a
//! symbolic link found among them is refused with its path. Used by [`crate::output::execute`] for
//! photos and by [`crate::output::report`] and [`crate::people::decisions`] for `manifest.json`, `report.html`
//! and `people.json`.

use std::{
    fs::{self, File},
    hash::{BuildHasher, Hasher},
    io::{self, Write},
    path::{Component, Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

/// Suffix of files in progress; any left by a killed run are removed by the next one
/// ([`crate::output::execute::remove_stale_partials`]).
pub const PARTIAL_SUFFIX: &str = ".po-partial";

/// 64 unpredictable bits: std's per-process random hash keys, a counter and the time.
fn unpredictable() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Creates a new, empty temporary file in `dir` under an unpredictable short name (short, so
/// that it fits even beside a name at the file system's limit). Fails rather than open
/// anything that already exists there, a planted link included.
pub fn create_temp_in(dir: &Path) -> io::Result<(File, PathBuf)> {
    loop {
        let path = dir.join(format!(".{:016x}{PARTIAL_SUFFIX}", unpredictable()));
        match File::options().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            // A name taken by chance (or by an attacker's guess): draw again.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Makes the entries of `dir` durable (a rename or link into it, or an unlink from it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Replaces `path` with `bytes` atomically: a reader sees the old file or the new one, never
/// half of one, and a link at `path` is replaced itself, never followed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (mut file, tmp) = create_temp_in(dir)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir)
}

/// Why a destination under the output directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum OutsideError {
    #[error("{0} is a symbolic link inside the output directory; it is not followed (remove it, or choose another output directory)")]
    Link(PathBuf),
    #[error("{0} is in the way: it is not a folder (move it away and re-run)")]
    NotADir(PathBuf),
    #[error("{0} leaves the output directory; destinations must be plain relative paths")]
    Escapes(PathBuf),
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl From<OutsideError> for io::Error {
    fn from(e: OutsideError) -> Self {
        io::Error::other(e.to_string())
    }
}

/// Creates the folder `root/rel` one component at a time, refusing any component that is a
/// symbolic link (to a folder or not) or not a folder: nothing is then written outside
/// `root` through a link found inside it. `root` itself is taken as given.
pub fn create_dirs_inside(root: &Path, rel: &Path) -> Result<PathBuf, OutsideError> {
    let mut at = root.to_path_buf();
    if !root.exists() {
        fs::create_dir_all(root).map_err(|source| OutsideError::Create {
            path: root.to_path_buf(),
            source,
        })?;
    }
    for component in rel.components() {
        let Component::Normal(name) = component else {
            if component == Component::CurDir {
                continue;
            }
            return Err(OutsideError::Escapes(rel.to_path_buf()));
        };
        at.push(name);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return Err(OutsideError::Link(at)),
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(OutsideError::NotADir(at)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&at) {
                Ok(()) => {}
                // Another thread made it first: check what it is.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let m = fs::symlink_metadata(&at).map_err(|source| OutsideError::Create {
                        path: at.clone(),
                        source,
                    })?;
                    if m.file_type().is_symlink() {
                        return Err(OutsideError::Link(at));
                    }
                    if !m.is_dir() {
                        return Err(OutsideError::NotADir(at));
                    }
                }
                Err(source) => return Err(OutsideError::Create { path: at, source }),
            },
            Err(source) => return Err(OutsideError::Create { path: at, source }),
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_differ_and_never_reuse_an_existing_name() {
        let dir = tempfile::tempdir().unwrap();
        let (_, a) = create_temp_in(dir.path()).unwrap();
        let (_, b) = create_temp_in(dir.path()).unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX),
            "{name}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_replaces_a_link_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep me").unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("manifest.json")).unwrap();
        write_atomic(&out.join("manifest.json"), b"{}").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(fs::read(out.join("manifest.json")).unwrap(), b"{}");
        assert!(!fs::symlink_metadata(out.join("manifest.json"))
            .unwrap()
            .file_type()
            .is_symlink());
        // Only the result is left: no temporary file.
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn folders_through_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("person_001")).unwrap();
        let err = create_dirs_inside(&out, Path::new("person_001/2020")).unwrap_err();
        assert!(matches!(&err, OutsideError::Link(p) if p == &out.join("person_001")));
        assert!(!elsewhere.join("2020").exists());
        assert!(matches!(
            create_dirs_inside(&out, Path::new("../x")),
            Err(OutsideError::Escapes(_))
        ));
        assert_eq!(
            create_dirs_inside(&out, Path::new("a/b")).unwrap(),
            out.join("a/b")
        );
        assert!(out.join("a/b").is_dir());
    }
}
