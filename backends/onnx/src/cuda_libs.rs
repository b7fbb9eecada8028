//! Loads the CUDA libraries the caller chose (the core's `gpu_libs`: `setup --gpu`'s cache or
//! the user's own copies) by full path, in dependency order, with RTLD_GLOBAL, before the CUDA
//! or TensorRT provider is registered. ONNX Runtime's provider library then finds each of its
//! NEEDED sonames already loaded, so no LD_LIBRARY_PATH is needed. The handles live for the
//! process: the provider keeps using the libraries.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};

/// Libraries loaded so far (never closed), by path.
static LOADED: OnceLock<Mutex<Vec<(PathBuf, Library)>>> = OnceLock::new();

/// Loads each library in order; a library already loaded by this function is skipped. Stops at
/// the first that fails, naming it and the loader's reason.
pub fn preload(paths: &[PathBuf]) -> Result<usize, String> {
    let loaded = LOADED.get_or_init(|| Mutex::new(Vec::new()));
    let mut loaded = loaded.lock().unwrap_or_else(|e| e.into_inner());
    for path in paths {
        if loaded.iter().any(|(p, _)| p == path) {
            continue;
        }
        let library = open_global(path)?;
        loaded.push((path.clone(), library));
    }
    Ok(loaded.len())
}

// dlopen is unsafe in Rust's sense (a library's initialisers run arbitrary code); this is the
// one place the backend does it, for files the caller chose by path.
#[allow(unsafe_code)]
fn open_global(path: &Path) -> Result<Library, String> {
    // SAFETY: these are the CUDA and cuDNN libraries whose initialisers only set up their own
    // state; they are loaded before any ONNX Runtime session uses them.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|e| format!("cannot load {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_that_is_not_one_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libcudart.so.13");
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let err = preload(&[fake]).unwrap_err();
        assert!(err.contains("libcudart.so.13"), "{err}");
    }

    #[test]
    fn a_system_library_loads_by_full_path_once() {
        let Some(libz) = [
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
            "/lib/x86_64-linux-gnu/libz.so.1",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file()) else {
            eprintln!("skipped: no libz.so.1 to load on this machine");
            return;
        };
        let n = preload(std::slice::from_ref(&libz)).unwrap();
        assert_eq!(preload(&[libz]).unwrap(), n, "loaded once");
    }
}
