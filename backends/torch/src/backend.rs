//! The libtorch side: device choice, loading the TorchScript files, the MTCNN cascade on
//! tensors (pyramid, P-Net, R-Net, O-Net; box arithmetic in [`crate::cascade`]) and FaceNet.

use std::path::{Path, PathBuf};

use po_backend_api::{
    l2_normalize, ActiveDevice, AlignedFace, AlignmentTemplate, BackendError, BackendInfo,
    DetectOptions, DeviceOptions, DeviceRequest, FaceBackend, FaceBox, Provider, RgbView,
};
use tch::{CModule, Cuda, Device, IValue, Kind, TchError, Tensor};

use crate::{
    cascade::{self, Candidate, Overlap},
    facenet, MTCNN_MODEL_ID, SETUP_FIX,
};

/// The libtorch version tch 0.26 is built against (torch-sys checks it at build time).
const BUILT_AGAINST: &str = "2.13.0";
/// Crops per R-Net / O-Net / FaceNet call, bounding memory on crowded photos.
const CHUNK: usize = 256;

/// Everything the torch backend needs, resolved by the caller.
#[derive(Debug, Clone)]
pub struct TorchConfig {
    pub pnet: PathBuf,
    pub rnet: PathBuf,
    pub onet: PathBuf,
    pub embedder: PathBuf,
    pub threads: usize,
    pub device: DeviceRequest,
    pub device_options: DeviceOptions,
    pub detect: DetectOptions,
}

/// What `doctor` shows about libtorch.
#[derive(Debug, Clone)]
pub struct RuntimeReport {
    /// The version of the libtorch that was loaded, from the torch package it came from when
    /// that can be seen, else the version the build was checked against.
    pub version: String,
    /// Where libtorch was loaded from, when it can be seen.
    pub library: Option<PathBuf>,
    pub cuda_devices: i64,
    pub cudnn: bool,
    pub mps: bool,
}

/// libtorch as this process loaded it.
pub fn runtime_report() -> RuntimeReport {
    let library = loaded_library();
    let version = library
        .as_deref()
        .and_then(package_version)
        .unwrap_or_else(|| format!("{BUILT_AGAINST} (the version this build was checked against)"));
    RuntimeReport {
        version,
        library,
        cuda_devices: if Cuda::is_available() {
            Cuda::device_count()
        } else {
            0
        },
        cudnn: Cuda::cudnn_is_available(),
        mps: tch::utils::has_mps(),
    }
}

/// The libtorch_cpu.so mapped into this process (Linux: /proc/self/maps).
fn loaded_library() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .map(PathBuf::from)
}

