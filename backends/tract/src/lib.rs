//! Pure-Rust CPU face backend: the same YuNet and SFace ONNX files as the `yunet` backend, run by
//! tract instead of ONNX Runtime, so it needs no native library at all. It is the fallback when
//! libonnxruntime cannot be loaded, and `--face-backend tract` forces it.
//!
//! Pre- and post-processing (letterbox, stride decoding, unscaling, SFace input packing, the
//! stale-input strip) are `po_backend_onnx`'s own functions, so both backends feed the models
//! identical tensors; only the runtime differs. SFace int8bq's block-quantised weights are folded
//! to fp32 first ([`quant_fold`]): tract does not run opset-21 block quantisation.

use std::{
    collections::{hash_map::Entry, HashMap},
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use po_backend_api::{
    l2_normalize, nms::nms, ActiveDevice, AlignedFace, BackendError, BackendInfo, DetectOptions,
    FaceBackend, FaceBox, RgbView, ALIGNED_SIZE,
};
use po_backend_onnx::{
    onnx_edit::{expand_prelu, free_shapes, strip_weight_inputs, Dims},
    retinaface, sface,
    yunet::{self, decode_stride, letterbox, unscale, Canvas, Channels, StrideOutputs},
    CHECK_MIN_SCORE,
};
use tract_onnx::prelude::*;

pub mod quant_fold;

/// The tract release this crate is built against (kept in step with Cargo.toml by a test).
pub const TRACT_VERSION: &str = "0.23.9";
pub const BACKEND_NAME: &str = "tract";
pub const PROVIDER: &str = "tract (pure Rust)";

/// Everything the tract backend needs, resolved by the caller.
#[derive(Debug, Clone)]
pub struct TractConfig {
    pub detector_model: PathBuf,
    pub embedder_model: PathBuf,
    pub detect: DetectOptions,
    /// Why this backend runs instead of the one asked for (libonnxruntime missing), shown in the
    /// summary and the manifest; `None` when it was asked for.
    pub fallback_reason: Option<String>,
    /// SCRFD, the second opinion on each face (pets' faces: see the ONNX backend's
    /// `face_check`). `None` or a missing file: no check.
    pub face_check_model: Option<PathBuf>,
}

type Plan = std::sync::Arc<TypedRunnableModel>;

/// YuNet + SFace on tract.
pub struct TractBackend {
    info: BackendInfo,
    detector: Detector,
    embedder: Plan,
    detect: DetectOptions,
    /// RetinaFace's 640x640 plan and its output names, or why there is none.
    checker: Result<(Plan, Vec<String>), String>,
}

/// SCRFD planned for its fixed 640x640 input.
fn load_checker(path: &Path) -> Result<(Plan, Vec<String>), String> {
    let id = retinaface::MODEL_ID;
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "the pet check's model is missing ({}: {e}); `photo_organizer setup` fetches it",
            path.display()
        )
    })?;
    let proto = decode_proto(id, &bytes).map_err(|e| e.to_string())?;
    let outputs: Vec<String> = proto
        .graph
        .as_ref()
        .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default();
    let side = yunet::INPUT_SIZE as usize;
    let plan = plan(id, &proto, [1, 3, side, side]).map_err(|e| e.to_string())?;
    Ok((plan, outputs))
}

/// YuNet with one plan per canvas size (tract optimises for a fixed input shape), built when a
/// photo first needs it: the canvas is fitted to each photo as with ONNX Runtime on the CPU
/// (`yunet::Canvas::Tight`), so that both give the same detections and share cached results.
/// A library has a handful of sizes (640x448, 448x640, 640x480, ...).
pub struct Detector {
    proto: tract_onnx::pb::ModelProto,
    /// ONNX output names, in the plans' output order.
    outputs: Vec<String>,
    plans: HashMap<(u32, u32), Plan>,
}

impl Detector {
    fn plan(&mut self, (width, height): (u32, u32)) -> Result<&Plan, BackendError> {
        Ok(match self.plans.entry((width, height)) {
            Entry::Occupied(built) => built.into_mut(),
            Entry::Vacant(slot) => {
                let shape = [1, 3, height as usize, width as usize];
                slot.insert(plan(yunet::MODEL_ID, &self.proto, shape)?)
            }
        })
    }
}

fn model_error(model: &str, reason: impl Into<String>) -> BackendError {
    BackendError::Model {
        model: model.into(),
        reason: reason.into(),
    }
}

fn inference_error(model: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Inference {
        model: model.into(),
        reason: e.to_string(),
    }
}

