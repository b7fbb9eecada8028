//! The face stage: [`prepare`] runs in the decode pool (decode, orient, shrink a copy for the
//! detector); [`analyse`] runs on the one inference thread that owns the backend (detect on the
//! small copy, map back to full resolution, align from full resolution, embed).

use std::path::Path;

use image::{codecs::jpeg::JpegEncoder, ExtendedColorType, RgbImage};
use po_backend_api::{AlignedFace, BackendError, FaceBackend, FaceBox, RgbView};

use crate::{
    align::align_face_to,
    animals,
    cache::{StoredAnalysis, StoredFace},
    decode::{decode_file, shrink_to_fit, DecodeError, DecodeLimits},
    exif::ExifInfo,
};

/// Bumped whenever decoding, detection input or alignment changes what a model sees, so cached
/// results from older versions are not reused. Not bumped for the pet check (animals.rs): a bump
/// changes the model key, and people's stored assignments (their ids and names) are keyed by it;
/// faces cached before the check are simply not checked.
pub const PREPROCESSING_VERSION: u32 = 5;

/// Longest side of the image handed to the detector; YuNet's input is 640x640.
pub const DETECT_MAX_SIDE: u32 = 640;
/// When the first pass finds nobody in a large photo, a second pass looks at tiles of it
/// scaled to at most this long side, so faces of 30-40 px in a 12 MP photo are still found.
pub const TILED_MAX_SIDE: u32 = 1920;
const TILE: u32 = 640;
const TILE_OVERLAP: u32 = 128;

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
    let side = face.size as u32;
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode(&face.rgb, side, side, ExtendedColorType::Rgb8)
        .ok()?;
    Some(out)
}

/// Smallest face width, in photo pixels, that may start a person.
pub const MIN_SEED_FACE_PX: f32 = 24.0;
/// Largest sideways turn (nose offset from the eyes' midpoint, in eye distances) that may
/// start a person; profiles embed poorly.
pub const MAX_SEED_YAW: f32 = 0.45;