/// `2.13.0+cu130` from the `torch/version.py` beside `torch/lib/libtorch_cpu.so`.
fn package_version(lib: &Path) -> Option<String> {
    let text = std::fs::read_to_string(lib.parent()?.parent()?.join("version.py")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
}

/// The device a request runs on, and why an accelerator was passed over (Auto only).
pub fn choose_device(
    request: DeviceRequest,
    options: &DeviceOptions,
) -> Result<(Device, Option<String>), BackendError> {
    let id = options.device_id as usize;
    let cuda_count = if Cuda::is_available() {
        Cuda::device_count().max(0) as usize
    } else {
        0
    };
    let no_cuda = || {
        if cfg!(target_os = "linux") {
            "libtorch sees no CUDA device: this build links libtorch without libtorch_cuda (the PyPI wheel's CPU part), or there is no NVIDIA GPU and driver; see docs/BACKENDS.md (facenet) for a CUDA build".to_string()
        } else {
            "libtorch sees no CUDA device".to_string()
        }
    };
    let cuda = || -> Result<Device, String> {
        if cuda_count == 0 {
            Err(no_cuda())
        } else if id >= cuda_count {
            Err(format!(
                "--gpu-device {id} does not exist: libtorch sees {cuda_count} CUDA device(s), numbered from 0"
            ))
        } else {
            Ok(Device::Cuda(id))
        }
    };
    let mps = || -> Result<Device, String> {
        if tch::utils::has_mps() {
            Ok(Device::Mps)
        } else {
            Err("libtorch has no MPS device (Apple silicon with a macOS libtorch only)".into())
        }
    };
    match request {
        DeviceRequest::Cpu | DeviceRequest::Exactly(Provider::Cpu) => Ok((Device::Cpu, None)),
        DeviceRequest::Auto => {
            let mut reasons = Vec::new();
            for attempt in [cuda(), mps()] {
                match attempt {
                    Ok(d) => return Ok((d, (!reasons.is_empty()).then(|| reasons.join("; ")))),
                    Err(e) => reasons.push(e),
                }
            }
            Ok((Device::Cpu, Some(reasons.join("; "))))
        }
        DeviceRequest::Exactly(Provider::Cuda) => {
            cuda().map(|d| (d, None)).map_err(|reason| BackendError::Device {
                requested: "cuda".into(),
                reason: format!("{reason}; or use --gpu to fall back to the CPU"),
            })
        }
        DeviceRequest::Exactly(Provider::CoreMl) => {
            mps().map(|d| (d, None)).map_err(|reason| BackendError::Device {
                requested: "coreml".into(),
                reason: format!("for the facenet backend Apple's accelerator is MPS: {reason}"),
            })
        }
        DeviceRequest::Exactly(p) => Err(BackendError::Device {
            requested: p.name().into(),
            reason: format!(
                "libtorch has no {} provider; the facenet backend runs on cpu, cuda or (macOS) coreml/MPS. For {} use --face-backend yunet or insightface (ONNX Runtime)",
                p.name(),
                p.name()
            ),
        }),
    }
}

fn device_label(d: Device) -> (String, String) {
    match d {
        Device::Cpu => ("cpu".into(), "libtorch CPU".into()),
        Device::Cuda(i) => (format!("cuda:{i}"), "libtorch CUDA".into()),
        Device::Mps => ("apple".into(), "libtorch MPS".into()),
        Device::Vulkan => ("vulkan".into(), "libtorch Vulkan".into()),
    }
}

fn load(path: &Path, id: &str, device: Device) -> Result<CModule, BackendError> {
    if !path.is_file() {
        return Err(BackendError::Model {
            model: id.into(),
            reason: format!("{} not found; {SETUP_FIX}", path.display()),
        });
    }
    let mut m = CModule::load_on_device(path, device).map_err(|e| BackendError::Model {
        model: id.into(),
        reason: format!(
            "cannot load TorchScript {}: {e}; re-run scripts/setup-facenet.sh",
            path.display()
        ),
    })?;
    m.f_set_eval().map_err(|e| BackendError::Model {
        model: id.into(),
        reason: e.to_string(),
    })?;
    Ok(m)
}

/// MTCNN + FaceNet on libtorch.
pub struct TorchBackend {
    info: BackendInfo,
    device: Device,
    pnet: CModule,
    rnet: CModule,
    onet: CModule,
    embedder: CModule,
    detect: DetectOptions,
}

impl TorchBackend {
    pub fn new(config: &TorchConfig) -> Result<Self, BackendError> {
        let (device, fallback_reason) = choose_device(config.device, &config.device_options)?;
        tch::set_num_threads(config.threads.max(1) as i32);
        let pnet = load(&config.pnet, "mtcnn-pnet", device)?;
        let rnet = load(&config.rnet, "mtcnn-rnet", device)?;
        let onet = load(&config.onet, "mtcnn-onet", device)?;
        let embedder = load(&config.embedder, facenet::MODEL_ID, device)?;
        let (label, provider) = device_label(device);
        let info = BackendInfo {
            backend: "facenet".into(),
            detector_model: MTCNN_MODEL_ID.into(),
            embedder_model: facenet::MODEL_ID.into(),
            embedding_dim: facenet::DIM,
            device: ActiveDevice {
                device: label,
                provider,
                fallback_reason,
            },
            runtime_version: Some(runtime_report().version),
        };
        let backend = Self {
            info,
            device,
            pnet,
            rnet,
            onet,
            embedder,
            detect: config.detect,
        };
        backend.check_embedder()?;
        Ok(backend)
    }

    /// A wrong file in the embedder's place should fail at start, not on the first face.
    fn check_embedder(&self) -> Result<(), BackendError> {
        let fail = |reason: String| BackendError::Model {
            model: facenet::MODEL_ID.into(),
            reason: format!("{reason}; re-run scripts/setup-facenet.sh"),
        };
        let s = facenet::INPUT_SIZE as i64;
        let out = tch::no_grad(|| {
            Tensor::f_zeros([1, 3, s, s], (Kind::Float, self.device))
                .and_then(|x| self.embedder.forward_ts(&[x]))
        })
        .map_err(|e| fail(e.to_string()))?;
        if out.size() != [1, facenet::DIM as i64] {
            return Err(fail(format!(
                "output shape {:?}, expected [1, {}]",
                out.size(),
                facenet::DIM
            )));
        }
        Ok(())
    }

    fn cascade(&self, image: RgbView<'_>) -> Result<Vec<FaceBox>, TchError> {
        let (w, h) = (image.width, image.height);
        let img = Tensor::f_from_slice(image.data)?
            .f_reshape([i64::from(h), i64::from(w), 3])?
            .f_permute([2, 0, 1])?
            .f_unsqueeze(0)?
            .f_to_kind(Kind::Float)?
            .f_to(self.device)?;

        // Stage 1: P-Net over the pyramid, NMS per scale, then across scales.
        let mut candidates = Vec::new();
        for scale in cascade::pyramid_scales(w, h, cascade::MIN_FACE) {
            let (sw, sh) = cascade::scaled_size(w, h, scale);
            let x = normalise(&img.f_adaptive_avg_pool2d([sh, sw])?)?;
            let (reg, prob) = pair(self.pnet.forward_is(&[IValue::Tensor(x)])?)?;
            let (mh, mw) = (prob.size()[2], prob.size()[3]);
            let prob: Vec<f32> = to_vec(&prob.f_select(1, 1)?)?;
            let reg: Vec<f32> = to_vec(&reg)?;
            let found = cascade::pnet_candidates(
                &prob,
                &reg,
                mw as usize,
                mh as usize,
                scale,
                cascade::PNET_THRESHOLD,
            );
            candidates.extend(cascade::nms(found, 0.5, Overlap::Union));
        }
        let boxes: Vec<[f32; 4]> = cascade::nms(candidates, 0.7, Overlap::Union)
            .iter()
            .map(|c| cascade::square(cascade::apply_pnet_regression(c)))
            .collect();

        // Stage 2: R-Net on 24x24 crops.
        let (boxes, out) = self.refine(&img, &boxes, 24, &self.rnet, w, h)?;
        let (reg, prob) = match out {
            Some(out) => pair(out)?,
            None => return Ok(Vec::new()),
        };
        let (reg, prob) = (rows::<4>(&reg)?, rows::<2>(&prob)?);
        let passed: Vec<Candidate> = boxes
            .iter()
            .zip(reg.iter().zip(&prob))
            .filter(|(_, (_, p))| p[1] > cascade::RNET_THRESHOLD)
            .map(|(b, (r, p))| Candidate {
                bbox: *b,
                score: p[1],
                reg: *r,
            })
            .collect();
        let boxes: Vec<[f32; 4]> = cascade::nms(passed, 0.7, Overlap::Union)
            .iter()
            .map(|c| cascade::square(cascade::apply_regression(c.bbox, c.reg)))
            .collect();

        // Stage 3: O-Net on 48x48 crops: final score, regression and landmarks.
        let (boxes, out) = self.refine(&img, &boxes, 48, &self.onet, w, h)?;
        let Some(out) = out else {
            return Ok(Vec::new());
        };
        let (reg, points, prob) = triple(out)?;
        let (reg, points, prob) = (rows::<4>(&reg)?, rows::<10>(&points)?, rows::<2>(&prob)?);
        let threshold = self.detect.score_threshold;
        let mut faces: Vec<(Candidate, [[f32; 2]; 5])> = Vec::new();
        for (i, b) in boxes.iter().enumerate() {
            if prob[i][1] <= threshold {
                continue;
            }
            let landmarks = cascade::landmarks(*b, &points[i]);
            let bbox = cascade::apply_regression(*b, reg[i]);
            faces.push((
                Candidate {
                    bbox,
                    score: prob[i][1],
                    reg: [0.0; 4],
                },
                landmarks,
            ));
        }
        let kept = cascade::nms(faces.iter().map(|(c, _)| *c).collect(), 0.7, Overlap::Min);
        Ok(kept
            .into_iter()
            .filter_map(|k| faces.iter().find(|(c, _)| *c == k))
            .map(|(c, landmarks)| FaceBox {
                bbox: c.bbox,
                score: c.score,
                landmarks: *landmarks,
            })
            .collect())
    }

    /// Crops each box (clipped to the image), resamples it to `side` x `side` and runs `net`
    /// on them in chunks. Returns the boxes that had pixels in the image and the outputs,
    /// concatenated, in the same order.
    fn refine(
        &self,
        img: &Tensor,
        boxes: &[[f32; 4]],
        side: i64,
        net: &CModule,
        w: u32,
        h: u32,
    ) -> Result<(Vec<[f32; 4]>, Option<IValue>), TchError> {
        let mut kept = Vec::new();
        let mut crops = Vec::new();
        for b in boxes {
            if let Some((x, cw, y, ch)) = cascade::crop_window(*b, w, h) {
                let crop = img
                    .f_narrow(2, y, ch)?
                    .f_narrow(3, x, cw)?
                    .f_adaptive_avg_pool2d([side, side])?;
                crops.push(crop);
                kept.push(*b);
            }
        }
        if crops.is_empty() {
            return Ok((kept, None));
        }
        let mut outputs: Vec<Vec<Tensor>> = Vec::new();
        for chunk in crops.chunks(CHUNK) {
            let x = normalise(&Tensor::f_cat(chunk, 0)?)?;
            match net.forward_is(&[IValue::Tensor(x)])? {
                IValue::Tuple(parts) => {
                    let tensors = parts
                        .into_iter()
                        .map(|p| match p {
                            IValue::Tensor(t) => Ok(t),
                            other => Err(unexpected(&other)),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    outputs.push(tensors);
                }
                other => return Err(unexpected(&other)),
            }
        }
        let n = outputs[0].len();
        let joined = (0..n)
            .map(|k| {
                let parts: Vec<&Tensor> = outputs.iter().map(|o| &o[k]).collect();
                Tensor::f_cat(&parts, 0).map(IValue::Tensor)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((kept, Some(IValue::Tuple(joined))))
    }

    fn embed_chunk(&self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, TchError> {
        let s = facenet::INPUT_SIZE as i64;
        let crops: Vec<&[u8]> = faces.iter().map(|f| f.rgb.as_slice()).collect();
        let x = Tensor::f_from_slice(&facenet::to_input(&crops))?
            .f_reshape([faces.len() as i64, 3, s, s])?
            .f_to(self.device)?;
        let out = self.embedder.forward_ts(&[x])?.f_to(Device::Cpu)?;
        let flat: Vec<f32> = to_vec(&out)?;
        Ok(flat
            .chunks_exact(facenet::DIM)
            .map(|v| {
                let mut v = v.to_vec();
                l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

/// MTCNN's input scaling: `(x - 127.5) / 128`.
fn normalise(x: &Tensor) -> Result<Tensor, TchError> {
    x.f_sub_scalar(127.5)?.f_mul_scalar(0.0078125)
}

fn unexpected(v: &IValue) -> TchError {
    TchError::Convert(format!("unexpected model output {v:?}"))
}

fn tensors(v: IValue, n: usize) -> Result<Vec<Tensor>, TchError> {
    match v {
        IValue::Tuple(parts) if parts.len() == n => parts
            .into_iter()
            .map(|p| match p {
                IValue::Tensor(t) => Ok(t),
                other => Err(unexpected(&other)),
            })
            .collect(),
        other => Err(unexpected(&other)),
    }
}

fn pair(v: IValue) -> Result<(Tensor, Tensor), TchError> {
    let mut t = tensors(v, 2)?;
    let b = t.pop().expect("two tensors");
    let a = t.pop().expect("two tensors");
    Ok((a, b))
}

fn triple(v: IValue) -> Result<(Tensor, Tensor, Tensor), TchError> {
    let mut t = tensors(v, 3)?;
    let c = t.pop().expect("three tensors");
    let b = t.pop().expect("three tensors");
    let a = t.pop().expect("three tensors");
    Ok((a, b, c))
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>, TchError> {
    Vec::<f32>::try_from(
        &t.f_to(Device::Cpu)?
            .f_contiguous()?
            .f_reshape([-1])?
            .f_to_kind(Kind::Float)?,
    )
}

/// An `[n, K]` output as `n` arrays.
fn rows<const K: usize>(t: &Tensor) -> Result<Vec<[f32; K]>, TchError> {
    let size = t.size();
    if size.len() != 2 || size[1] != K as i64 {
        return Err(TchError::Shape(format!("expected [n, {K}], got {size:?}")));
    }
    let flat = to_vec(t)?;
    Ok(flat
        .chunks_exact(K)
        .map(|c| {
            let mut a = [0.0; K];
            a.copy_from_slice(c);
            a
        })
        .collect())
}

impl FaceBackend for TorchBackend {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn alignment(&self) -> AlignmentTemplate {
        facenet::FACENET_ALIGNMENT
    }

    fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        if image.width < 12 || image.height < 12 {
            return Ok(Vec::new());
        }
        tch::no_grad(|| self.cascade(image)).map_err(|e| BackendError::Inference {
            model: MTCNN_MODEL_ID.into(),
            reason: e.to_string(),
        })
    }

    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
        let want = facenet::INPUT_SIZE;
        if let Some(bad) = faces
            .iter()
            .find(|f| f.size != want || f.rgb.len() != want * want * 3)
        {
            return Err(BackendError::Inference {
                model: facenet::MODEL_ID.into(),
                reason: format!(
                    "face crop is {0}x{0} ({1} bytes); FaceNet takes {want}x{want} RGB crops",
                    bad.size,
                    bad.rgb.len()
                ),
            });
        }
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(CHUNK) {
            let v =
                tch::no_grad(|| self.embed_chunk(chunk)).map_err(|e| BackendError::Inference {
                    model: facenet::MODEL_ID.into(),
                    reason: e.to_string(),
                })?;
            out.extend(v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_requests_libtorch_cannot_meet_are_errors_naming_the_cause() {
        let o = DeviceOptions::default();
        for p in [
            Provider::TensorRt,
            Provider::Rocm,
            Provider::OpenVino,
            Provider::DirectMl,
        ] {
            let e = choose_device(DeviceRequest::Exactly(p), &o)
                .unwrap_err()
                .to_string();
            assert!(e.contains("libtorch has no") && e.contains("yunet"), "{e}");
        }
        assert_eq!(
            choose_device(DeviceRequest::Cpu, &o).unwrap(),
            (Device::Cpu, None)
        );
        if !Cuda::is_available() {
            let e = choose_device(DeviceRequest::Exactly(Provider::Cuda), &o)
                .unwrap_err()
                .to_string();
            assert!(e.contains("no CUDA device") && e.contains("--gpu"), "{e}");
        }
        let too_far = DeviceOptions {
            device_id: 99,
            ..DeviceOptions::default()
        };
        let (d, why) = choose_device(DeviceRequest::Auto, &too_far).unwrap();
        if d == Device::Cpu {
            assert!(why.unwrap().contains("CUDA"));
        }
    }

    #[test]
    fn version_is_read_from_the_torch_package() {
        let dir = std::env::temp_dir().join(format!("po-torch-ver-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(dir.join("version.py"), "__version__ = '2.13.0+cu130'\n").unwrap();
        let lib = dir.join("lib").join("libtorch_cpu.so");
        assert_eq!(package_version(&lib).as_deref(), Some("2.13.0+cu130"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(runtime_report().version.starts_with("2.13.0"));
    }
}
