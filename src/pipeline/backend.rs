//! Which face backend runs, and on what: builds the one the configuration names (ONNX Runtime,
//! tract or libtorch), falls back from a missing ONNX Runtime to tract for the default models,
//! and says in one `warning:` line when what runs is not what was asked for. Hands a
//! `Box<dyn FaceBackend>` to the inference workers ([`crate::pipeline::workers`]).

use std::path::Path;

use anyhow::Context;
use po_backend_api::{BackendError, FaceBackend};

use crate::{
    config::{FaceRuntime, OrganizeConfig},
    setup::models::{Manifest, Role},
    util::progress::ProgressSink,
};

/// The backend the configuration asks for. The default `yunet` on the CPU (or `--gpu`) runs on
/// the pure-Rust tract backend when libonnxruntime cannot be loaded, with the reason recorded;
/// any other failure, and any explicitly named execution provider, stays an error.
pub fn build_backend(c: &OrganizeConfig, threads: usize) -> anyhow::Result<Box<dyn FaceBackend>> {
    match &c.runtime {
        FaceRuntime::Tract => return Ok(build_tract(c, None)?),
        FaceRuntime::Torch { pnet, rnet } => return build_torch_backend(c, pnet, rnet, threads),
        FaceRuntime::OnnxRuntime => {}
    }
    match build_onnx(c, threads) {
        Err(BackendError::RuntimeMissing { what, fix }) if may_fall_back_to_tract(c) => {
            let reason = format!("{what}: {fix}");
            match build_tract(c, Some(reason.clone())) {
                Ok(b) => Ok(b),
                // Without tract in this build, the missing runtime is the error to show.
                Err(BackendError::NotCompiled { .. }) => {
                    Err(BackendError::RuntimeMissing { what, fix }.into())
                }
                Err(e) => Err(anyhow::Error::new(e)
                    .context(format!("the tract fallback failed too; first, {reason}"))),
            }
        }
        other => Ok(other?),
    }
}

/// Whether the backend the configuration asks for has a pet check when its model is there
/// (ONNX Runtime and tract run RetinaFace; libtorch does not), known before it is started.
pub fn checks_pets(c: &OrganizeConfig) -> bool {
    !matches!(c.runtime, FaceRuntime::Torch { .. })
}

/// Only the default models on an unnamed device may quietly change runtime: the tract backend
/// runs YuNet + SFace on the CPU and nothing else.
fn may_fall_back_to_tract(c: &OrganizeConfig) -> bool {
    let default_detector = Manifest::builtin().default_for(Role::Detector).id.clone();
    c.detector_id == default_detector
        && !c.custom_embedder
        && matches!(
            c.device,
            po_backend_api::DeviceRequest::Cpu | po_backend_api::DeviceRequest::Auto
        )
}

/// Builds the backend and says, in one `warning:` line, when it is not what was asked for.
pub fn start_backend(
    c: &OrganizeConfig,
    threads: usize,
    progress: &dyn ProgressSink,
) -> anyhow::Result<Box<dyn FaceBackend>> {
    let b = build_backend(c, threads).context("cannot start the face backend")?;
    let info = b.info();
    if let Some(reason) = &info.device.fallback_reason {
        // Only the missing-runtime fallback puts tract in place of what was asked for.
        progress.message(&if info.backend == "tract" {
            format!(
                "warning: ONNX Runtime could not be loaded, so the same models run on the pure-Rust tract backend (slower): {reason}"
            )
        } else {
            format!(
                "warning: running on {} because no accelerator could be used: {reason}",
                info.device.device
            )
        });
    }
    if let Err(reason) = b.face_check_status() {
        progress.message(&format!(
            "warning: pets' faces cannot be told from people's, so a dog or cat may become a person: {reason}"
        ));
    }
    Ok(b)
}

#[cfg(feature = "facenet")]
fn build_torch_backend(
    c: &OrganizeConfig,
    pnet: &Path,
    rnet: &Path,
    threads: usize,
) -> anyhow::Result<Box<dyn FaceBackend>> {
    use po_backend_torch::{TorchBackend, TorchConfig};
    let config = TorchConfig {
        pnet: pnet.to_path_buf(),
        rnet: rnet.to_path_buf(),
        onet: c.detector_model.clone(),
        embedder: c.embedder_model.clone(),
        threads,
        device: c.device,
        device_options: c.device_options.clone(),
        detect: c.detect,
    };
    Ok(Box::new(TorchBackend::new(&config)?))
}

#[cfg(not(feature = "facenet"))]
fn build_torch_backend(
    _: &OrganizeConfig,
    _: &Path,
    _: &Path,
    _: usize,
) -> anyhow::Result<Box<dyn FaceBackend>> {
    anyhow::bail!("{}", crate::config::FACENET_NOT_COMPILED)
}

#[cfg(feature = "onnx")]
fn build_onnx(c: &OrganizeConfig, threads: usize) -> Result<Box<dyn FaceBackend>, BackendError> {
    use po_backend_onnx::{DetectorKind, OnnxBackend, OnnxConfig, RuntimeCandidate};
    let config = OnnxConfig {
        runtime: c
            .runtime_candidates
            .iter()
            .map(|(path, source)| RuntimeCandidate {
                path: path.clone(),
                source: source.clone(),
            })
            .collect(),
        detector_kind: if c.detector_id.starts_with("scrfd") {
            DetectorKind::Scrfd
        } else if c.detector_id.starts_with("yolov8") {
            DetectorKind::YoloV8
        } else {
            DetectorKind::YuNet
        },
        detector_model: c.detector_model.clone(),
        landmark_model: c.landmark_model.clone(),
        embedder_model: c.embedder_model.clone(),
        embedder_kind: if c.custom_embedder {
            po_backend_onnx::sface::EmbedderKind::ArcFace
        } else {
            po_backend_onnx::sface::EmbedderKind::SFace
        },
        embedder_id: c.embedder_id.clone(),
        threads,
        device: c.device,
        device_options: c.device_options.clone(),
        gpu_libraries: c.gpu_libraries.clone(),
        detect: c.detect,
        face_check_model: Some(c.face_check_model.clone()),
        batch_size: c.batch_size,
    };
    Ok(Box::new(OnnxBackend::new(&config)?))
}

#[cfg(not(feature = "onnx"))]
fn build_onnx(_: &OrganizeConfig, _: usize) -> Result<Box<dyn FaceBackend>, BackendError> {
    Err(BackendError::NotCompiled {
        name: "yunet".into(),
        feature: "onnx".into(),
    })
}

#[cfg(feature = "tract")]
fn build_tract(
    c: &OrganizeConfig,
    fallback_reason: Option<String>,
) -> Result<Box<dyn FaceBackend>, BackendError> {
    use po_backend_tract::{TractBackend, TractConfig};
    Ok(Box::new(TractBackend::new(&TractConfig {
        detector_model: c.detector_model.clone(),
        embedder_model: c.embedder_model.clone(),
        detect: c.detect,
        fallback_reason,
        face_check_model: Some(c.face_check_model.clone()),
    })?))
}

#[cfg(not(feature = "tract"))]
fn build_tract(
    _: &OrganizeConfig,
    _: Option<String>,
) -> Result<Box<dyn FaceBackend>, BackendError> {
    Err(BackendError::NotCompiled {
        name: "tract".into(),
        feature: "tract".into(),
    })
}
