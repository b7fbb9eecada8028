//! The face stage: [`prepare`] runs in the decode pool (decode, at a reduced scale for large
//! JPEGs ([`crate::media::jpeg_scaled`]), orient, shrink a copy for the detector); [`analyse`] runs on
//! the one inference thread that owns the backend (detect on the small copy, map back, align
//! from the decoded image, or from a larger decode of the face's region when the face has fewer
//! pixels there than its aligned crop, embed). Boxes and landmarks are stored in photo pixels.

use std::path::Path;

use image::{codecs::jpeg::JpegEncoder, ExtendedColorType, RgbImage};
use po_backend_api::{AlignedFace, AlignmentTemplate, BackendError, FaceBackend, FaceBox, RgbView};

use crate::{
    cache::{StoredAnalysis, StoredFace},
    faces::align::{align_face_to, estimate_similarity},
    faces::animals,
    media::decode::{shrink_to_fit, DecodeError, DecodeLimits},
    media::exif::ExifInfo,
    media::jpeg_scaled::{decode_file_scaled, HiRes},
};
use turbojpeg::ScalingFactor;

/// Bumped whenever decoding, detection input or alignment changes what a model sees, so cached
/// results from older versions are not reused. Not bumped for the pet check (animals.rs): a bump
/// changes the model key, and people's stored assignments (their ids and names) are keyed by it;
/// faces cached before the check are simply not checked. Not bumped for scaled JPEG decoding
/// (jpeg_scaled.rs), for the same reason: photos cached before keep their full-size analysis.
pub const PREPROCESSING_VERSION: u32 = 5;

/// The detector's two passes' sizes live with the decoders, which choose their scale by them.
pub use crate::media::{DETECT_MAX_SIDE, TILED_MAX_SIDE};
const TILE: u32 = 640;
const TILE_OVERLAP: u32 = 128;

/// A decoded photo ready for inference.
pub struct Prepared {
    /// Oriented, at `rgb_scale` of the photo's size (a large JPEG is decoded scaled).
    pub rgb: RgbImage,
    /// `rgb` pixels per photo pixel.
    pub rgb_scale: f32,
    /// The photo's oriented size in pixels.
    pub full: (u32, u32),
    pub detect: RgbImage,
    /// Factor from `rgb` pixels to `detect` pixels.
    pub detect_scale: f32,
    pub exif: ExifInfo,
    /// For a scaled JPEG: its bytes, to decode small faces' regions at a larger scale.
    pub hires: Option<HiRes>,
}

