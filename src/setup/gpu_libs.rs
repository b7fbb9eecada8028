//! Which copy of each CUDA library the ONNX Runtime CUDA provider gets, and from where. Pure:
//! [`choose`] takes the libraries wanted (the NVIDIA driver, then the manifest's `cuda` entries
//! in loading order) and the places to look (the user's LD_LIBRARY_PATH, conda env, Python venv,
//! system CUDA, then `setup --gpu`'s <cache>/gpu), and picks for each library the first copy
//! whose soname matches and whose version, where readable, is recent enough. The backend loads
//! the chosen files by full path in that order ([`preload_order`]); `doctor` prints the choice.
//! Reading the environment is [`places_from_env`]'s job, called by [`crate::config`] only.

use std::path::{Path, PathBuf};

use crate::setup::models::{Manifest, Role};

/// The driver's library: the one thing `setup --gpu` cannot fetch.
pub const DRIVER: &str = "libcuda.so.1";

/// A library the CUDA provider needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// The name the dynamic loader asks for (`libcudart.so.13`).
    pub soname: String,
    /// A copy outside the cache older than this is passed over.
    pub min_version: Option<String>,
    /// The version `setup --gpu` pins (the cache copy's, known from the manifest).
    pub pinned_version: Option<String>,
    /// What brings it, for messages.
    pub brought_by: String,
}

/// A directory to look in.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub dir: PathBuf,
    /// `LD_LIBRARY_PATH`, `conda env`, `system`, `photo_organizer setup --gpu`, ...
    pub source: String,
    /// `setup --gpu`'s directory: its files are the pinned, sha256-checked versions.
    pub pinned: bool,
}

/// The copy taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub path: PathBuf,
    pub source: String,
    pub version: Option<String>,
}

/// The choice for one library: what was taken, and each copy passed over and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub wanted: Wanted,
    pub found: Option<Found>,
    pub passed_over: Vec<String>,
}

/// The driver, then every `cuda` library of the manifest, in loading order.
pub fn wanted_libraries(manifest: &Manifest) -> Vec<Wanted> {
    let mut wanted = vec![Wanted {
        soname: DRIVER.into(),
        min_version: None,
        pinned_version: None,
        brought_by: "the NVIDIA driver".into(),
    }];
    wanted.extend(
        manifest
            .gpu
            .iter()
            .filter(|a| a.role == Role::Cuda)
            .map(|a| Wanted {
                soname: a.file.clone(),
                min_version: a.min_version.clone(),
                pinned_version: Some(a.version.clone()),
                brought_by: format!("{} {}", a.package, a.version),
            }),
    );
    wanted
}

/// The places to look, the user's own first, `setup --gpu`'s cache last.
pub fn places(
    cache_dir: &Path,
    ld_library_path: Option<&str>,
    conda_prefix: Option<&Path>,
    virtual_env_lib_dirs: &[PathBuf],
) -> Vec<Place> {
    let place = |dir: PathBuf, source: &str| Place {
        dir,
        source: source.into(),
        pinned: false,
    };
    let mut out: Vec<Place> = Vec::new();
    if let Some(v) = ld_library_path {
        out.extend(
            std::env::split_paths(v)
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| place(d, "LD_LIBRARY_PATH")),
        );
    }
    if let Some(prefix) = conda_prefix {
        out.push(place(prefix.join("lib"), "conda env"));
    }
    out.extend(
        virtual_env_lib_dirs
            .iter()
            .map(|d| place(d.clone(), "Python venv")),
    );
    out.extend(
        [
            "/usr/local/cuda/lib64",
            "/usr/local/nvidia/lib64",
            "/usr/lib/wsl/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/lib",
        ]
        .map(|d| place(PathBuf::from(d), "system")),
    );
    out.push(Place {
        dir: gpu_dir(cache_dir),
        source: "photo_organizer setup --gpu".into(),
        pinned: true,
    });
    out
}

/// Where `setup --gpu` stores its files.
pub fn gpu_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("gpu")
}

/// [`places`] with the process's environment: LD_LIBRARY_PATH, CONDA_PREFIX, and the
/// `nvidia/*/lib` directories of VIRTUAL_ENV's site-packages (`pip install -r
/// requirements-gpu.txt`).
pub fn places_from_env(cache_dir: &Path) -> Vec<Place> {
    let ld = std::env::var("LD_LIBRARY_PATH").ok();
    let conda = std::env::var_os("CONDA_PREFIX").map(PathBuf::from);
    let venv_dirs = std::env::var_os("VIRTUAL_ENV")
        .map(|v| nvidia_lib_dirs(Path::new(&v)))
        .unwrap_or_default();
    places(cache_dir, ld.as_deref(), conda.as_deref(), &venv_dirs)
}

