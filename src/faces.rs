//! The face stage: [`prepare`] runs in the decode pool (decode, orient, shrink a copy for the
//! detector); [`analyse`] runs on the one inference thread that owns the backend (detect on the
//! small copy, map back to full resolution, align from full resolution, embed).

use std::path::Path;

use image::{codecs::jpeg::JpegEncoder, ExtendedColorType, RgbImage};
use po_backend_api::{AlignedFace, BackendError, FaceBackend, FaceBox, RgbView, ALIGNED_SIZE};

use crate::{
    align::align_face,
    cache::{StoredAnalysis, StoredFace},
    decode::{decode_file, shrink_to_fit, DecodeError, DecodeLimits},
    exif::ExifInfo,
};

/// Bumped whenever decoding, detection input or alignment changes what a model sees, so cached
/// results from older versions are not reused.
pub const PREPROCESSING_VERSION: u32 = 1;

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

/// The aligned crop as a small JPEG, shown in the report.
fn thumbnail(face: &AlignedFace) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let side = ALIGNED_SIZE as u32;
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode(&face.rgb, side, side, ExtendedColorType::Rgb8)
        .ok()?;
    Some(out)
}

/// Detects, aligns and embeds every face of one prepared photo.
pub fn analyse(
    backend: &mut dyn FaceBackend,
    photo: &Prepared,
) -> Result<StoredAnalysis, BackendError> {
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
    let embeddings = if aligned.is_empty() {
        Vec::new()
    } else {
        backend.embed(&aligned)?
    };
    let faces = kept
        .into_iter()
        .zip(embeddings)
        .zip(&aligned)
        .map(|((b, embedding), crop)| StoredFace {
            bbox: b.bbox,
            score: b.score,
            landmarks: b.landmarks,
            embedding,
            thumb: thumbnail(crop),
        })
        .collect();
    Ok(StoredAnalysis {
        width: photo.rgb.width(),
        height: photo.rgb.height(),
        date_taken: photo.exif.date_taken.clone(),
        faces,
    })
}
