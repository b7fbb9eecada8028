//! Telling pets' faces from people's. YuNet (and YOLOv8-face) fire on dogs' faces at scores
//! like people's (0.76-0.90 measured), and SFace embeds them close together, so dogs became
//! "people". A second face detector, RetinaFace (MobileNet-0.25, MIT, fetched by the default
//! `setup`), gives them far lower scores than people's faces when it sees the face with
//! context around it. So each face the detector found with a score below
//! [`CHECK_BELOW_SCORE`] is cut out with [`CONTEXT`] box sides around it, the crops are laid
//! out as tiles of one mosaic of up to [`GRID`] x [`GRID`] tiles (one RetinaFace run a photo, on
//! only as many tiles as there are faces to check), and a face whose tile
//! gets no RetinaFace face of at least [`HUMAN_MIN_SCORE`] near its middle is marked `animal`:
//! it never starts or joins a person. Measured on real photos (docs/QUALITY.md): dogs' faces
//! YuNet found scored 0.15-0.72 in their tiles, people's 0.98 or more. It is a face-or-not
//! check, not a species classifier: a statue or a printed letter that YuNet takes for a face
//! is marked too.

use image::{imageops, RgbImage};
use po_backend_api::FaceBox;

/// The second detector, as the manifest and the cache name it.
pub const CHECKER_ID: &str = "retinaface-mnet025";

/// Whether a cached analysis should be analysed again by a run that has the checker: one that
/// no checker, or another one, looked at, with a face to check.
pub fn needs_recheck(a: &crate::cache::StoredAnalysis) -> bool {
    a.face_check.as_deref() != Some(CHECKER_ID)
        && a.faces.iter().any(|f| f.score < CHECK_BELOW_SCORE)
}

/// Side of one tile, in mosaic pixels: a face fills a third of it (about 53 px).
pub const TILE: u32 = 160;
/// Tiles a row: a 640x640 mosaic.
pub const GRID: u32 = 4;
pub const MOSAIC: u32 = TILE * GRID;
/// Crop side around a face, in face box sides. With more context RetinaFace tells dogs from
/// people better (measured: 2 box sides gave dogs up to 0.93 against people's 0.998; 2.5, 3
/// and 3.5 gave dogs at most 0.74, 0.72, 0.56 and people at least 0.99, 0.98, 0.99).
pub const CONTEXT: f32 = 3.0;
/// Faces the detector is surer of are not checked (cost): the dogs' faces seen scored up to
/// 0.90, people's mostly above.
pub const CHECK_BELOW_SCORE: f32 = 0.93;
/// Below this best RetinaFace score in its tile a face is not a person's: between the best dog
/// (0.72) and the worst person (0.98) measured, a little on the dogs' side of halfway in
/// log-odds (0.92), since losing a person's face costs more than a stray pet.
pub const HUMAN_MIN_SCORE: f32 = 0.90;

pub fn needs_check(face: &FaceBox) -> bool {
    face.score < CHECK_BELOW_SCORE
}

/// Top-left corner of tile `k` in the mosaic.
pub fn tile_origin(k: usize) -> (u32, u32) {
    let k = k as u32;
    ((k % GRID) * TILE, (k / GRID) * TILE)
}

/// The mosaic of up to `GRID * GRID` faces of `photo` (boxes in its pixels): each crop a
/// square of [`CONTEXT`] box sides around the face, padded black outside the photo, in rows of
/// [`GRID`] tiles, the mosaic no larger than its faces need (one face: one tile). The second
/// detector's cost grows with the mosaic's area: one face checked on a full 640x640 mosaic
/// cost 16 times the work of its tile.
pub fn mosaic(photo: &RgbImage, faces: &[FaceBox]) -> RgbImage {
    let n = faces.len().min((GRID * GRID) as usize) as u32;
    let (cols, rows) = (n.clamp(1, GRID), n.div_ceil(GRID).max(1));
    let mut out = RgbImage::new(cols * TILE, rows * TILE);
    let (w, h) = (photo.width() as i64, photo.height() as i64);
    for (k, f) in faces.iter().take((GRID * GRID) as usize).enumerate() {
        let [x0, y0, x1, y1] = f.bbox;
        let side = ((x1 - x0).max(y1 - y0) * CONTEXT).max(1.0);
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let (left, top) = (
            (cx - side / 2.0).round() as i64,
            (cy - side / 2.0).round() as i64,
        );
        let side = side.round() as i64;
        let mut crop = RgbImage::new(side as u32, side as u32);
        let (sx, sy) = (left.max(0), top.max(0));
        let (ex, ey) = ((left + side).min(w), (top + side).min(h));
        if ex > sx && ey > sy {
            let part = imageops::crop_imm(
                photo,
                sx as u32,
                sy as u32,
                (ex - sx) as u32,
                (ey - sy) as u32,
            );
            imageops::replace(&mut crop, &*part, sx - left, sy - top);
        }
        // image's Triangle resize, byte for byte, without its alpha channel and f32 image.
        let tile = crate::media::decode::resize_triangle(&crop, TILE, TILE);
        let (ox, oy) = tile_origin(k);
        imageops::replace(&mut out, &tile, ox as i64, oy as i64);
    }
    out
}

