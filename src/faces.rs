//! The face stage: [`prepare`] runs in the decode pool (decode, orient, shrink a copy for the
//! detector); [`analyse`] runs on the one inference thread that owns the backend (detect on the
//! small copy, map back to full resolution, align from full resolution, embed).

use std::path::Path;

use image::RgbImage;
use po_backend_api::{BackendError, FaceBackend, FaceBox, RgbView};
use serde::Serialize;

use crate::{
    align::align_face,
    decode::{decode_file, shrink_to_fit, DecodeError, DecodeLimits},
    exif::ExifInfo,
};

/// Longest side of the image handed to the detector; YuNet's input is 640x640.
pub const DETECT_MAX_SIDE: u32 = 640;

/// A decoded photo ready for inference.
pub struct Prepared {
    pub rgb: RgbImage,
    pub detect: RgbImage,
    /// Factor from `rgb` pixels to `detect` pixels.
    pub detect_scale: f32,
    pub exif: ExifInfo,
}

/// One face found in a photo, in the oriented photo's pixel coordinates.
#[derive(Debug, Clone, Serialize)]
pub struct FaceRecord {
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

pub fn prepare(path: &Path, limits: &DecodeLimits) -> Result<Prepared, DecodeError> {
    let decoded = decode_file(path, limits)?;
    let (detect, detect_scale) = shrink_to_fit(&decoded.rgb, DETECT_MAX_SIDE);
    Ok(Prepared {
        rgb: decoded.rgb,
        detect,
        detect_scale,
        exif: decoded.exif,
    })
}

fn to_full_resolution(face: &FaceBox, scale: f32) -> FaceBox {
    FaceBox {
        bbox: face.bbox.map(|v| v / scale),
        score: face.score,
        landmarks: face.landmarks.map(|[x, y]| [x / scale, y / scale]),
    }
}

/// Detects, aligns and embeds every face of one prepared photo.
pub fn analyse(
    backend: &mut dyn FaceBackend,
    photo: &Prepared,
) -> Result<Vec<FaceRecord>, BackendError> {
    let (w, h) = photo.detect.dimensions();
    let view = RgbView::new(w, h, photo.detect.as_raw()).expect("RgbImage is 3 bytes a pixel");
    let boxes: Vec<FaceBox> = backend
        .detect(view)?
        .iter()
        .map(|f| to_full_resolution(f, photo.detect_scale))
        .collect();
    let (mut kept, mut aligned) = (Vec::new(), Vec::new());
    for b in boxes {
        // A degenerate landmark set cannot be aligned; such a detection is not a usable face.
        if let Some(face) = align_face(&photo.rgb, &b.landmarks) {
            kept.push(b);
            aligned.push(face);
        }
    }
    let embeddings = backend.embed(&aligned)?;
    Ok(kept
        .into_iter()
        .zip(embeddings)
        .map(|(b, embedding)| FaceRecord {
            bbox: b.bbox,
            score: b.score,
            landmarks: b.landmarks,
            embedding,
        })
        .collect())
}
