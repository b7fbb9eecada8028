//! The contract between the pipeline and a face backend: the [`FaceBackend`] trait and the plain
//! types that cross it (images in, [`FaceBox`]es and embeddings out, [`BackendInfo`] saying which
//! models and which device really ran). No heavy dependencies live here, so the core never
//! depends on ONNX Runtime or libtorch directly; each backend family is its own crate.

use std::fmt;

use serde::Serialize;

pub mod nms;

/// Where the runtime library and models are kept unless `--cache-dir` or
/// `PHOTO_ORGANIZER_CACHE` says otherwise: `$XDG_CACHE_HOME/photo_organizer`, else
/// `~/.cache/photo_organizer`; `None` without either variable.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(std::path::PathBuf::from(xdg).join("photo_organizer"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(
        std::path::PathBuf::from(home)
            .join(".cache")
            .join("photo_organizer"),
    )
}

/// The cache `photo_organizer setup` filled, as the binary resolves it without `--cache-dir`
/// (for tests that need the real runtime and models).
pub fn setup_cache_dir() -> std::path::PathBuf {
    std::env::var_os("PHOTO_ORGANIZER_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(default_cache_dir)
        .expect("set HOME, XDG_CACHE_HOME or PHOTO_ORGANIZER_CACHE")
}

/// An 8-bit RGB image borrowed from the caller, row-major, 3 bytes a pixel.
#[derive(Clone, Copy)]
pub struct RgbView<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
}

impl<'a> RgbView<'a> {
    /// Wraps `data`; `None` when its length does not match `width * height * 3`.
    pub fn new(width: u32, height: u32, data: &'a [u8]) -> Option<Self> {
        (data.len() == width as usize * height as usize * 3).then_some(Self {
            width,
            height,
            data,
        })
    }
}

/// One detected face in the coordinates of the image given to `detect`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceBox {
    /// Left, top, right, bottom in pixels.
    pub bbox: [f32; 4],
    pub score: f32,
    /// Eye (image left), eye (image right), nose tip, mouth corner (image left), mouth corner
    /// (image right): the order of the ArcFace alignment template.
    pub landmarks: [[f32; 2]; 5],
}

impl FaceBox {
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }
}

/// Side of the ArcFace-aligned crops the ONNX embedders take (see [`ARCFACE_ALIGNMENT`]).
pub const ALIGNED_SIZE: usize = 112;

/// The square crop an embedder was trained on: its side, and where the five landmarks (in
/// [`FaceBox::landmarks`] order) land in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlignmentTemplate {
    pub size: usize,
    pub landmarks: [[f32; 2]; 5],
}

/// The insightface / ArcFace template for 112x112 crops: eyes, nose tip, mouth corners.
pub const ARCFACE_ALIGNMENT: AlignmentTemplate = AlignmentTemplate {
    size: ALIGNED_SIZE,
    landmarks: [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
};

/// An RGB face crop, `size` x `size`, aligned to the backend's [`FaceBackend::alignment`].
pub struct AlignedFace {
    pub size: usize,
    pub rgb: Vec<u8>,
}

/// The device and execution provider that really ran, as opposed to the one asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveDevice {
    /// "cpu", "cuda:0", ...
    pub device: String,
    /// The runtime's own name for it, e.g. "CPUExecutionProvider".
    pub provider: String,
    /// Why a requested accelerator was not used; `None` when the request was met.
    pub fallback_reason: Option<String>,
}

/// What a backend is: its name, models and the device that runs them.
#[derive(Debug, Clone, Serialize)]
pub struct BackendInfo {
    pub backend: String,
    pub detector_model: String,
    pub embedder_model: String,
    pub embedding_dim: usize,
    pub device: ActiveDevice,
    /// Version of the native runtime that was loaded, when known.
    pub runtime_version: Option<String>,
}

/// An execution provider, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Cpu,
    Cuda,
    TensorRt,
    Rocm,
    OpenVino,
    CoreMl,
    DirectMl,
}

impl Provider {
    pub const ALL: [Provider; 7] = [
        Provider::Cpu,
        Provider::Cuda,
        Provider::TensorRt,
        Provider::Rocm,
        Provider::OpenVino,
        Provider::CoreMl,
        Provider::DirectMl,
    ];

    /// The name users type: `cpu`, `cuda`, `tensorrt`, ...
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::Rocm => "rocm",
            Provider::OpenVino => "openvino",
            Provider::CoreMl => "coreml",
            Provider::DirectMl => "directml",
        }
    }

    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceRequest {
    /// CPU only (the default).
    #[default]
    Cpu,
    /// `--gpu`: the best accelerator that works (CUDA, then Apple CoreML), else the CPU with a
    /// warning and the reason recorded.
    Auto,
    /// `--execution-provider NAME`: exactly this one, or an error naming the cause.
    Exactly(Provider),
}

/// Photos a batch on an accelerator when `--batch-size` is not given, where launch and copy
/// costs per call dominate (the CPU's default is one: batches measured no faster there).
pub const ACCELERATOR_BATCH: usize = 16;