/// Per tile (`n` of them): the best score among `found` (the second detector's faces in mosaic
/// pixels) whose centre lies in the middle half of that tile, where the crop's face is.
pub fn best_per_tile(found: &[FaceBox], n: usize) -> Vec<f32> {
    let mut best = vec![0.0f32; n];
    let t = TILE as f32;
    for f in found {
        let (mx, my) = ((f.bbox[0] + f.bbox[2]) / 2.0, (f.bbox[1] + f.bbox[3]) / 2.0);
        if mx < 0.0 || my < 0.0 {
            continue;
        }
        let (col, row) = ((mx / t) as u32, (my / t) as u32);
        if col >= GRID || row >= GRID {
            continue;
        }
        let k = (row * GRID + col) as usize;
        let (ox, oy) = tile_origin(k);
        let centred = (mx - ox as f32 - t / 2.0).abs() < t / 4.0
            && (my - oy as f32 - t / 2.0).abs() < t / 4.0;
        if k < n && centred {
            best[k] = best[k].max(f.score);
        }
    }
    best
}

/// Whether a face whose tile got `best` from the second detector is not a person's.
pub fn is_animal(best: f32) -> bool {
    best < HUMAN_MIN_SCORE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bbox: [f32; 4], score: f32) -> FaceBox {
        FaceBox {
            bbox,
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn tiles_fill_rows_of_four() {
        assert_eq!(tile_origin(0), (0, 0));
        assert_eq!(tile_origin(3), (480, 0));
        assert_eq!(tile_origin(5), (160, 160));
        assert_eq!(MOSAIC, 640);
    }

    #[test]
    fn only_faces_near_a_tiles_middle_count_for_it() {
        let found = [
            face([40.0, 40.0, 120.0, 120.0], 0.9),   // tile 0, centred
            face([200.0, 0.0, 260.0, 40.0], 0.95),   // tile 1, off-centre: a bystander
            face([200.0, 200.0, 280.0, 280.0], 0.6), // tile 5, centred
            face([200.0, 200.0, 280.0, 280.0], 0.8), // tile 5 again, better
        ];
        let best = best_per_tile(&found, 6);
        assert_eq!(best, vec![0.9, 0.0, 0.0, 0.0, 0.0, 0.8]);
        // Tiles past the faces laid out are ignored.
        assert_eq!(best_per_tile(&found, 1), vec![0.9]);
    }

    #[test]
    fn a_face_the_second_detector_does_not_confirm_is_an_animal() {
        assert!(is_animal(0.0));
        assert!(is_animal(0.72)); // the best a dog's face got in the measurements
        assert!(!is_animal(0.98)); // the worst a person's face got
        assert!(needs_check(&face([0.0; 4], 0.9)));
        #[cfg(feature = "onnx")]
        assert_eq!(CHECKER_ID, po_backend_onnx::retinaface::MODEL_ID);
        let manifest = crate::setup::models::Manifest::builtin();
        assert_eq!(
            manifest
                .default_for(crate::setup::models::Role::FaceCheck)
                .id,
            CHECKER_ID
        );
        assert!(!needs_check(&face([0.0; 4], 0.95)));
    }

    #[test]
    fn mosaic_puts_each_face_in_its_tile_with_context() {
        // A white square "face" on black; its crop of twice its side leaves a black border.
        let mut photo = RgbImage::new(400, 300);
        for y in 100..140 {
            for x in 200..240 {
                photo.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let faces = [face([200.0, 100.0, 240.0, 140.0], 0.8); 6];
        let m = mosaic(&photo, &faces);
        assert_eq!(m.dimensions(), (MOSAIC, 2 * TILE), "two rows for six faces");
        for (ox, oy) in (0..6).map(tile_origin) {
            assert_eq!(m.get_pixel(ox + 80, oy + 80).0, [255, 255, 255]);
            assert_eq!(m.get_pixel(ox + 10, oy + 10).0, [0, 0, 0]);
        }
        assert_eq!(m.get_pixel(tile_origin(6).0 + 80, TILE + 80).0, [0, 0, 0]);
        assert_eq!(mosaic(&photo, &faces[..2]).dimensions(), (2 * TILE, TILE));
        let all = [faces[0]; 20];
        assert_eq!(mosaic(&photo, &all).dimensions(), (MOSAIC, MOSAIC));
        // A face at the photo's edge is padded, not shifted.
        let edge = mosaic(&photo, &[face([0.0, 0.0, 40.0, 40.0], 0.8)]);
        assert_eq!(edge.dimensions(), (TILE, TILE));
        assert_eq!(edge.get_pixel(10, 10).0, [0, 0, 0]);
    }
}
