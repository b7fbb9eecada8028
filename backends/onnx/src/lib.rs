//! ONNX Runtime face backends. Loads `libonnxruntime` at run time (the `ort` crate's
//! `load-dynamic`), registers the execution provider explicitly and records which one took, and
//! runs one model family per file: [`yunet`] (detector) and [`sface`] (embedder).

use std::{
    borrow::Cow,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use ort::session::{builder::GraphOptimizationLevel, Session};
use po_backend_api::{
    ActiveDevice, AlignedFace, BackendError, BackendInfo, DetectOptions, DeviceOptions,
    DeviceRequest, FaceBackend, FaceBox, Provider, RgbView,
};

pub mod cuda_libs;
pub mod fixture;
pub mod onnx_edit;
mod providers;
pub mod retinaface;
mod runtime;
pub mod scrfd;
pub mod sface;
pub mod yolov8;
pub mod yunet;

pub use providers::{
    batch_size_for, explain_provider_error, offered_providers, provider_options, provider_plan,
    runtime_name, DRIVER_MISSING,
};
use providers::{device_label, dispatch};
use runtime::environment;
pub use runtime::{load_runtime, LoadedRuntime, RuntimeCandidate, RUNTIME_FIX};

/// The error for a failed run of `model`.
pub(crate) fn inference_error(model: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Inference {
        model: model.into(),
        reason: e.to_string(),
    }
}

/// Checks that a detector session has `{head}_{stride}` outputs for every head and stride.
pub(crate) fn require_outputs(
    session: &Session,
    model: &str,
    heads: &[&str],
    strides: &[u32],
) -> Result<(), BackendError> {
    let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    for stride in strides {
        for head in heads {
            let want = format!("{head}_{stride}");
            if !names.contains(&want.as_str()) {
                return Err(BackendError::Model {
                    model: model.into(),
                    reason: format!("output `{want}` missing; outputs are {names:?}"),
                });
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// YuNet 2023mar (MIT): the default.
    YuNet,
    /// SCRFD-2.5G-KPS (InsightFace, non-commercial research terms): `--face-backend insightface`.
    Scrfd,
    /// YOLOv8-face (Ultralytics, AGPL-3.0), boxes only, with YuNet for the landmarks:
    /// `--face-backend yolov8`.
    YoloV8,
}

enum Detector {
    YuNet(yunet::YuNet),
    Scrfd(scrfd::Scrfd),
    YoloV8(Box<yolov8::YoloV8>),
}

/// Everything the ONNX backend needs, resolved by the caller.
#[derive(Debug, Clone)]
pub struct OnnxConfig {
    pub runtime: Vec<RuntimeCandidate>,
    pub detector_kind: DetectorKind,
    pub detector_model: PathBuf,
    /// YuNet, which finds the landmarks of YOLOv8's boxes.
    pub landmark_model: PathBuf,
    pub embedder_model: PathBuf,
    pub embedder_kind: sface::EmbedderKind,
    /// Names the embedder in messages and in [`BackendInfo`]; the caller's cache key.
    pub embedder_id: String,
    pub threads: usize,
    pub device: DeviceRequest,
    pub device_options: DeviceOptions,
    /// CUDA libraries loaded by full path, in this order, before a CUDA or TensorRT provider
    /// is registered ([`cuda_libs::preload`]), so no LD_LIBRARY_PATH is needed.
    pub gpu_libraries: Vec<PathBuf>,
    pub detect: DetectOptions,
    /// SCRFD, run as a second opinion on the faces another detector found (pets: YuNet fires
    /// on dogs' faces, SCRFD does not). `None` or a missing file: no check.
    pub face_check_model: Option<PathBuf>,
    /// `--batch-size`: photos per detector run and faces per embedder run; `None`: the
    /// provider's default ([`batch_size_for`]).
    pub batch_size: Option<usize>,
}

/// Builds a session on `provider`; `ort::Error<SessionBuilder>` is not `Send`, so the builder's
/// errors are turned into strings here. `fold_quantized_weights` lets constant folding turn
/// DequantizeLinear on weights into fp32 weights once, at load, instead of on every run (SFace
/// int8bq: same embeddings to 1.6e-6, 1.4x faster measured on this CPU).
fn session(
    bytes: &[u8],
    threads: usize,
    fold_quantized_weights: bool,
    provider: Provider,
    options: &DeviceOptions,
) -> Result<Session, String> {
    let build = || -> ort::Result<Session> {
        // Decoding threads share the cores with inference: spinning ONNX Runtime workers would
        // burn the time the decoders need.
        let mut builder = Session::builder(environment())?
            .with_config_entry("session.intra_op.allow_spinning", "0")?;
        if fold_quantized_weights {
            builder = builder.with_config_entry("session.disable_quant_qdq", "1")?;
        }
        builder
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_intra_threads(threads.max(1))?
            .with_execution_providers([dispatch(provider, options)])?
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

/// The embedder's model as sessions get it: `plain` without stale weight inputs, `cpu` also
/// with PRelu expanded.
struct EditedEmbedder {
    plain: Vec<u8>,
    cpu: Vec<u8>,
}

/// Embedder edits already made, keyed by the model file's bytes, so a changed file is edited
/// afresh. One model is used per run; the last two are kept (tests load several).
struct EmbedderEdits(Mutex<Vec<(Vec<u8>, Arc<EditedEmbedder>)>>);

impl EmbedderEdits {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// The edits of `raw` (35-45 ms for SFace), made once however many backends ask.
    fn of(&self, raw: Vec<u8>) -> Result<Arc<EditedEmbedder>, String> {
        let mut done = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, edited)) = done.iter().find(|(bytes, _)| *bytes == raw) {
            return Ok(Arc::clone(edited));
        }
        let (plain, _) = onnx_edit::strip_weight_inputs(&raw).map_err(|e| e.to_string())?;
        // On the CPU, PRelu runs faster as depthwise convolutions (onnx_edit::expand_prelu); GPU
        // providers have a fused PRelu kernel, so they get the model as it is.
        let (cpu, _) = onnx_edit::expand_prelu(&plain).map_err(|e| e.to_string())?;
        let edited = Arc::new(EditedEmbedder { plain, cpu });
        if done.len() >= 2 {
            done.remove(0);
        }
        done.push((raw, Arc::clone(&edited)));
        Ok(edited)
    }
}

/// Every inference worker builds its own backend from the same file: the edits are made once
/// per process.
static EMBEDDER_EDITS: EmbedderEdits = EmbedderEdits::new();

/// A detector (YuNet or SCRFD) + SFace embedder on ONNX Runtime.
pub struct OnnxBackend {
    info: BackendInfo,
    detector: Detector,
    embedder: sface::Embedder,
    /// RetinaFace on the CPU for [`FaceBackend::face_check`], or why there is none.
    checker: Result<retinaface::RetinaFace, String>,
    /// Photos per detector call, faces per embedder run ([`batch_size_for`]).
    batch: usize,
}

/// Score down to which the check reports the second detector's faces: the decision's bar
/// (animals.rs) is far above it, so a weak human face still shows.
pub const CHECK_MIN_SCORE: f32 = 0.05;

fn face_checker(config: &OnnxConfig) -> Result<retinaface::RetinaFace, String> {
    let Some(path) = &config.face_check_model else {
        return Err("no second detector configured".into());
    };
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "the pet check's model is missing ({}: {e}); `photo_organizer setup` fetches it",
            path.display()
        )
    })?;
    let session = session(
        &bytes,
        config.threads,
        false,
        Provider::Cpu,
        &config.device_options,
    )?;
    retinaface::RetinaFace::new(session, CHECK_MIN_SCORE).map_err(|e| e.to_string())
}

impl OnnxBackend {
    pub fn new(config: &OnnxConfig) -> Result<Self, BackendError> {
        let runtime = load_runtime(&config.runtime)?;
        let model_error = |id: &str, reason: String| BackendError::Model {
            model: id.into(),
            reason,
        };
        let det_id = match config.detector_kind {
            DetectorKind::YuNet => yunet::MODEL_ID,
            DetectorKind::Scrfd => scrfd::MODEL_ID,
            DetectorKind::YoloV8 => yolov8::MODEL_ID,
        };
        let det_bytes = read_model(&config.detector_model, det_id)?;
        // On the CPU, YuNet runs on a canvas fitted to the photo (yunet::Canvas::Tight), which
        // needs its declared 640x640 shapes freed; GPU providers keep the fixed square (one
        // TensorRT engine, one cuDNN tuning). A batch above one needs the batch dim freed too.
        let det_bytes_for = |cpu: bool, batch: usize| -> Result<Cow<'_, [u8]>, BackendError> {
            let dims = match (cpu, batch > 1) {
                _ if config.detector_kind != DetectorKind::YuNet => {
                    return Ok(Cow::Borrowed(&det_bytes))
                }
                (true, false) => onnx_edit::Dims::Spatial,
                (true, true) => onnx_edit::Dims::BatchAndSpatial,
                (false, false) => return Ok(Cow::Borrowed(&det_bytes)),
                (false, true) => onnx_edit::Dims::Batch,
            };
            Ok(Cow::Owned(
                onnx_edit::free_shapes(&det_bytes, dims)
                    .map_err(|e| model_error(det_id, e.to_string()))?
                    .0,
            ))
        };
        let lmk_bytes = match config.detector_kind {
            DetectorKind::YoloV8 => Some(read_model(&config.landmark_model, yunet::MODEL_ID)?),
            _ => None,
        };
        let emb_id = config.embedder_id.as_str();
        let edited = EMBEDDER_EDITS
            .of(read_model(&config.embedder_model, emb_id)?)
            .map_err(|e| model_error(emb_id, e))?;
        let emb_bytes_for = |cpu: bool, batch: usize| -> Result<Cow<'_, [u8]>, BackendError> {
            let bytes = if cpu { &edited.cpu } else { &edited.plain };
            if batch == 1 {
                return Ok(Cow::Borrowed(bytes));
            }
            Ok(Cow::Owned(
                onnx_edit::free_shapes(bytes, onnx_edit::Dims::Batch)
                    .map_err(|e| model_error(emb_id, e.to_string()))?
                    .0,
            ))
        };

        // Try each provider of the plan with both models; the first that takes both is used.
        let mut refusals: Vec<String> = Vec::new();
        let mut chosen = None;
        for provider in provider_plan(config.device) {
            let o = &config.device_options;
            let cpu = provider == Provider::Cpu;
            if matches!(provider, Provider::Cuda | Provider::TensorRt) {
                if let Err(e) = cuda_libs::preload(&config.gpu_libraries) {
                    refusals.push(format!(
                        "{}: {e}; `photo_organizer setup --gpu` fetches (and checks) them again",
                        provider.name()
                    ));
                    continue;
                }
            }
            if provider == Provider::TensorRt {
                if let Some(dir) = &o.engine_cache_dir {
                    // Without it TensorRT still runs, building its engines on every start.
                    let _ = std::fs::create_dir_all(dir);
                }
            }
            let batch = batch_size_for(config.batch_size, provider);
            let (det, emb) = (det_bytes_for(cpu, batch)?, emb_bytes_for(cpu, batch)?);
            let all = session(&det, config.threads, false, provider, o).and_then(|det| {
                let emb = session(&emb, config.threads, true, provider, o)?;
                let lmk = lmk_bytes
                    .as_ref()
                    .map(|b| session(b, config.threads, false, provider, o))
                    .transpose()?;
                Ok((det, emb, lmk))
            });
            match all {
                Ok(sessions) => {
                    chosen = Some((provider, batch, sessions));
                    break;
                }
                Err(e) => refusals.push(format!(
                    "{}: {}",
                    provider.name(),
                    explain_provider_error(provider, &e)
                )),
            }
        }
        let Some((provider, batch, (det_session, emb_session, lmk_session))) = chosen else {
            let requested = match config.device {
                DeviceRequest::Exactly(p) => p.name().to_string(),
                DeviceRequest::Auto => "auto".into(),
                DeviceRequest::Cpu => "cpu".into(),
            };
            return Err(BackendError::Device {
                requested,
                reason: refusals.join("; "),
            });
        };
        let detector = match config.detector_kind {
            DetectorKind::YuNet => {
                let canvas = if provider == Provider::Cpu {
                    yunet::Canvas::Tight
                } else {
                    yunet::Canvas::Square
                };
                Detector::YuNet(
                    yunet::YuNet::new(det_session, config.detect, canvas)?.with_max_batch(batch),
                )
            }
            DetectorKind::Scrfd => Detector::Scrfd(scrfd::Scrfd::new(det_session, config.detect)?),
            DetectorKind::YoloV8 => {
                let missing = || model_error(yunet::MODEL_ID, "no landmark session".into());
                // The second stage looks where a face is known to be: a lower bar.
                let second = DetectOptions {
                    score_threshold: 0.5,
                    ..config.detect
                };
                // Its crops are near-square: the declared 640x640 square serves them.
                let landmarks = yunet::YuNet::new(
                    lmk_session.ok_or_else(missing)?,
                    second,
                    yunet::Canvas::Square,
                )?;
                Detector::YoloV8(Box::new(yolov8::YoloV8::new(
                    det_session,
                    landmarks,
                    config.detect,
                )?))
            }
        };
        let mut embedder = sface::Embedder::new(emb_session, config.embedder_kind, emb_id)?;
        if batch > 1 {
            embedder = embedder.with_max_batch(batch);
        }

        let info = BackendInfo {
            backend: match config.detector_kind {
                DetectorKind::YuNet => "yunet",
                DetectorKind::Scrfd => "insightface",
                DetectorKind::YoloV8 => "yolov8",
            }
            .into(),
            detector_model: det_id.into(),
            embedder_model: emb_id.into(),
            embedding_dim: embedder.dim(),
            device: ActiveDevice {
                device: device_label(provider, config.device_options.device_id),
                provider: runtime_name(provider).into(),
                fallback_reason: (!refusals.is_empty()).then(|| refusals.join("; ")),
            },
            runtime_version: runtime.version,
        };
        let checker = face_checker(config);
        Ok(Self {
            info,
            detector,
            embedder,
            checker,
            batch,
        })
    }
}