impl DeviceRequest {
    /// The most photos a backend started for this request batches by default, before it is
    /// known which device takes: what the decoders queue ahead of the inference workers.
    pub fn largest_default_batch(self) -> usize {
        match self {
            DeviceRequest::Cpu | DeviceRequest::Exactly(Provider::Cpu) => 1,
            _ => ACCELERATOR_BATCH,
        }
    }

    /// Whether the request may use an NVIDIA GPU (CUDA or TensorRT): then the GPU runtime and
    /// the CUDA libraries are looked for.
    pub fn wants_gpu(self) -> bool {
        matches!(
            self,
            DeviceRequest::Auto | DeviceRequest::Exactly(Provider::Cuda | Provider::TensorRt)
        )
    }
}

/// Accelerator settings (CUDA options follow ONNX Runtime's names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceOptions {
    pub device_id: u32,
    pub gpu_mem_limit: Option<usize>,
    /// `next_power_of_two` or `same_as_requested`.
    pub arena_extend_strategy: Option<String>,
    /// `exhaustive`, `heuristic` or `default`.
    pub cudnn_conv_algo_search: Option<String>,
    /// Half precision where the provider supports it (TensorRT).
    pub fp16: bool,
    /// Where TensorRT keeps the engines it builds (`<cache>/trt/`), so later runs skip the
    /// minutes-long build; `None`: no engine cache.
    pub engine_cache_dir: Option<std::path::PathBuf>,
}

/// Detection settings shared by all detectors.
#[derive(Debug, Clone, Copy)]
pub struct DetectOptions {
    pub score_threshold: f32,
    pub nms_iou: f32,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            score_threshold: 0.7,
            nms_iou: 0.3,
        }
    }
}

/// A face detector plus embedder. One thread owns a backend; the pipeline batches for it.
pub trait FaceBackend: Send {
    fn info(&self) -> &BackendInfo;

    /// The crop `embed` expects; the pipeline aligns every face to it. Most embedders take the
    /// 112x112 ArcFace crop; FaceNet was trained on looser 160x160 MTCNN crops.
    fn alignment(&self) -> AlignmentTemplate {
        ARCFACE_ALIGNMENT
    }

    /// Faces in `image`, in its pixel coordinates, best first.
    fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError>;

    /// Faces in `image` (at most `max_side` a side: the caller shrinks it) from runs at the
    /// image's own size rather than shrunk to the detector's input, for the pipeline's second
    /// pass over large photos; `None` when the detector takes only its fixed input size, and the
    /// pipeline then runs [`FaceBackend::detect`] on tiles of the image.
    fn detect_whole(
        &mut self,
        _image: RgbView<'_>,
        _max_side: u32,
    ) -> Result<Option<Vec<FaceBox>>, BackendError> {
        Ok(None)
    }

    /// One L2-normalised vector per aligned face, in order. The faces may come from several
    /// photos: the pipeline gathers up to [`FaceBackend::max_batch`] photos' faces in one call.
    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError>;

    /// Most photos the pipeline hands to [`FaceBackend::detect_batch`] at once (`--batch-size`,
    /// where this backend runs batches).
    fn max_batch(&self) -> usize {
        1
    }

    /// Faces in each image, in order: one [`FaceBackend::detect`] each unless the backend runs
    /// them together. The same faces either way.
    fn detect_batch(&mut self, images: &[RgbView<'_>]) -> Result<Vec<Vec<FaceBox>>, BackendError> {
        images.iter().map(|image| self.detect(*image)).collect()
    }

    /// A second detector's faces in `mosaic` (a square of face crops the pipeline builds, see
    /// `animals.rs`), scored down to a low bar, or `None` when this backend has no second
    /// detector: the pipeline then cannot tell a pet's face from a person's.
    fn face_check(&mut self, _mosaic: RgbView<'_>) -> Result<Option<Vec<FaceBox>>, BackendError> {
        Ok(None)
    }

    /// Whether [`FaceBackend::face_check`] can answer, or why not (one line for the user).
    fn face_check_status(&self) -> Result<(), String> {
        Err("this backend has no second face detector".into())
    }
}

/// Why a backend could not be built or could not run.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The native runtime library (libonnxruntime, libtorch) is missing or unusable.
    #[error("{what}: {fix}")]
    RuntimeMissing { what: String, fix: String },
    /// A model file is missing, corrupt, or does not have the inputs and outputs expected.
    #[error("model {model}: {reason}")]
    Model { model: String, reason: String },
    /// The requested device or provider cannot be used.
    #[error("device {requested} unavailable: {reason}")]
    Device { requested: String, reason: String },
    /// The runtime failed while running a model.
    #[error("inference failed in {model}: {reason}")]
    Inference { model: String, reason: String },
    #[error(
        "backend `{name}` is not compiled into this build; rebuild with `--features {feature}`"
    )]
    NotCompiled { name: String, feature: String },
}

/// L2-normalises `v` in place; a zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

impl fmt::Display for ActiveDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.device, self.provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_view_rejects_wrong_length() {
        assert!(RgbView::new(2, 2, &[0; 12]).is_some());
        assert!(RgbView::new(2, 2, &[0; 11]).is_none());
    }

    #[test]
    fn l2_normalize_gives_unit_length() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut zero = vec![0.0; 3];
        l2_normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }
}