/// `<venv>/lib/python3.*/site-packages/nvidia/*/lib`, sorted.
fn nvidia_lib_dirs(venv: &Path) -> Vec<PathBuf> {
    let list = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    list(&venv.join("lib"))
        .into_iter()
        .flat_map(|py| list(&py.join("site-packages/nvidia")))
        .map(|d| d.join("lib"))
        .filter(|d| d.is_dir())
        .collect()
}

/// For each wanted library, the first place with a copy of the right version.
pub fn choose(wanted: &[Wanted], places: &[Place]) -> Vec<Choice> {
    wanted
        .iter()
        .map(|w| {
            let mut passed_over = Vec::new();
            let mut found = None;
            for place in places {
                let path = place.dir.join(&w.soname);
                if !path.exists() {
                    continue;
                }
                let version = if place.pinned {
                    w.pinned_version.clone()
                } else {
                    match version_of(&path, &w.soname) {
                        Ok(v) => v,
                        Err(why) => {
                            passed_over.push(format!(
                                "{} ({}): {why}",
                                path.display(),
                                place.source
                            ));
                            continue;
                        }
                    }
                };
                if let (Some(v), Some(min)) = (&version, &w.min_version) {
                    if !at_least(v, min) {
                        passed_over.push(format!(
                            "{} ({}): version {v}, needs {min} or newer",
                            path.display(),
                            place.source
                        ));
                        continue;
                    }
                }
                found = Some(Found {
                    path,
                    source: place.source.clone(),
                    version,
                });
                break;
            }
            Choice {
                wanted: w.clone(),
                found,
                passed_over,
            }
        })
        .collect()
}

/// The files to load, in loading order: every chosen copy (the driver first, when found).
pub fn preload_order(choices: &[Choice]) -> Vec<PathBuf> {
    choices
        .iter()
        .filter_map(|c| c.found.as_ref().map(|f| f.path.clone()))
        .collect()
}

/// The version a library's real file name carries (`libcudart.so.13` -> `libcudart.so.13.0.96`
/// gives `13.0.96`), `None` when the name carries no more than the soname, or an error when it
/// names another major version.
fn version_of(path: &Path, soname: &str) -> Result<Option<String>, String> {
    let real = path
        .canonicalize()
        .map_err(|e| format!("unreadable: {e}"))?;
    let name = real
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let Some((stem, wanted_version)) = soname.split_once(".so.") else {
        return Ok(None);
    };
    let Some(real_version) = name
        .strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix(".so."))
    else {
        return Ok(None);
    };
    if !real_version.split('.').all(|p| p.parse::<u32>().is_ok()) {
        return Ok(None);
    }
    let wanted_parts: Vec<&str> = wanted_version.split('.').collect();
    let real_parts: Vec<&str> = real_version.split('.').collect();
    if real_parts.len() < wanted_parts.len() || real_parts[..wanted_parts.len()] != wanted_parts[..]
    {
        return Err(format!("it is {name}, not a {soname}"));
    }
    Ok((real_parts.len() > wanted_parts.len()).then(|| real_version.to_string()))
}