pub fn prepare(path: &Path, limits: &DecodeLimits) -> Result<Prepared, DecodeError> {
    let decoded = decode_file_scaled(path, limits)?;
    let (detect, detect_scale) = shrink_to_fit(&decoded.rgb, DETECT_MAX_SIDE);
    Ok(Prepared {
        rgb: decoded.rgb,
        rgb_scale: decoded.scale,
        full: decoded.full,
        detect,
        detect_scale,
        exif: decoded.exif,
        hires: decoded.hires,
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

/// A face narrower than this share of its photo's widest person's face is in the background
/// (a stranger behind the people photographed): it may join a person, not start one, so a
/// stranger who recurs in the background does not become a person of their own.
pub const BACKGROUND_WIDTH_RATIO: f32 = 1.0 / 3.0;

fn width(face: &StoredFace) -> f32 {
    face.bbox[2] - face.bbox[0]
}

/// Whether face `f` of a photo is good enough to start a person (low-quality faces, turned
/// away, tiny or in the background, may only join one). Pets' faces do not count as the
/// photo's main face.
pub fn good_enough_to_seed(photo: &StoredAnalysis, f: usize) -> bool {
    let face = &photo.faces[f];
    let widest = photo
        .faces
        .iter()
        .filter(|o| !o.animal)
        .map(width)
        .fold(0.0f32, f32::max);
    width(face) >= MIN_SEED_FACE_PX
        && width(face) >= widest * BACKGROUND_WIDTH_RATIO
        && yaw(&face.landmarks).abs() <= MAX_SEED_YAW
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

/// The second pass: detect on `rgb` scaled to at most [`TILED_MAX_SIDE`], at that size where
/// the backend's detector takes any size ([`FaceBackend::detect_whole`]: YuNet on the CPU, in
/// full-width bands), else on overlapping 640 px tiles of it; boxes in `rgb` pixels, overlaps
/// merged. On 20 faceless 12 MP photos the bands took 2.3-2.5 s against the tiles' 3.4-3.6 s;
/// on 24 photos with 23-60 px faces they found the same 11 faces (docs/PERFORMANCE.md).
fn detect_tiled(
    backend: &mut dyn FaceBackend,
    rgb: &RgbImage,
    nms_iou: f32,
) -> Result<Vec<FaceBox>, BackendError> {
    let (scaled, scale) = shrink_to_fit(rgb, TILED_MAX_SIDE);
    let (w, h) = scaled.dimensions();
    let view = RgbView::new(w, h, scaled.as_raw()).expect("RgbImage is 3 bytes a pixel");
    if let Some(found) = backend.detect_whole(view, TILED_MAX_SIDE)? {
        let found = found.iter().map(|f| to_full_resolution(f, scale)).collect();
        return Ok(po_backend_api::nms::nms(found, nms_iou));
    }
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

/// Per face: whether the backend's second detector says it is not a person's ([`animals`]),
/// and the checker's id; all `false` and `None` when the backend has none.
fn check_animals(
    backend: &mut dyn FaceBackend,
    rgb: &RgbImage,
    faces: &[FaceBox],
) -> Result<(Vec<bool>, Option<String>), BackendError> {
    let checker = backend
        .face_check_status()
        .is_ok()
        .then(|| animals::CHECK_RECORD.to_string());
    let mut animal = vec![false; faces.len()];
    let todo: Vec<usize> = (0..faces.len())
        .filter(|&i| animals::needs_check(&faces[i]))
        .collect();
    for chunk in todo.chunks((animals::GRID * animals::GRID) as usize) {
        let picked: Vec<FaceBox> = chunk.iter().map(|&i| faces[i]).collect();
        let (mosaic, boxes) = animals::mosaic(rgb, &picked);
        let view = RgbView::new(mosaic.width(), mosaic.height(), mosaic.as_raw())
            .expect("RgbImage is 3 bytes a pixel");
        let Some(found) = backend.face_check(view)? else {
            break;
        };
        for (&i, best) in chunk.iter().zip(animals::best_per_tile(&found, &boxes)) {
            animal[i] = animals::is_animal(best);
        }
    }
    Ok((animal, checker))
}

/// Photo pixels of `template`'s crop for a face with `landmarks` (in the same pixels), with
/// a margin for the warp's filter; and how many of those pixels fall on one crop pixel.
fn crop_extent(landmarks: &[[f32; 2]; 5], template: &AlignmentTemplate) -> Option<([f32; 4], f32)> {
    let to_image = estimate_similarity(landmarks, &template.landmarks)?.inverse()?;
    let s = template.size as f32;
    let corners = [[0.0, 0.0], [s, 0.0], [0.0, s], [s, s]].map(|p| to_image.apply(p));
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for c in corners {
        for axis in 0..2 {
            lo[axis] = lo[axis].min(c[axis]);
            hi[axis] = hi[axis].max(c[axis]);
        }
    }
    let margin = 4.0 * to_image.scale().max(1.0) + 2.0;
    Some((
        [
            lo[0] - margin,
            lo[1] - margin,
            hi[0] + margin,
            hi[1] + margin,
        ],
        to_image.scale(),
    ))
}

/// The pixels a photo's faces are found in and aligned from: its first decode, or the larger
/// one of the tiled pass.
struct Pixels<'a> {
    rgb: &'a RgbImage,
    /// `rgb` pixels per photo pixel.
    rgb_scale: f32,
    /// For a scaled JPEG: its file, and the scale `rgb` was decoded at.
    hires: Option<(&'a HiRes, ScalingFactor)>,
}

impl Prepared {
    fn pixels(&self) -> Pixels<'_> {
        Pixels {
            rgb: &self.rgb,
            rgb_scale: self.rgb_scale,
            hires: self.hires.as_ref().map(|h| (h, h.scale())),
        }
    }
}

/// Aligns each face (boxes in `photo.rgb` pixels): from `photo.rgb` when it has at least one
/// pixel per crop pixel, otherwise from one larger decode of those faces' regions. `None` for
/// a face whose landmarks cannot be aligned.
fn align_all(
    photo: &Pixels<'_>,
    boxes: &[FaceBox],
    template: &AlignmentTemplate,
) -> Vec<Option<AlignedFace>> {
    let mut aligned: Vec<Option<AlignedFace>> = boxes
        .iter()
        .map(|b| align_face_to(photo.rgb, &b.landmarks, template))
        .collect();
    let Some((hires, decoded_at)) = photo.hires else {
        return aligned;
    };
    let to_photo = |p: [f32; 2]| p.map(|v| v / photo.rgb_scale);
    let small: Vec<(usize, [f32; 4], f32)> = boxes
        .iter()
        .enumerate()
        .filter(|(i, _)| aligned[*i].is_some())
        .filter_map(|(i, b)| {
            let landmarks = b.landmarks.map(to_photo);
            let (extent, photo_px) = crop_extent(&landmarks, template)?;
            let have = photo_px * photo.rgb_scale;
            (have < 1.0).then_some((i, extent, have))
        })
        .collect();
    let Some(scale) = small
        .iter()
        .filter_map(|&(_, _, have)| hires.scale_needed(decoded_at, have))
        .max_by_key(|s| s.num() * 8 / s.denom())
    else {
        return aligned;
    };
    let rects: Vec<[f32; 4]> = small.iter().map(|&(_, r, _)| r).collect();
    let Some(regions) = hires.regions(scale, &rects) else {
        return aligned;
    };
    for (&(i, _, _), region) in small.iter().zip(regions) {
        let landmarks = boxes[i].landmarks.map(|p| {
            let [x, y] = to_photo(p);
            [
                (x - region.origin[0]) * region.scale,
                (y - region.origin[1]) * region.scale,
            ]
        });
        if let Some(face) = align_face_to(&region.rgb, &landmarks, template) {
            aligned[i] = Some(face);
        }
    }
    aligned
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
    /// In pixels of the image they were found in, `rgb_scale` of the photo's size.
    kept: Vec<FaceBox>,
    rgb_scale: f32,
    animal: Vec<bool>,
    face_check: Option<String>,
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
        // missed. A scaled JPEG is decoded again for it, at the size that pass looks at.
        let mut larger = None;
        if boxes.is_empty() && photo.full.0.max(photo.full.1) > DETECT_MAX_SIDE * 3 / 2 {
            larger = photo.hires.as_ref().and_then(HiRes::for_tiled_pass);
            let rgb = larger.as_ref().map_or(&photo.rgb, |(rgb, _, _)| rgb);
            boxes = detect_tiled(backend, rgb, 0.3)?;
        }
        let pixels = match &larger {
            Some((rgb, rgb_scale, decoded_at)) => Pixels {
                rgb,
                rgb_scale: *rgb_scale,
                hires: photo.hires.as_ref().map(|h| (h, *decoded_at)),
            },
            None => photo.pixels(),
        };
        // In `pixels.rgb` pixels until stored.
        let mut kept = Vec::new();
        // A degenerate landmark set cannot be aligned; such a detection is not a usable face.
        for (b, face) in boxes.iter().zip(align_all(&pixels, &boxes, &template)) {
            if let Some(face) = face {
                kept.push(*b);
                aligned.push(face);
            }
        }
        let (animal, face_check) = check_animals(backend, pixels.rgb, &kept)?;
        let faces = kept.len();
        located.push(Located {
            kept,
            rgb_scale: pixels.rgb_scale,
            animal,
            face_check,
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
            .map(|b| to_full_resolution(&b, l.rgb_scale))
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
            width: photo.full.0,
            height: photo.full.1,
            date_taken: photo.exif.date_taken.clone(),
            faces,
            face_check: l.face_check,
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

    fn face(width: f32, animal: bool) -> StoredFace {
        StoredFace {
            bbox: [0.0, 0.0, width, width],
            score: 0.9,
            // Eyes level, nose between them: frontal.
            landmarks: [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]
                .map(|[x, y]| [x * width, y * width]),
            embedding: vec![1.0],
            thumb: None,
            animal,
        }
    }

    fn photo(faces: Vec<StoredFace>) -> StoredAnalysis {
        StoredAnalysis {
            width: 2000,
            height: 1500,
            date_taken: None,
            faces,
            face_check: None,
        }
    }

    #[test]
    fn a_face_in_the_background_of_a_photo_cannot_start_a_person() {
        let p = photo(vec![
            face(260.0, false),
            face(46.0, false),
            face(120.0, false),
        ]);
        assert!(good_enough_to_seed(&p, 0));
        assert!(!good_enough_to_seed(&p, 1)); // 0.18 of the widest
        assert!(good_enough_to_seed(&p, 2)); // 0.46: a person beside, not behind
                                             // A pet's big face does not push the people into the background.
        let p = photo(vec![face(400.0, true), face(60.0, false)]);
        assert!(good_enough_to_seed(&p, 1));
        // Too small to seed whatever the photo.
        assert!(!good_enough_to_seed(&photo(vec![face(20.0, false)]), 0));
    }

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
        let frontal = crate::faces::align::ARCFACE_TEMPLATE;
        assert!(yaw(&frontal).abs() < 0.02);
        let mut turned = frontal;
        turned[2][0] += 20.0; // nose moved towards one eye
        assert!(yaw(&turned) > 0.5);
        assert!(yaw(&[[0.0, 0.0]; 5]).is_infinite());
    }

    #[test]
    fn a_small_face_in_a_scaled_jpeg_is_aligned_from_full_size_pixels() {
        // A 4032x3024 JPEG of fine noise: at 1/2 scale its detail is gone, so a crop aligned
        // from the scaled image differs from one aligned from the full decode.
        let mut state = 7u32;
        let img = RgbImage::from_fn(4032, 3024, |_, _| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = (state >> 24) as u8;
            image::Rgb([v, v / 2 + 60, 255 - v])
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("noise.jpg");
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 95)
            .encode_image(&img)
            .unwrap();
        std::fs::write(&path, bytes).unwrap();
        let limits = DecodeLimits::default();
        let photo = prepare(&path, &limits).unwrap();
        assert!(photo.hires.is_some() && (photo.rgb_scale - 0.5).abs() < 1e-6);
        // The template's landmarks at 0.8x in full-size pixels (0.4x at 1/2: too few pixels),
        // and at 3x (1.5x at 1/2: enough).
        let template = po_backend_api::ARCFACE_ALIGNMENT;
        let at = |k: f32, x0: f32| template.landmarks.map(|[x, y]| [x0 + x * k, 900.0 + y * k]);
        let boxes: Vec<FaceBox> = [at(0.8, 1000.0), at(3.0, 2000.0)]
            .iter()
            .map(|full| FaceBox {
                bbox: [0.0; 4],
                score: 0.9,
                landmarks: full.map(|p| p.map(|v| v * photo.rgb_scale)),
            })
            .collect();
        let aligned = align_all(&photo.pixels(), &boxes, &template);
        let full = crate::media::decode::decode_file(&path, &limits)
            .unwrap()
            .rgb;
        let diff = |a: &AlignedFace, b: &AlignedFace| {
            let sum: u64 = a
                .rgb
                .iter()
                .zip(&b.rgb)
                .map(|(x, y)| u64::from(x.abs_diff(*y)))
                .sum();
            sum as f64 / a.rgb.len() as f64
        };
        let small = aligned[0].as_ref().unwrap();
        let from_full = align_face_to(&full, &at(0.8, 1000.0), &template).unwrap();
        let from_scaled = align_face_to(&photo.rgb, &boxes[0].landmarks, &template).unwrap();
        assert!(diff(small, &from_full) < 3.0, "{}", diff(small, &from_full));
        assert!(
            diff(&from_scaled, &from_full) > 15.0,
            "{}",
            diff(&from_scaled, &from_full)
        );
        // The large face is aligned from the scaled image as it is.
        let large = aligned[1].as_ref().unwrap();
        let from_scaled = align_face_to(&photo.rgb, &boxes[1].landmarks, &template).unwrap();
        assert!(large.rgb == from_scaled.rgb);
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
