//! YOLOv8 face detector (Ultralytics weights, AGPL-3.0: fetched only by `setup --all`, never
//! vendored). Boxes only: a 640x640 RGB input scaled to 0..1, output `[1, 5, anchors]` rows of
//! centre x, centre y, width, height, score in input pixels (already decoded by the export).
//!
//! The embedder needs five landmarks, which YOLOv8 does not give: a second stage runs YuNet on
//! a crop around each box and takes the landmarks of the face it finds there. When YuNet finds
//! none, the landmarks are placed where they sit in an average frontal face box (a rougher
//! alignment; such faces are usually profiles or very small).

use ort::{session::Session, value::TensorRef};
use po_backend_api::{nms::nms, BackendError, DetectOptions, FaceBox, RgbView};

use crate::yunet::{letterbox, unscale, Canvas, Channels, YuNet};

pub const MODEL_ID: &str = "yolov8-face";

/// Landmarks as fractions of a frontal face box (eyes, nose tip, mouth corners), used when the
/// second stage finds no face in the crop.
const BOX_LANDMARKS: [[f32; 2]; 5] = [
    [0.32, 0.40],
    [0.68, 0.40],
    [0.50, 0.58],
    [0.36, 0.77],
    [0.64, 0.77],
];

pub struct YoloV8 {
    session: Session,
    input: String,
    options: DetectOptions,
    landmarks: YuNet,
}

fn inference_error(e: impl std::fmt::Display) -> BackendError {
    crate::inference_error(MODEL_ID, e)
}

impl YoloV8 {
    pub fn new(
        session: Session,
        landmarks: YuNet,
        options: DetectOptions,
    ) -> Result<Self, BackendError> {
        let input = match session.inputs() {
            [one] => one.name().to_string(),
            other => {
                return Err(BackendError::Model {
                    model: MODEL_ID.into(),
                    reason: format!("expected one input (the image), found {}", other.len()),
                })
            }
        };
        if session.outputs().len() != 1 {
            return Err(BackendError::Model {
                model: MODEL_ID.into(),
                reason: "expected one output [1, 5, anchors]".into(),
            });
        }
        Ok(Self {
            session,
            input,
            options,
            landmarks,
        })
    }

    pub fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        if image.width == 0 || image.height == 0 {
            return Ok(Vec::new());
        }
        let (input, scale) = letterbox(image, Channels::Rgb, 0.0, 255.0, Canvas::Square);
        let tensor = TensorRef::from_array_view(&input).map_err(inference_error)?;
        let boxes = {
            let outputs = self
                .session
                .run(ort::inputs![self.input.as_str() => tensor])
                .map_err(inference_error)?;
            let (shape, data) = outputs[0]
                .try_extract_tensor::<f32>()
                .map_err(inference_error)?;
            decode(shape, data, self.options.score_threshold)?
        };
        let mut faces = nms(boxes, self.options.nms_iou);
        for f in &mut faces {
            unscale(f, scale, image.width as f32, image.height as f32);
        }
        faces
            .into_iter()
            .map(|f| self.with_landmarks(image, f))
            .collect()
    }

    /// Landmarks from YuNet on a crop twice the box's size around it, or from the box.
    fn with_landmarks(
        &mut self,
        image: RgbView<'_>,
        face: FaceBox,
    ) -> Result<FaceBox, BackendError> {
        let [l, t, r, b] = face.bbox;
        let side = (r - l).max(b - t) * 2.0;
        let (cx, cy) = ((l + r) / 2.0, (t + b) / 2.0);
        let x0 = (cx - side / 2.0).max(0.0).floor() as u32;
        let y0 = (cy - side / 2.0).max(0.0).floor() as u32;
        let x1 = ((cx + side / 2.0).ceil() as u32).min(image.width);
        let y1 = ((cy + side / 2.0).ceil() as u32).min(image.height);
        if x1 > x0 + 1 && y1 > y0 + 1 {
            let crop = crop(image, x0, y0, x1 - x0, y1 - y0);
            let view = RgbView::new(x1 - x0, y1 - y0, &crop).expect("crop sized to its view");
            let centre_inside = |f: &&FaceBox| {
                let (fx, fy) = (
                    (f.bbox[0] + f.bbox[2]) / 2.0 + x0 as f32,
                    (f.bbox[1] + f.bbox[3]) / 2.0 + y0 as f32,
                );
                fx >= l && fx <= r && fy >= t && fy <= b
            };
            if let Some(found) = self.landmarks.detect(view)?.iter().find(centre_inside) {
                let landmarks = found.landmarks.map(|[x, y]| [x + x0 as f32, y + y0 as f32]);
                return Ok(FaceBox { landmarks, ..face });
            }
        }
        Ok(box_landmarks(face))
    }
}

