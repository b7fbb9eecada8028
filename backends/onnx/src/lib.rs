//! ONNX Runtime face backends. Loads `libonnxruntime` at run time (the `ort` crate's
//! `load-dynamic`), registers the execution provider explicitly and records which one took, and
//! runs one model family per file: [`yunet`] (detector) and [`sface`] (embedder).

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use ort::{
    environment::Environment,
    ep,
    session::{builder::GraphOptimizationLevel, Session},
};
use po_backend_api::{
    ActiveDevice, AlignedFace, BackendError, BackendInfo, DetectOptions, DeviceRequest,
    FaceBackend, FaceBox, RgbView,
};

pub mod onnx_edit;
pub mod sface;
pub mod yunet;

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

/// Everything the ONNX backend needs, resolved by the caller.
#[derive(Debug, Clone)]
pub struct OnnxConfig {
    pub runtime: Vec<RuntimeCandidate>,
    pub detector_model: PathBuf,
    pub embedder_model: PathBuf,
    pub threads: usize,
    pub device: DeviceRequest,
    pub detect: DetectOptions,
}

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

fn environment() -> &'static Environment {
    match RUNTIME.get() {
        Some(Ok((_, env))) => env,
        _ => unreachable!("load_runtime succeeded before any session is built"),
    }
}

/// Builds a CPU session from model bytes; `ort::Error<SessionBuilder>` is not `Send`, so the
/// builder's errors are turned into strings here.
fn cpu_session(bytes: &[u8], threads: usize) -> Result<Session, String> {
    let build = || -> ort::Result<Session> {
        Session::builder(environment())?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_intra_threads(threads.max(1))?
            .with_execution_providers([ep::CPU::default().build().error_on_failure()])?
            .commit_from_memory(bytes)
    };
    build().map_err(|e| e.to_string())
}

fn read_model(path: &Path, id: &str) -> Result<Vec<u8>, BackendError> {
    std::fs::read(path).map_err(|e| BackendError::Model {
        model: id.into(),
        reason: format!(
            "cannot read {}: {e}; run `photo_organizer setup` to fetch the default models",
            path.display()
        ),
    })
}

/// YuNet detector + SFace embedder on ONNX Runtime.
pub struct OnnxBackend {
    info: BackendInfo,
    detector: yunet::YuNet,
    embedder: sface::SFace,
}

impl OnnxBackend {
    pub fn new(config: &OnnxConfig) -> Result<Self, BackendError> {
        let runtime = load_runtime(&config.runtime)?;
        let DeviceRequest::Cpu = config.device;
        let model_error = |id: &str, reason: String| BackendError::Model {
            model: id.into(),
            reason,
        };

        let det_bytes = read_model(&config.detector_model, yunet::MODEL_ID)?;
        let det_session =
            cpu_session(&det_bytes, config.threads).map_err(|e| model_error(yunet::MODEL_ID, e))?;
        let detector = yunet::YuNet::new(det_session, config.detect)?;

        let emb_bytes = read_model(&config.embedder_model, sface::MODEL_ID)?;
        let (emb_bytes, _) = onnx_edit::strip_weight_inputs(&emb_bytes)
            .map_err(|e| model_error(sface::MODEL_ID, e.to_string()))?;
        let emb_session =
            cpu_session(&emb_bytes, config.threads).map_err(|e| model_error(sface::MODEL_ID, e))?;
        let embedder = sface::SFace::new(emb_session)?;

        let info = BackendInfo {
            backend: "yunet".into(),
            detector_model: yunet::MODEL_ID.into(),
            embedder_model: sface::MODEL_ID.into(),
            embedding_dim: sface::DIM,
            device: ActiveDevice {
                device: "cpu".into(),
                provider: "CPUExecutionProvider".into(),
                fallback_reason: None,
            },
            runtime_version: runtime.version,
        };
        Ok(Self {
            info,
            detector,
            embedder,
        })
    }
}

impl FaceBackend for OnnxBackend {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        self.detector.detect(image)
    }

    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
        self.embedder.embed(faces)
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

    #[test]
    fn missing_runtime_names_every_place_looked_and_the_fix() {
        let err = load_runtime(&[RuntimeCandidate {
            path: PathBuf::from("/nonexistent/libonnxruntime.so"),
            source: "ORT_DYLIB_PATH".into(),
        }])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/nonexistent/libonnxruntime.so (ORT_DYLIB_PATH)"),
            "{err}"
        );
        assert!(err.contains("photo_organizer setup"), "{err}");
    }
}
