//! Helpers for running the real binary on real photos: a temporary library ([`TestDir`]) built
//! from the photos that `scripts/fetch-test-photos.sh` fetched, and [`run`] to invoke the binary.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

/// Real photos fetched by `scripts/fetch-test-photos.sh`.
pub fn photo(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/testdata")
        .join(rel);
    assert!(
        p.is_file(),
        "{} is missing: run `scripts/test.sh` (or `scripts/fetch-test-photos.sh`) first",
        p.display()
    );
    p
}

/// The cache `photo_organizer setup` filled, as the binary resolves it.
use po_backend_api::setup_cache_dir as shared_cache;

pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    /// A temporary directory with its own cache database; the runtime, models and libheif are
    /// linked from the shared cache, so counters and people are this test's alone.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("cache");
        fs::create_dir_all(&cache).unwrap();
        for sub in ["runtime", "models", "heif"] {
            #[cfg(unix)]
            std::os::unix::fs::symlink(shared_cache().join(sub), cache.join(sub)).unwrap();
        }
        Self { dir }
    }
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    pub fn library(&self) -> PathBuf {
        self.dir.path().join("library")
    }
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    /// Copies a fetched photo into the library at `rel`.
    pub fn add(&self, rel: &str, fetched: &str) -> &Self {
        self.write(rel, &fs::read(photo(fetched)).unwrap())
    }
    pub fn write(&self, rel: &str, bytes: &[u8]) -> &Self {
        let p = self.library().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
        self
    }
    /// Every file under the library with its bytes (a symbolic link: its target), to prove
    /// the source is untouched.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        files_under(&self.library())
            .into_iter()
            .map(|p| {
                let bytes = match fs::read_link(&p) {
                    Ok(target) => target.into_os_string().into_encoded_bytes(),
                    Err(_) => fs::read(&p).unwrap(),
                };
                (p, bytes)
            })
            .collect()
    }
    pub fn manifest(&self) -> Value {
        let text = fs::read_to_string(self.out().join("manifest.json")).expect("manifest.json");
        serde_json::from_str(&text).expect("manifest is JSON")
    }
    /// Folders under OUT and the file names in each.
    pub fn folders(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in files_under(&self.out()) {
            let rel = p.strip_prefix(self.out()).unwrap();
            if let (Some(folder), Some(name)) = (rel.parent(), rel.file_name()) {
                if !folder.as_os_str().is_empty() {
                    out.entry(folder.display().to_string())
                        .or_default()
                        .push(name.to_string_lossy().into_owned());
                }
            }
        }
        out.values_mut().for_each(|v| v.sort());
        out
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The binary, using this test's cache and no settings file but the ones a test gives it.
pub fn command(t: &TestDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_photo_organizer"));
    cmd.env("PHOTO_ORGANIZER_CACHE", t.cache())
        .env("XDG_CONFIG_HOME", t.dir.path().join("config"))
        .env_remove("PHOTO_ORGANIZER_CONFIG");
    cmd
}

/// Runs `photo_organizer -s LIBRARY -o OUT ARGS`.
pub fn organize(t: &TestDir, args: &[&str]) -> Output {
    let out = command(t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(args)
        .output()
        .expect("run photo_organizer");
    if out.status.code() == Some(2) {
        panic!(
            "photo_organizer failed fatally (is `photo_organizer setup` done? scripts/test.sh does it):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// The folder (under OUT) holding each given file name; panics if a name is in none.
pub fn folder_of(t: &TestDir, name: &str) -> Vec<String> {
    let found: Vec<String> = t
        .folders()
        .into_iter()
        .filter(|(_, names)| names.iter().any(|n| n == name))
        .map(|(f, _)| f)
        .collect();
    assert!(
        !found.is_empty(),
        "{name} was copied nowhere: {:?}",
        t.folders()
    );
    found
}

/// The person folder of each Obama photo is one and the same, and Biden is not in it.
pub fn assert_obama_is_one_person(t: &TestDir) {
    let folders = t.folders();
    let obama = folder_of(t, "obama.jpg");
    assert_eq!(obama.len(), 1, "{folders:?}");
    assert!(obama[0].starts_with("person_"), "{folders:?}");
    assert_eq!(folder_of(t, "obama2.jpg"), obama, "{folders:?}");
    assert_eq!(folder_of(t, "obama3.jpg"), obama, "{folders:?}");
    assert!(
        !folder_of(t, "biden.jpg").contains(&obama[0]),
        "{folders:?}"
    );
}

/// The person of the first face of library photo `source`, from the manifest.
pub fn person_of(t: &TestDir, source: &str) -> Option<u64> {
    let m = t.manifest();
    let photo = m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in manifest"))
        .clone();
    photo["faces"][0]["person"].as_u64()
}

/// The `--json` summary a run printed.
pub fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json summary: {e}: {}", stderr(out)))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
