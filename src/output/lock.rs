//! The output folder's lock: a file in OUT itself, so any two runs (or a run and a `people`
//! command) writing into one OUT exclude each other, whatever caches they use. The lock is the
//! operating system's advisory file lock, released when the process ends, however it ends.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};

/// The lock file's name inside OUT (a dot-file: not a photo, never planned as a destination).
pub const LOCK_NAME: &str = ".photo_organizer.lock";

/// OUT's lock, held until dropped.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
    /// Whether this run created OUT (so a run that fails early can leave no trace).
    created_out: Option<PathBuf>,
}

impl OutputLock {
    /// For a run that failed before writing anything: removes the lock file and OUT itself
    /// when this run created OUT and nothing else is in it.
    pub fn abandon(self) {
        if let Some(out) = &self.created_out {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_dir(out);
        }
    }
}

/// Holds OUT's lock until the returned guard is dropped; a second holder is refused with a
/// message naming OUT. Creates OUT if it does not exist.
pub fn lock_output(out: &Path) -> anyhow::Result<OutputLock> {
    let created_out = (!out.exists()).then(|| out.to_path_buf());
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(LOCK_NAME);
    if path
        .symlink_metadata()
        .is_ok_and(|m| !m.file_type().is_file())
    {
        bail!(
            "{} is not a regular file (a link?); photo_organizer never writes through links in OUT: remove it",
            path.display()
        );
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(OutputLock {
            _file: file,
            path,
            created_out,
        }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another photo_organizer run is writing to {}; wait for it to finish",
            out.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = lock_output(&out).unwrap();
        let second = lock_output(&out).unwrap_err();
        assert!(format!("{second:#}").contains("another photo_organizer run"));
        drop(first);
        lock_output(&out).unwrap().abandon();
        assert!(out.exists(), "OUT existed before that lock: kept");
        std::fs::remove_dir_all(&out).unwrap();
        lock_output(&out).unwrap().abandon();
        assert!(
            !out.exists(),
            "a lock that created OUT leaves no trace when abandoned"
        );
    }
}