fn read_model(path: &Path, id: &str) -> Result<Vec<u8>, BackendError> {
    std::fs::read(path).map_err(|e| {
        model_error(
            id,
            format!(
                "cannot read {}: {e}; run `photo_organizer setup` to fetch the default models",
                path.display()
            ),
        )
    })
}

/// Parses, fixes the input shape, optimises and plans a model. tract's loaders can panic on
/// protobuf content they do not expect; that becomes an error naming the model.
fn plan(
    id: &str,
    proto: &tract_onnx::pb::ModelProto,
    input_shape: [usize; 4],
) -> Result<Plan, BackendError> {
    let build = || -> TractResult<Plan> {
        tract_onnx::onnx()
            .model_for_proto_model(proto)?
            .with_input_fact(0, f32::fact(input_shape).into())?
            .into_optimized()?
            .into_runnable()
    };
    match catch_unwind(AssertUnwindSafe(build)) {
        Ok(Ok(plan)) => Ok(plan),
        Ok(Err(e)) => Err(model_error(id, format!("tract cannot load it: {e:#}"))),
        Err(_) => Err(model_error(
            id,
            "tract panicked while loading it; the file may be corrupt: run `photo_organizer setup --check`",
        )),
    }
}

fn decode_proto(id: &str, bytes: &[u8]) -> Result<tract_onnx::pb::ModelProto, BackendError> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| model_error(id, format!("not a valid ONNX file: {e:#}")))
}

/// YuNet with its declared shapes freed and its 640x640 plan built (which checks the file).
pub fn load_detector(path: &Path) -> Result<Detector, BackendError> {
    let id = yunet::MODEL_ID;
    let (bytes, _) = free_shapes(&read_model(path, id)?, Dims::Spatial)
        .map_err(|e| model_error(id, e.to_string()))?;
    let proto = decode_proto(id, &bytes)?;
    let outputs: Vec<String> = proto
        .graph
        .as_ref()
        .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default();
    for stride in yunet::STRIDES {
        for head in ["cls", "obj", "bbox", "kps"] {
            let want = format!("{head}_{stride}");
            if !outputs.contains(&want) {
                return Err(model_error(
                    id,
                    format!("output `{want}` missing; outputs are {outputs:?}"),
                ));
            }
        }
    }
    let mut detector = Detector {
        proto,
        outputs,
        plans: HashMap::new(),
    };
    detector.plan((yunet::INPUT_SIZE, yunet::INPUT_SIZE))?;
    Ok(detector)
}

/// The SFace plan, with stale graph inputs stripped, PRelu rewritten as depthwise convolutions
/// (`onnx_edit::expand_prelu`: tract too runs those faster, 15.1-16.5 -> 21.0-27.0 photos/s end
/// to end, embeddings at cosine 1.00000 to ONNX Runtime's) and quantised weights folded to fp32.
pub fn load_embedder(path: &Path) -> Result<Plan, BackendError> {
    let id = sface::MODEL_ID;
    let (bytes, _) =
        strip_weight_inputs(&read_model(path, id)?).map_err(|e| model_error(id, e.to_string()))?;
    let (bytes, _) = expand_prelu(&bytes).map_err(|e| model_error(id, e.to_string()))?;
    let mut proto = decode_proto(id, &bytes)?;
    quant_fold::fold_dequantize_linear(&mut proto).map_err(|e| model_error(id, e.to_string()))?;
    let inputs = proto.graph.as_ref().map_or(0, |g| g.input.len());
    if inputs != 1 {
        return Err(model_error(
            id,
            format!("expected one input (the face crop), found {inputs}"),
        ));
    }
    plan(id, &proto, [1, 3, ALIGNED_SIZE, ALIGNED_SIZE])
}

impl TractBackend {
    pub fn new(config: &TractConfig) -> Result<Self, BackendError> {
        let detector = load_detector(&config.detector_model)?;
        let embedder = load_embedder(&config.embedder_model)?;
        let info = BackendInfo {
            backend: BACKEND_NAME.into(),
            detector_model: yunet::MODEL_ID.into(),
            embedder_model: sface::MODEL_ID.into(),
            embedding_dim: sface::DIM,
            device: ActiveDevice {
                device: "cpu".into(),
                provider: PROVIDER.into(),
                fallback_reason: config.fallback_reason.clone(),
            },
            runtime_version: Some(format!("tract {TRACT_VERSION}")),
        };
        let checker = match &config.face_check_model {
            Some(path) => load_checker(path),
            None => Err("no second detector configured".into()),
        };
        Ok(Self {
            info,
            detector,
            embedder,
            detect: config.detect,
            checker,
        })
    }