/// The face with landmarks placed in its box.
pub fn box_landmarks(face: FaceBox) -> FaceBox {
    let [l, t, r, b] = face.bbox;
    FaceBox {
        landmarks: BOX_LANDMARKS.map(|[fx, fy]| [l + fx * (r - l), t + fy * (b - t)]),
        ..face
    }
}

fn crop(image: RgbView<'_>, x0: u32, y0: u32, w: u32, h: u32) -> Vec<u8> {
    let stride = image.width as usize * 3;
    (y0..y0 + h)
        .flat_map(|y| {
            let start = y as usize * stride + x0 as usize * 3;
            &image.data[start..start + w as usize * 3]
        })
        .copied()
        .collect()
}

/// `[1, 5, n]` rows (cx, cy, w, h, score) -> boxes above `threshold`, in input pixels, with
/// placeholder landmarks (filled in later).
pub fn decode(shape: &[i64], data: &[f32], threshold: f32) -> Result<Vec<FaceBox>, BackendError> {
    let [1, 5, n] = *shape else {
        return Err(BackendError::Model {
            model: MODEL_ID.into(),
            reason: format!("output shape {shape:?}, expected [1, 5, anchors]"),
        });
    };
    let n = n as usize;
    if data.len() != 5 * n {
        return Err(BackendError::Model {
            model: MODEL_ID.into(),
            reason: format!("output has {} values for shape {shape:?}", data.len()),
        });
    }
    let row = |k: usize| &data[k * n..(k + 1) * n];
    let (xs, ys, ws, hs, scores) = (row(0), row(1), row(2), row(3), row(4));
    Ok((0..n)
        .filter(|&i| scores[i] >= threshold)
        .map(|i| {
            let (cx, cy, w, h) = (xs[i], ys[i], ws[i], hs[i]);
            FaceBox {
                bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                score: scores[i],
                landmarks: [[cx, cy]; 5],
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_columns_and_filters_by_score() {
        // Two anchors: (cx, cy, w, h, score) = (100, 50, 20, 40, 0.9) and (10, 10, 4, 4, 0.2).
        let data = [100.0, 10.0, 50.0, 10.0, 20.0, 4.0, 40.0, 4.0, 0.9, 0.2];
        let faces = decode(&[1, 5, 2], &data, 0.5).unwrap();
        assert_eq!(faces.len(), 1);
        assert_eq!(faces[0].bbox, [90.0, 30.0, 110.0, 70.0]);
        assert_eq!(faces[0].score, 0.9);
        assert!(decode(&[1, 6, 2], &data, 0.5).is_err());
        assert!(decode(&[1, 5, 3], &data, 0.5).is_err());
    }

    #[test]
    fn box_landmarks_sit_inside_the_box_in_template_order() {
        let face = FaceBox {
            bbox: [100.0, 200.0, 200.0, 330.0],
            score: 0.9,
            landmarks: [[0.0; 2]; 5],
        };
        let f = box_landmarks(face);
        let [le, re, nose, ml, mr] = f.landmarks;
        assert!(le[0] < nose[0] && nose[0] < re[0]);
        assert!(le[1] < nose[1] && nose[1] < ml[1]);
        assert!(ml[0] < mr[0]);
        for [x, y] in f.landmarks {
            assert!((100.0..=200.0).contains(&x) && (200.0..=330.0).contains(&y));
        }
    }

    #[test]
    fn crop_takes_the_rows_of_the_region() {
        // 3x2 image, pixel value = its index.
        let data: Vec<u8> = (0..18).collect();
        let view = RgbView::new(3, 2, &data).unwrap();
        assert_eq!(crop(view, 1, 1, 2, 1), vec![12, 13, 14, 15, 16, 17]);
    }
}
