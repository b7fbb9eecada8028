//! Walks the library into a sorted list of [`PhotoRef`]s: image extensions only
//! (case-insensitive), hidden files and directories, the output directory and `--exclude` globs
//! skipped, symlinks followed with loops detected and reported rather than recursed into. The
//! other files are listed too, for [`super::companions`] to find the ones that belong to a
//! photo.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use globset::GlobSet;
use serde::Serialize;
use walkdir::WalkDir;

/// Extensions read as photos (lower case). HEIC/HEIF (`hif`: Canon and Sony cameras) are
/// decoded by libheif; AVIF is listed so that it is reported (the fetched libheif has no AV1
/// decoder) rather than silently skipped; RAW files are decoded from their embedded JPEG preview.
pub const PHOTO_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "png", "webp", "bmp", "tif", "tiff", "gif", "heic", "heif", "hif",
    "avif", "dng", "cr2", "nef", "nrw", "arw", "orf", "rw2", "pef", "srw", "raf",
];

/// Camera RAW extensions, decoded from the JPEG preview they embed.
pub const RAW_EXTENSIONS: &[&str] = &[
    "dng", "cr2", "nef", "nrw", "arw", "orf", "rw2", "pef", "srw", "raf",
];

/// One photo (or other) file found in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhotoRef {
    pub path: PathBuf,
    /// Path relative to the library root; the identity used in plans and reports.
    pub rel_path: PathBuf,
    pub size: u64,
    #[serde(skip)]
    pub mtime: Option<SystemTime>,
}

/// Something in the library that could not be listed.
#[derive(Debug, Clone, Serialize)]
pub struct ScanError {
    pub path: PathBuf,
    pub cause: String,
}

#[derive(Debug, Default)]
pub struct ScanResult {
    pub photos: Vec<PhotoRef>,
    pub errors: Vec<ScanError>,
    /// Files whose extension is not a photo's (sidecars, videos, anything else), sorted like
    /// `photos`.
    pub others: Vec<PhotoRef>,
}

pub fn is_photo_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| PHOTO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

/// Lists the photos under `root`, never descending into `output`, and leaving out every file
/// or directory whose path relative to `root` matches `exclude`.
pub fn scan(root: &Path, output: &Path, exclude: &GlobSet) -> ScanResult {
    let mut result = ScanResult::default();
    let excluded = |path: &Path| {
        !exclude.is_empty() && exclude.is_match(path.strip_prefix(root).unwrap_or(path))
    };
    let walker = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || (!is_hidden(e.file_name())
                    && !e.path().starts_with(output)
                    && !excluded(e.path()))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                let cause = match (e.loop_ancestor(), e.io_error()) {
                    (Some(_), _) => "symbolic link loop; not followed".to_string(),
                    (None, Some(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                        format!("cannot read: {io} (a broken symbolic link?)")
                    }
                    (None, Some(io)) => format!("cannot read: {io}"),
                    (None, None) => e.to_string(),
                };
                result.errors.push(ScanError { path, cause });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let is_photo = is_photo_name(entry.path());
        let meta = match entry.metadata() {
            Ok(m) => Some(m),
            Err(e) if is_photo => {
                result.errors.push(ScanError {
                    path: entry.path().to_path_buf(),
                    cause: e.to_string(),
                });
                continue;
            }
            // Listed all the same: if it is a photo's companion, reading it fails later and
            // says why (and a `--move` keeps the photo).
            Err(_) => None,
        };
        let rel_path = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_path_buf();
        let file = PhotoRef {
            path: entry.path().to_path_buf(),
            rel_path,
            size: meta.as_ref().map_or(0, |m| m.len()),
            mtime: meta.and_then(|m| m.modified().ok()),
        };
        if is_photo {
            result.photos.push(file);
        } else {
            result.others.push(file);
        }
    }
    result.photos.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    result.others.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    result
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn finds_photos_case_insensitively_and_skips_hidden_output_and_others() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join(".hidden")).unwrap();
        fs::create_dir_all(root.join("out/person_001")).unwrap();
        for f in [
            "a/one.JPG",
            "a/b/two.jpeg",
            "three.PnG",
            "notes.txt",
            ".dot.jpg",
            ".hidden/x.jpg",
            "out/person_001/y.jpg",
        ] {
            fs::write(root.join(f), b"x").unwrap();
        }
        let r = scan(root, &root.join("out"), &GlobSet::empty());
        let rels: Vec<_> = r.photos.iter().map(|p| p.rel_path.clone()).collect();
        assert_eq!(
            rels,
            vec![
                PathBuf::from("a/b/two.jpeg"),
                PathBuf::from("a/one.JPG"),
                PathBuf::from("three.PnG")
            ]
        );
        let others: Vec<_> = r.others.iter().map(|p| p.rel_path.clone()).collect();
        assert_eq!(others, vec![PathBuf::from("notes.txt")]);
        assert!(r.errors.is_empty());
    }

    #[test]
    fn exclude_globs_match_the_path_relative_to_the_library() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lib");
        fs::create_dir_all(root.join("private/deep")).unwrap();
        fs::create_dir_all(root.join("trip")).unwrap();
        for f in [
            "a.jpg",
            "b.png",
            "trip/c.png",
            "trip/d.jpg",
            "private/deep/e.jpg",
        ] {
            fs::write(root.join(f), b"x").unwrap();
        }
        let mut set = globset::GlobSetBuilder::new();
        for g in ["*.png", "private/**"] {
            set.add(globset::Glob::new(g).unwrap());
        }
        let r = scan(&root, &dir.path().join("out"), &set.build().unwrap());
        let rels: Vec<_> = r.photos.iter().map(|p| p.rel_path.clone()).collect();
        assert_eq!(
            rels,
            vec![PathBuf::from("a.jpg"), PathBuf::from("trip/d.jpg")]
        );
        // The library's own absolute path does not take part in matching.
        let mut set = globset::GlobSetBuilder::new();
        set.add(globset::Glob::new("lib/**").unwrap());
        let r = scan(&root, &dir.path().join("out"), &set.build().unwrap());
        assert_eq!(r.photos.len(), 5);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_is_reported_not_followed_forever() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a")).unwrap();
        fs::write(root.join("a/p.jpg"), b"x").unwrap();
        std::os::unix::fs::symlink(root, root.join("a/loop")).unwrap();
        let r = scan(root, &root.join("out"), &GlobSet::empty());
        assert_eq!(r.photos.len(), 1);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].cause.contains("loop"), "{:?}", r.errors);
    }
}