    fn embed_one(&self, face: &AlignedFace) -> Result<Vec<f32>, BackendError> {
        let id = sface::MODEL_ID;
        if face.rgb.len() != ALIGNED_SIZE * ALIGNED_SIZE * 3 {
            return Err(inference_error(
                id,
                format!("face crop has {} bytes, expected 112x112x3", face.rgb.len()),
            ));
        }
        let (mean, std) = sface::EmbedderKind::SFace.normalisation();
        let input: Tensor = sface::to_nchw(std::slice::from_ref(face), mean, std).into();
        let outputs = self
            .embedder
            .run(tvec![input.into()])
            .map_err(|e| inference_error(id, format!("{e:#}")))?;
        let data = outputs
            .first()
            .ok_or_else(|| inference_error(id, "no output"))?
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(|e| inference_error(id, format!("{e:#}")))?;
        if data.len() != sface::DIM {
            return Err(model_error(
                id,
                format!("output has {} values, expected {}", data.len(), sface::DIM),
            ));
        }
        let mut v = data.to_vec();
        l2_normalize(&mut v);
        Ok(v)
    }
}

impl FaceBackend for TractBackend {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        let id = yunet::MODEL_ID;
        if image.width == 0 || image.height == 0 {
            return Ok(Vec::new());
        }
        let (input, scale) = letterbox(image, Channels::Bgr, 0.0, 1.0, Canvas::Tight);
        let canvas = yunet::input_size(&input);
        let input: Tensor = input.into();
        let outputs = self
            .detector
            .plan(canvas)?
            .run(tvec![input.into()])
            .map_err(|e| inference_error(id, format!("{e:#}")))?;
        let names = &self.detector.outputs;
        let get = |head: &str, stride: u32| -> Result<&[f32], BackendError> {
            let name = format!("{head}_{stride}");
            let i = names
                .iter()
                .position(|o| *o == name)
                .ok_or_else(|| model_error(id, format!("output `{name}` missing")))?;
            outputs
                .get(i)
                .ok_or_else(|| model_error(id, format!("output `{name}` missing")))?
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>())
                .map_err(|e| inference_error(id, format!("{e:#}")))
        };
        let mut candidates = Vec::new();
        for stride in yunet::STRIDES {
            let rows = StrideOutputs {
                stride,
                cls: get("cls", stride)?,
                obj: get("obj", stride)?,
                bbox: get("bbox", stride)?,
                kps: get("kps", stride)?,
            };
            decode_stride(&rows, canvas, self.detect.score_threshold, &mut candidates)?;
        }
        let mut faces = nms(candidates, self.detect.nms_iou);
        for f in &mut faces {
            unscale(f, scale, image.width as f32, image.height as f32);
        }
        Ok(faces)
    }

    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
        // The shipped model has a fixed batch of one.
        faces.iter().map(|f| self.embed_one(f)).collect()
    }

    fn face_check(&mut self, mosaic: RgbView<'_>) -> Result<Option<Vec<FaceBox>>, BackendError> {
        let id = retinaface::MODEL_ID;
        let Ok((plan, names)) = &self.checker else {
            return Ok(None);
        };
        if mosaic.width == 0 || mosaic.height == 0 {
            return Ok(Some(Vec::new()));
        }
        // The plan is built for 640x640, the size every input is fitted to.
        let (input, scale) = retinaface::input(mosaic, yunet::Canvas::Square);
        let size = yunet::input_size(&input);
        let input: Tensor = input.into();
        let outputs = plan
            .run(tvec![input.into()])
            .map_err(|e| inference_error(id, format!("{e:#}")))?;
        let get = |name: &str| -> Result<&[f32], BackendError> {
            let i = names
                .iter()
                .position(|o| o == name)
                .ok_or_else(|| model_error(id, format!("output `{name}` missing")))?;
            outputs
                .get(i)
                .ok_or_else(|| model_error(id, format!("output `{name}` missing")))?
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>())
                .map_err(|e| inference_error(id, format!("{e:#}")))
        };
        retinaface::faces_in_image(
            mosaic,
            size,
            scale,
            [get("loc")?, get("conf")?, get("landmarks")?],
            CHECK_MIN_SCORE,
        )
        .map(Some)
    }

    fn face_check_status(&self) -> Result<(), String> {
        self.checker.as_ref().map(|_| ()).map_err(Clone::clone)
    }
}

#[cfg(test)]
mod vs_onnx_runtime;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_version_is_the_pinned_one() {
        let manifest = include_str!("../Cargo.toml");
        let pin = format!("tract-onnx = {{ version = \"={TRACT_VERSION}\"");
        assert!(manifest.contains(&pin), "Cargo.toml does not pin {pin}");
    }
}