/// Sideways turn of a face from its landmarks: 0 frontal, about +-0.5 in profile.
pub fn yaw(landmarks: &[[f32; 2]; 5]) -> f32 {
    let [l, r, n] = [landmarks[0], landmarks[1], landmarks[2]];
    let (vx, vy) = (r[0] - l[0], r[1] - l[1]);
    let len2 = vx * vx + vy * vy;
    if len2 <= f32::EPSILON {
        return f32::INFINITY;
    }
    let (mx, my) = ((l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0);
    ((n[0] - mx) * vx + (n[1] - my) * vy) / len2
}

/// Whether a face is good enough to start a person (low-quality faces may only join one).
pub fn good_enough_to_seed(face: &StoredFace) -> bool {
    face.bbox[2] - face.bbox[0] >= MIN_SEED_FACE_PX && yaw(&face.landmarks).abs() <= MAX_SEED_YAW
}

/// Tile origins along one side: tiles of `TILE` overlapping by `TILE_OVERLAP`, the last one
/// flush with the end.
pub fn tile_starts(len: u32) -> Vec<u32> {
    if len <= TILE {
        return vec![0];
    }
    let mut starts: Vec<u32> = (0..)
        .map(|k| k * (TILE - TILE_OVERLAP))
        .take_while(|&x| x + TILE < len)
        .collect();
    starts.push(len - TILE);
    starts
}

/// The second pass: detect on overlapping 640 px tiles of the photo scaled to at most
/// [`TILED_MAX_SIDE`]; boxes in full-resolution pixels, overlaps merged.
fn detect_tiled(
    backend: &mut dyn FaceBackend,
    rgb: &RgbImage,
    nms_iou: f32,
) -> Result<Vec<FaceBox>, BackendError> {
    let (scaled, scale) = shrink_to_fit(rgb, TILED_MAX_SIDE);
    let (w, h) = scaled.dimensions();
    let mut found = Vec::new();
    for y in tile_starts(h) {
        for x in tile_starts(w) {
            let tile =
                image::imageops::crop_imm(&scaled, x, y, TILE.min(w), TILE.min(h)).to_image();
            let (tw, th) = tile.dimensions();
            let view = RgbView::new(tw, th, tile.as_raw()).expect("RgbImage is 3 bytes a pixel");
            for f in backend.detect(view)? {
                let shift = |[px, py]: [f32; 2]| [px + x as f32, py + y as f32];
                let [l, t] = shift([f.bbox[0], f.bbox[1]]);
                let [r, b] = shift([f.bbox[2], f.bbox[3]]);
                found.push(to_full_resolution(
                    &FaceBox {
                        bbox: [l, t, r, b],
                        score: f.score,
                        landmarks: f.landmarks.map(shift),
                    },
                    scale,
                ));
            }
        }
    }
    Ok(po_backend_api::nms::nms(found, nms_iou))
}

/// Per face: whether the backend's second detector says it is not a person's ([`animals`]);
/// all `false` when the backend has none.
fn check_animals(
    backend: &mut dyn FaceBackend,
    rgb: &RgbImage,
    faces: &[FaceBox],
) -> Result<Vec<bool>, BackendError> {
    let mut animal = vec![false; faces.len()];
    let todo: Vec<usize> = (0..faces.len())
        .filter(|&i| animals::needs_check(&faces[i]))
        .collect();
    for chunk in todo.chunks((animals::GRID * animals::GRID) as usize) {
        let picked: Vec<FaceBox> = chunk.iter().map(|&i| faces[i]).collect();
        let mosaic = animals::mosaic(rgb, &picked);
        let view = RgbView::new(mosaic.width(), mosaic.height(), mosaic.as_raw())
            .expect("RgbImage is 3 bytes a pixel");
        let Some(found) = backend.face_check(view)? else {
            break;
        };
        for (&i, best) in chunk
            .iter()
            .zip(animals::best_per_tile(&found, chunk.len()))
        {
            animal[i] = animals::is_animal(best);
        }
    }
    Ok(animal)
}

/// Detects, aligns and embeds every face of one prepared photo.
pub fn analyse(
    backend: &mut dyn FaceBackend,
    photo: &Prepared,
) -> Result<StoredAnalysis, BackendError> {
    let mut one = analyse_batch(backend, &[photo])?;
    Ok(one.pop().expect("one analysis per photo"))
}

/// One photo's faces between detection and embedding.
struct Located {
    kept: Vec<FaceBox>,
    animal: Vec<bool>,
    faces: usize,
}

/// [`analyse`] for several photos at once: one detector call for all their small copies and
/// one embedder call for all their faces ([`FaceBackend::max_batch`] says how many photos
/// make sense); the tiled second pass and the pet check stay per photo. The same analyses as
/// one [`analyse`] each. Any error fails the whole batch: the caller then analyses the photos
/// one by one, so only the bad photo fails.
pub fn analyse_batch(
    backend: &mut dyn FaceBackend,
    photos: &[&Prepared],
) -> Result<Vec<StoredAnalysis>, BackendError> {
    let views: Vec<RgbView<'_>> = photos
        .iter()
        .map(|p| {
            let (w, h) = p.detect.dimensions();
            RgbView::new(w, h, p.detect.as_raw()).expect("RgbImage is 3 bytes a pixel")
        })
        .collect();
    let found = backend.detect_batch(&views)?;
    if found.len() != photos.len() {
        return Err(count_mismatch(
            backend_model(backend),
            "detector",
            photos.len(),
            found.len(),
        ));
    }
    let template = backend.alignment();
    let (mut located, mut aligned) = (Vec::with_capacity(photos.len()), Vec::new());
    for (photo, boxes) in photos.iter().zip(found) {
        let mut boxes: Vec<FaceBox> = boxes
            .iter()
            .map(|f| to_full_resolution(f, photo.detect_scale))
            .collect();
        // Only photos shrunk well below the tiled resolution can hide faces the first pass
        // missed.
        if boxes.is_empty() && photo.rgb.width().max(photo.rgb.height()) > DETECT_MAX_SIDE * 3 / 2 {
            boxes = detect_tiled(backend, &photo.rgb, 0.3)?;
        }
        let mut kept = Vec::new();
        for b in boxes {
            // A degenerate landmark set cannot be aligned; such a detection is not a usable face.
            if let Some(face) = align_face_to(&photo.rgb, &b.landmarks, &template) {
                kept.push(b);
                aligned.push(face);
            }
        }
        let animal = check_animals(backend, &photo.rgb, &kept)?;
        let faces = kept.len();
        located.push(Located {
            kept,
            animal,
            faces,
        });
    }
    let embeddings = if aligned.is_empty() {
        Vec::new()
    } else {
        backend.embed(&aligned)?
    };
    if embeddings.len() != aligned.len() {
        return Err(count_mismatch(
            backend_model(backend),
            "embedder",
            aligned.len(),
            embeddings.len(),
        ));
    }
    let (mut embeddings, mut crops) = (embeddings.into_iter(), aligned.iter());
    let mut out = Vec::with_capacity(photos.len());
    for (photo, l) in photos.iter().zip(located) {
        let mine: Vec<Vec<f32>> = embeddings.by_ref().take(l.faces).collect();
        check_embeddings(&mine, &backend_model(backend))?;
        let faces = l
            .kept
            .into_iter()
            .zip(mine)
            .zip(crops.by_ref().take(l.faces))
            .zip(l.animal)
            .map(|(((b, embedding), crop), animal)| StoredFace {
                bbox: b.bbox,
                score: b.score,
                landmarks: b.landmarks,
                embedding,
                thumb: thumbnail(crop),
                animal,
            })
            .collect();
        out.push(StoredAnalysis {
            width: photo.rgb.width(),
            height: photo.rgb.height(),
            date_taken: photo.exif.date_taken.clone(),
            faces,
        });
    }
    Ok(out)
}

fn backend_model(backend: &dyn FaceBackend) -> String {
    backend.info().embedder_model.clone()
}

fn count_mismatch(model: String, what: &str, asked: usize, got: usize) -> BackendError {
    BackendError::Inference {
        model,
        reason: format!("the {what} answered {got} result(s) for {asked} input(s)"),
    }
}

/// A non-finite embedding (NaN or infinity) would make every distance to it meaningless: the
/// photo fails with that cause instead of reaching the clustering.
pub fn check_embeddings(embeddings: &[Vec<f32>], model: &str) -> Result<(), BackendError> {
    match embeddings
        .iter()
        .position(|e| e.is_empty() || e.iter().any(|x| !x.is_finite()))
    {
        Some(face) => Err(BackendError::Inference {
            model: model.to_string(),
            reason: format!(
                "face {face}'s embedding is empty or not finite (NaN or infinity); this photo's faces are left out (try `--execution-provider cpu` or another model)"
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_embeddings_are_refused_with_the_face() {
        assert!(check_embeddings(&[vec![0.6, 0.8]], "m").is_ok());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let err = check_embeddings(&[vec![0.6, 0.8], vec![bad, 0.0]], "m").unwrap_err();
            assert!(err.to_string().contains("face 1"), "{err}");
        }
        assert!(check_embeddings(&[vec![]], "m").is_err());
    }

    #[test]
    fn yaw_is_zero_frontal_and_grows_when_turned() {
        let frontal = crate::align::ARCFACE_TEMPLATE;
        assert!(yaw(&frontal).abs() < 0.02);
        let mut turned = frontal;
        turned[2][0] += 20.0; // nose moved towards one eye
        assert!(yaw(&turned) > 0.5);
        assert!(yaw(&[[0.0, 0.0]; 5]).is_infinite());
    }

    #[test]
    fn tiles_cover_the_side_with_overlap() {
        assert_eq!(tile_starts(500), vec![0]);
        assert_eq!(tile_starts(640), vec![0]);
        assert_eq!(tile_starts(1280), vec![0, 512, 640]);
        let s = tile_starts(1920);
        assert_eq!(s, vec![0, 512, 1024, 1280]);
        for w in s.windows(2) {
            assert!(w[1] - w[0] <= TILE - TILE_OVERLAP, "gap between tiles");
        }
        assert_eq!(*s.last().unwrap() + TILE, 1920);
    }
}
