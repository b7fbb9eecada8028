//! SCRFD-2.5G with 5 keypoints (InsightFace weights, non-commercial research terms): a
//! 640x640 RGB input normalised as (x - 127.5) / 128, two anchors per cell at strides 8/16/32,
//! boxes and keypoints as distances from the cell's corner in strides. Decoded into
//! [`FaceBox`]es, then NMS.

use ort::{session::Session, value::TensorRef};
use po_backend_api::{nms::nms, BackendError, DetectOptions, FaceBox, RgbView};

use crate::yunet::{letterbox, unscale, Canvas, Channels, INPUT_SIZE};

pub const MODEL_ID: &str = "scrfd-2.5g-kps";
const STRIDES: [u32; 3] = [8, 16, 32];
const ANCHORS: usize = 2;

pub struct Scrfd {
    session: Session,
    input: String,
    options: DetectOptions,
}

fn inference_error(e: impl std::fmt::Display) -> BackendError {
    crate::inference_error(MODEL_ID, e)
}

impl Scrfd {
    pub fn new(session: Session, options: DetectOptions) -> Result<Self, BackendError> {
        crate::require_outputs(&session, MODEL_ID, &["score", "bbox", "kps"], &STRIDES)?;
        let input = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| BackendError::Model {
                model: MODEL_ID.into(),
                reason: "the model has no input".into(),
            })?;
        Ok(Self {
            session,
            input,
            options,
        })
    }

    pub fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        if image.width == 0 || image.height == 0 {
            return Ok(Vec::new());
        }
        let (tensor_data, scale) = letterbox(image, Channels::Rgb, 127.5, 128.0, Canvas::Square);
        let tensor = TensorRef::from_array_view(&tensor_data).map_err(inference_error)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(inference_error)?;
        let mut candidates = Vec::new();
        for stride in STRIDES {
            let get = |head: &str| {
                outputs[format!("{head}_{stride}").as_str()]
                    .try_extract_tensor::<f32>()
                    .map(|(_, data)| data)
                    .map_err(inference_error)
            };
            decode_stride(
                stride,
                get("score")?,
                get("bbox")?,
                get("kps")?,
                self.options.score_threshold,
                &mut candidates,
            )?;
        }
        let mut faces = nms(candidates, self.options.nms_iou);
        for f in &mut faces {
            unscale(f, scale, image.width as f32, image.height as f32);
        }
        Ok(faces)
    }
}

/// Decodes one stride: anchor `i` sits at cell `i / 2`, its centre at the cell's top-left corner
/// (col * stride, row * stride), as InsightFace's reference decoder places it.
pub fn decode_stride(
    stride: u32,
    scores: &[f32],
    bboxes: &[f32],
    kps: &[f32],
    threshold: f32,
    out: &mut Vec<FaceBox>,
) -> Result<(), BackendError> {
    let cols = (INPUT_SIZE / stride) as usize;
    let n = cols * cols * ANCHORS;
    if scores.len() != n || bboxes.len() != n * 4 || kps.len() != n * 10 {
        return Err(BackendError::Model {
            model: MODEL_ID.into(),
            reason: format!("stride {stride} outputs have unexpected sizes"),
        });
    }
    let s = stride as f32;
    for i in 0..n {
        if scores[i] < threshold {
            continue;
        }
        let cell = i / ANCHORS;
        let (cx, cy) = ((cell % cols) as f32 * s, (cell / cols) as f32 * s);
        let b = &bboxes[i * 4..i * 4 + 4];
        let k = &kps[i * 10..i * 10 + 10];
        out.push(FaceBox {
            bbox: [cx - b[0] * s, cy - b[1] * s, cx + b[2] * s, cy + b[3] * s],
            score: scores[i],
            landmarks: std::array::from_fn(|j| [cx + k[2 * j] * s, cy + k[2 * j + 1] * s]),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_distances_from_the_anchor_corner() {
        let stride = 32;
        let cols = (INPUT_SIZE / stride) as usize;
        let n = cols * cols * ANCHORS;
        let (mut scores, mut bboxes, mut kps) = (vec![0.0; n], vec![0.0; n * 4], vec![0.0; n * 10]);
        // Second anchor of the cell at row 1, col 2: corner (64, 32).
        let i = (cols + 2) * ANCHORS + 1;
        scores[i] = 0.8;
        bboxes[i * 4..i * 4 + 4].copy_from_slice(&[0.5, 0.25, 1.0, 2.0]);
        kps[i * 10] = -0.5;
        kps[i * 10 + 1] = 1.0;
        let mut out = Vec::new();
        decode_stride(stride, &scores, &bboxes, &kps, 0.5, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, [48.0, 24.0, 96.0, 96.0]);
        assert_eq!(out[0].landmarks[0], [48.0, 64.0]);
        assert!(decode_stride(stride, &scores[1..], &bboxes, &kps, 0.5, &mut out).is_err());
    }
}