impl FaceBackend for OnnxBackend {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        match &mut self.detector {
            Detector::YuNet(d) => d.detect(image),
            Detector::Scrfd(d) => d.detect(image),
            Detector::YoloV8(d) => d.detect(image),
        }
    }

    fn detect_whole(
        &mut self,
        image: RgbView<'_>,
        max_side: u32,
    ) -> Result<Option<Vec<FaceBox>>, BackendError> {
        match &mut self.detector {
            Detector::YuNet(d) => d.detect_whole(image, max_side),
            _ => Ok(None),
        }
    }

    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
        self.embedder.embed(faces)
    }

    fn max_batch(&self) -> usize {
        self.batch
    }

    fn detect_batch(&mut self, images: &[RgbView<'_>]) -> Result<Vec<Vec<FaceBox>>, BackendError> {
        match &mut self.detector {
            Detector::YuNet(d) => d.detect_batch(images),
            _ => images.iter().map(|image| self.detect(*image)).collect(),
        }
    }

    fn face_check(&mut self, mosaic: RgbView<'_>) -> Result<Option<Vec<FaceBox>>, BackendError> {
        match &mut self.checker {
            Ok(checker) => checker.detect(mosaic).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn face_check_status(&self) -> Result<(), String> {
        self.checker.as_ref().map(|_| ()).map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedder_is_edited_once_per_model_file_contents() {
        let a = fixture::arcface_like_embedder(8, None, 1);
        let b = fixture::arcface_like_embedder(8, None, 2);
        assert_ne!(a, b);
        // Its own memo: backends built by tests running beside it cannot evict entries.
        let edits = EmbedderEdits::new();
        let first = edits.of(a.clone()).unwrap();
        let again = edits.of(a.clone()).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same bytes reuse the edits"
        );
        let other = edits.of(b.clone()).unwrap();
        assert!(
            !Arc::ptr_eq(&first, &other),
            "other bytes are edited afresh"
        );
        assert_eq!(other.plain, onnx_edit::strip_weight_inputs(&b).unwrap().0);
        let expanded = onnx_edit::expand_prelu(&other.plain).unwrap().0;
        assert_eq!(other.cpu, expanded);
    }

    #[test]
    fn plans_and_explanations() {
        assert_eq!(provider_plan(DeviceRequest::Cpu), vec![Provider::Cpu]);
        assert_eq!(
            provider_plan(DeviceRequest::Exactly(Provider::TensorRt)),
            vec![Provider::TensorRt]
        );
        assert_eq!(
            *provider_plan(DeviceRequest::Auto).last().unwrap(),
            Provider::Cpu
        );
        let e = explain_provider_error(
            Provider::Cuda,
            "CUDA execution provider is not enabled in this build.",
        );
        assert!(
            e.contains("setup --gpu") && e.contains("ORT_DYLIB_PATH"),
            "{e}"
        );
        // With every CUDA library loaded, only the driver can be missing: named, with the check.
        let e = explain_provider_error(
            Provider::Cuda,
            "Failed to load library libonnxruntime_providers_cuda.so with error: libcuda.so.1: cannot open shared object file: No such file or directory",
        );
        assert!(
            e.contains("libcuda.so.1 (the NVIDIA driver) is missing") && e.contains("nvidia-smi"),
            "{e}"
        );
        let e = explain_provider_error(
            Provider::TensorRt,
            "libnvinfer.so.10: cannot open shared object file",
        );
        assert!(
            e.contains("TensorRT 10") && e.contains("tensorrt-cu13"),
            "{e}"
        );
        let e = explain_provider_error(
            Provider::Cuda,
            "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file",
        );
        assert!(
            e.contains("libcublasLt.so.13 is missing") && e.contains("setup --gpu"),
            "{e}"
        );
    }

    /// The cache `photo_organizer setup` filled (`scripts/test.sh` runs it before the tests).
    use po_backend_api::setup_cache_dir as setup_cache;

    #[test]
    fn expanded_prelu_gives_the_same_sface_embeddings() {
        load_setup_runtime();
        let model = setup_model("face_recognition_sface_2021dec_int8bq.onnx");
        let (plain, _) = onnx_edit::strip_weight_inputs(&model).unwrap();
        let (expanded, n) = onnx_edit::expand_prelu(&plain).unwrap();
        assert_eq!(n, 27, "SFace has 27 PRelu nodes");
        // Each in the depthwise-convolution form: its `1 - slope` weights named as an
        // initializer and as the second convolution's input.
        let pattern = b"/po_prelu_one_minus_slope";
        let named = expanded
            .windows(pattern.len())
            .filter(|w| w == pattern)
            .count();
        assert_eq!(named, 2 * 27, "every SFace slope is per channel");
        let o = DeviceOptions::default();
        let embedder = |bytes: &[u8]| {
            let s = session(bytes, 1, true, Provider::Cpu, &o).unwrap();
            sface::Embedder::new(s, sface::EmbedderKind::SFace, sface::MODEL_ID).unwrap()
        };
        let (mut a, mut b) = (embedder(&plain), embedder(&expanded));
        // Pseudo-random crops: many activations on both sides of zero.
        let mut state = 7u32;
        let faces: Vec<AlignedFace> = (0..3)
            .map(|_| AlignedFace {
                size: po_backend_api::ALIGNED_SIZE,
                rgb: (0..po_backend_api::ALIGNED_SIZE.pow(2) * 3)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (state >> 24) as u8
                    })
                    .collect(),
            })
            .collect();
        let (ea, eb) = (a.embed(&faces).unwrap(), b.embed(&faces).unwrap());
        for (x, y) in ea.iter().zip(&eb) {
            let diff = x
                .iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(diff <= 1e-5, "embeddings differ by {diff}");
        }
    }

    /// A model file from the cache `photo_organizer setup` filled.
    pub(super) fn setup_model(file: &str) -> Vec<u8> {
        std::fs::read(setup_cache().join("models").join(file))
            .expect("run `photo_organizer setup` first")
    }

    pub(super) fn load_setup_runtime() {
        let runtime = setup_cache().join("runtime/libonnxruntime.so.1.31.1");
        assert!(runtime.is_file(), "run `photo_organizer setup` first");
        load_runtime(&[RuntimeCandidate {
            path: runtime,
            source: "test".into(),
        }])
        .unwrap();
    }

    #[test]
    fn an_arcface_style_model_gets_its_normalisation_width_and_batches() {
        load_setup_runtime();
        let o = DeviceOptions::default();
        let gray = |v: u8| AlignedFace {
            size: po_backend_api::ALIGNED_SIZE,
            rgb: vec![v; po_backend_api::ALIGNED_SIZE.pow(2) * 3],
        };
        let faces = [gray(100), gray(200), gray(60)];
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let mut outputs = Vec::new();
        for batch in [None, Some(1)] {
            let bytes = fixture::arcface_like_embedder(512, batch, 3);
            let (bytes, _) = onnx_edit::expand_prelu(&bytes).unwrap();
            let s = session(&bytes, 1, true, Provider::Cpu, &o).unwrap();
            let mut e = sface::Embedder::new(s, sface::EmbedderKind::ArcFace, "fixture").unwrap();
            assert_eq!(e.dim(), 512);
            let v = e.embed(&faces).unwrap();
            assert_eq!(v.len(), 3);
            assert!((cos(&v[0], &v[0]) - 1.0).abs() < 1e-4, "L2-normalised");
            // (x - 127.5) / 127.5 puts 100 and 200 on opposite sides of zero.
            assert!(cos(&v[0], &v[1]) < 0.9, "{}", cos(&v[0], &v[1]));
            assert!(cos(&v[0], &v[2]) > 0.999);
            outputs.push(v);
        }
        // One run of three faces and three runs of one give the same embeddings.
        for (a, b) in outputs[0].iter().zip(&outputs[1]) {
            assert!(cos(a, b) > 0.99999);
        }
        // With SFace's 0..255 input both grays are positive: same direction.
        let bytes = fixture::arcface_like_embedder(512, None, 3);
        let s = session(&bytes, 1, true, Provider::Cpu, &o).unwrap();
        let mut e = sface::Embedder::new(s, sface::EmbedderKind::SFace, "fixture").unwrap();
        let v = e.embed(&faces[..2]).unwrap();
        assert!(cos(&v[0], &v[1]) > 0.999);
    }

    #[test]
    fn yunet_with_freed_shapes_takes_a_tight_canvas() {
        load_setup_runtime();
        let o = DeviceOptions::default();
        let yunet = setup_model("face_detection_yunet_2023mar.onnx");
        let input = ndarray::Array4::<f32>::zeros((1, 3, 448, 640));
        let run = |bytes: &[u8]| -> Result<usize, String> {
            let mut s = session(bytes, 1, false, Provider::Cpu, &o).map_err(|e| e.to_string())?;
            let t = ort::value::TensorRef::from_array_view(&input).map_err(|e| e.to_string())?;
            let out = s
                .run(ort::inputs!["input" => t])
                .map_err(|e| e.to_string())?;
            let (_, cls) = out["cls_8"]
                .try_extract_tensor::<f32>()
                .map_err(|e| e.to_string())?;
            Ok(cls.len())
        };
        // As shipped, the declared 640x640 input refuses 640x448.
        assert!(run(&yunet).is_err());
        let (freed, edited) = onnx_edit::free_shapes(&yunet, onnx_edit::Dims::Spatial).unwrap();
        // 1 input, 12 outputs and the intermediate declarations.
        assert!(edited > 13, "{edited}");
        assert_eq!(run(&freed), Ok(80 * 56));
    }

    #[test]
    fn an_embedder_with_the_wrong_input_is_refused_with_the_contract() {
        load_setup_runtime();
        let o = DeviceOptions::default();
        // YuNet takes 640x640 images, not face crops.
        let yunet = setup_model("face_detection_yunet_2023mar.onnx");
        let s = session(&yunet, 1, false, Provider::Cpu, &o).unwrap();
        let err = sface::Embedder::new(s, sface::EmbedderKind::ArcFace, "yunet")
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("[N, 3, 112, 112]"), "{err}");
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

#[cfg(test)]
mod batch_tests;