/// `v >= min`, comparing dotted numbers component by component (missing components are 0).
fn at_least(v: &str, min: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(v), parse(min));
    let n = a.len().max(b.len());
    let get = |x: &[u64], i: usize| x.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| get(&a, i).cmp(&get(&b, i)))
        .find(|o| o.is_ne())
        .is_none_or(|o| o.is_gt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), b"").unwrap();
    }

    fn link(dir: &Path, name: &str, target: &str) {
        touch(dir, target);
        std::os::unix::fs::symlink(dir.join(target), dir.join(name)).unwrap();
    }

    /// [`places`] without the system directories, so a machine's own CUDA cannot change the
    /// outcome.
    fn hermetic_places(cache: &Path, ld_library_path: Option<&str>) -> Vec<Place> {
        places(cache, ld_library_path, None, &[])
            .into_iter()
            .filter(|p| p.source != "system")
            .collect()
    }

    /// A fake <cache>/gpu holding every file `setup --gpu` stores.
    fn fake_cache(root: &Path) -> PathBuf {
        let cache = root.join("cache");
        for a in &Manifest::builtin().gpu {
            touch(&gpu_dir(&cache), &a.file);
        }
        cache
    }

    #[test]
    fn loading_order_puts_each_library_after_what_it_needs() {
        let wanted = wanted_libraries(&Manifest::builtin());
        let pos = |n: &str| {
            wanted
                .iter()
                .position(|w| w.soname == n)
                .unwrap_or_else(|| panic!("{n} not wanted"))
        };
        assert_eq!(pos(DRIVER), 0);
        assert_eq!(pos("libcudart.so.13"), 1);
        // What each needs (readelf -d on the wheels' files, and cuFFT's nvJitLink).
        for (lib, needs) in [
            ("libcublas.so.13", "libcublasLt.so.13"),
            ("libcufft.so.12", "libnvJitLink.so.13"),
            ("libnvrtc.so.13", "libnvrtc-builtins.so.13.0"),
            ("libcudnn_ops.so.9", "libcudnn_graph.so.9"),
            ("libcudnn_cnn.so.9", "libcudnn_ops.so.9"),
            ("libcudnn_adv.so.9", "libcudnn_ops.so.9"),
            ("libcudnn_heuristic.so.9", "libcudnn_graph.so.9"),
            ("libcudnn.so.9", "libcudnn_adv.so.9"),
        ] {
            assert!(pos(needs) < pos(lib), "{needs} must load before {lib}");
        }
        // Every CUDA library is loaded after the runtime.
        assert!(wanted[2..]
            .iter()
            .all(|w| pos(&w.soname) > pos("libcudart.so.13")));

        // With everything in the cache, the files load in exactly that order, from the cache.
        let tmp = tempfile::tempdir().unwrap();
        let cache = fake_cache(tmp.path());
        let choices = choose(&wanted, &hermetic_places(&cache, None));
        let order = preload_order(&choices);
        let expected: Vec<PathBuf> = wanted[1..]
            .iter()
            .map(|w| gpu_dir(&cache).join(&w.soname))
            .collect();
        // The driver is not in the cache: the one library left missing.
        assert!(choices[0].found.is_none());
        assert_eq!(order, expected);
        let cudart = &choices[1].found.as_ref().unwrap();
        assert_eq!(cudart.version.as_deref(), Some("13.0.96"));
        assert_eq!(cudart.source, "photo_organizer setup --gpu");
    }

    #[test]
    fn a_wrong_version_elsewhere_is_passed_over_for_the_cache_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = fake_cache(tmp.path());
        let user = tmp.path().join("user-lib");
        // A CUDA 12 install: other sonames, never taken for a CUDA 13 library.
        touch(&user, "libcudart.so.12");
        // A soname link that points at another major version.
        link(&user, "libcublas.so.13", "libcublas.so.12.8.4.1");
        // An older cuDNN than the minimum.
        link(&user, "libcudnn.so.9", "libcudnn.so.9.0.0");
        // The right versions: taken from the user's directory, with their versions.
        link(&user, "libcurand.so.10", "libcurand.so.10.4.5.25");
        touch(&user, "libcufft.so.12");
        let mut wanted = wanted_libraries(&Manifest::builtin());
        for w in &mut wanted {
            if w.soname == "libcudnn.so.9" {
                w.min_version = Some("9.10".into());
            }
        }
        let ld = user.display().to_string();
        let choices = choose(&wanted, &hermetic_places(&cache, Some(&ld)));
        let get = |n: &str| choices.iter().find(|c| c.wanted.soname == n).unwrap();
        let found = |n: &str| get(n).found.clone().unwrap();

        assert_eq!(
            found("libcudart.so.13").source,
            "photo_organizer setup --gpu"
        );
        assert!(get("libcudart.so.13").passed_over.is_empty());

        assert_eq!(
            found("libcublas.so.13").path,
            gpu_dir(&cache).join("libcublas.so.13")
        );
        let why = &get("libcublas.so.13").passed_over;
        assert!(
            why.len() == 1 && why[0].contains("libcublas.so.12.8.4.1"),
            "{why:?}"
        );
        assert!(why[0].contains("LD_LIBRARY_PATH"), "{why:?}");

        assert_eq!(found("libcudnn.so.9").version.as_deref(), Some("9.20.0.48"));
        let why = &get("libcudnn.so.9").passed_over;
        assert!(
            why[0].contains("version 9.0.0, needs 9.10 or newer"),
            "{why:?}"
        );

        let curand = found("libcurand.so.10");
        assert_eq!(curand.source, "LD_LIBRARY_PATH");
        assert_eq!(curand.version.as_deref(), Some("10.4.5.25"));
        assert_eq!(curand.path, user.join("libcurand.so.10"));
        // A plain file carries no version beyond its soname: taken, version unknown.
        let cufft = found("libcufft.so.12");
        assert_eq!(
            (cufft.source.as_str(), cufft.version),
            ("LD_LIBRARY_PATH", None)
        );
    }

    #[test]
    fn nothing_found_leaves_each_library_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let wanted = vec![Wanted {
            soname: "libpo-test-missing.so.7".into(),
            min_version: None,
            pinned_version: Some("7.1".into()),
            brought_by: "test".into(),
        }];
        let choices = choose(&wanted, &hermetic_places(tmp.path(), None));
        assert!(choices[0].found.is_none());
        assert!(preload_order(&choices).is_empty());
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(at_least("13.0.96", "13.0"));
        assert!(at_least("9.10.1", "9.9"));
        assert!(!at_least("9.9.9", "9.10"));
        assert!(at_least("13", "13.0"));
        assert!(!at_least("12.8", "13.0"));
    }

    #[test]
    fn venv_nvidia_directories_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = tmp
            .path()
            .join("lib/python3.12/site-packages/nvidia/cu13/lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert_eq!(nvidia_lib_dirs(tmp.path()), vec![lib]);
    }
}
