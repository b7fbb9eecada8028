//! The ONNX Runtime library, loaded at run time (the `ort` crate's `load-dynamic`) from the
//! first candidate that exists, once per process, with the environment every session shares.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use ort::environment::Environment;
use po_backend_api::BackendError;

/// A place the runtime library may be, and what put it there (for messages).
#[derive(Debug, Clone)]
pub struct RuntimeCandidate {
    pub path: PathBuf,
    pub source: String,
}

/// The runtime library that was loaded.
#[derive(Debug, Clone)]
pub struct LoadedRuntime {
    pub path: PathBuf,
    pub source: String,
    pub version: Option<String>,
}

/// Which detector model runs.
pub const RUNTIME_FIX: &str =
    "run `photo_organizer setup`, or set ORT_DYLIB_PATH to the path of libonnxruntime.so";

static RUNTIME: OnceLock<Result<(LoadedRuntime, Environment), String>> = OnceLock::new();

/// Picks the first existing candidate and loads it once per process.
pub fn load_runtime(candidates: &[RuntimeCandidate]) -> Result<LoadedRuntime, BackendError> {
    let Some(found) = candidates.iter().find(|c| c.path.is_file()) else {
        let looked: Vec<String> = candidates
            .iter()
            .map(|c| format!("{} ({})", c.path.display(), c.source))
            .collect();
        return Err(BackendError::RuntimeMissing {
            what: format!(
                "ONNX Runtime library libonnxruntime.so not found; looked in: {}",
                looked.join(", ")
            ),
            fix: RUNTIME_FIX.into(),
        });
    };
    let loaded = RUNTIME.get_or_init(|| {
        let env = ort::init_from(&found.path)
            .map_err(|e| e.to_string())?
            .with_name("photo_organizer")
            // Nothing leaves the machine: ONNX Runtime's telemetry (Windows' ETW events) is off.
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())?;
        let version = version_from_file_name(&found.path);
        Ok((
            LoadedRuntime {
                path: found.path.clone(),
                source: found.source.clone(),
                version,
            },
            env,
        ))
    });
    match loaded {
        Ok((rt, _)) => Ok(rt.clone()),
        Err(e) => Err(BackendError::RuntimeMissing {
            what: format!("cannot load {}: {e}", found.path.display()),
            fix: RUNTIME_FIX.into(),
        }),
    }
}

/// `1.31.1` from `libonnxruntime.so.1.31.1` (following symbolic links); release builds' own
/// build string does not carry the version.
fn version_from_file_name(path: &Path) -> Option<String> {
    let real = path.canonicalize().ok()?;
    let name = real.file_name()?.to_str()?;
    let version = name.split_once(".so.")?.1;
    (version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()))
        .then(|| version.to_string())
}

pub(crate) fn environment() -> &'static Environment {
    match RUNTIME.get() {
        Some(Ok((_, env))) => env,
        _ => unreachable!("load_runtime succeeded before any session is built"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comes_from_the_library_file_name() {
        let dir = std::env::temp_dir().join(format!("po-ver-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lib = dir.join("libonnxruntime.so.1.31.1");
        std::fs::write(&lib, b"").unwrap();
        assert_eq!(version_from_file_name(&lib).as_deref(), Some("1.31.1"));
        let plain = dir.join("libonnxruntime.so");
        std::fs::write(&plain, b"").unwrap();
        assert_eq!(version_from_file_name(&plain), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
