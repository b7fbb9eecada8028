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

/// What an analysis records as the check that ran: the second detector and the way its crops
/// are cut (inside the photo, not padded black: see [`mosaic`]). An analysis checked another
/// way is analysed again ([`needs_recheck`]), so its close-ups are no longer called pets.
pub const CHECK_RECORD: &str = "retinaface-mnet025/in-photo";

/// Whether a cached analysis should be analysed again by a run that has the checker: one that
/// no checker, or another one or another way, looked at, with a face to check.
pub fn needs_recheck(a: &crate::cache::StoredAnalysis) -> bool {
    a.face_check.as_deref() != Some(CHECK_RECORD)
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

/// The mosaic of up to `GRID * GRID` faces of `photo` (boxes in its pixels), in rows of
/// [`GRID`] tiles, the mosaic no larger than its faces need (one face: one tile); and each
/// face's box in mosaic pixels. Each tile is a square of the photo around its face: [`CONTEXT`]
/// box sides where the photo has them, else as much as it has (the whole photo for a face that
/// fills it), moved inward at the photo's edges rather than padded. Black padding made the
/// second detector miss faces that fill their photo or touch its edge (close-ups, crops,
/// portraits: 6.6% of people's faces on the corpus's half a were called animals); only a
/// photo narrower than the square in one direction is still padded on that side, since a tile
/// must not stretch the face. The second detector's cost grows with the mosaic's area: one
/// face checked on a full 640x640 mosaic cost 16 times the work of its tile.
pub fn mosaic(photo: &RgbImage, faces: &[FaceBox]) -> (RgbImage, Vec<[f32; 4]>) {
    let n = faces.len().min((GRID * GRID) as usize) as u32;
    let (cols, rows) = (n.clamp(1, GRID), n.div_ceil(GRID).max(1));
    let mut out = RgbImage::new(cols * TILE, rows * TILE);
    let mut boxes = Vec::new();
    let (w, h) = (photo.width() as f32, photo.height() as f32);
    for (k, f) in faces.iter().take((GRID * GRID) as usize).enumerate() {
        let [x0, y0, x1, y1] = f.bbox;
        let face_side = (x1 - x0).max(y1 - y0).max(1.0);
        let side = (face_side * CONTEXT).min(w.max(h)).max(face_side);
        // Inside the photo where it fits; centred on the face where it cannot.
        let place = |centre: f32, len: f32| {
            if side <= len {
                (centre - side / 2.0).clamp(0.0, len - side)
            } else {
                (len - side) / 2.0
            }
        };
        let (left, top) = (place((x0 + x1) / 2.0, w), place((y0 + y1) / 2.0, h));
        let (left, top, side_px) = (left.round() as i64, top.round() as i64, side.round() as i64);
        let mut crop = RgbImage::new(side_px.max(1) as u32, side_px.max(1) as u32);
        let (sx, sy) = (left.max(0), top.max(0));
        let (ex, ey) = (
            (left + side_px).min(w as i64),
            (top + side_px).min(h as i64),
        );
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
        let scale = TILE as f32 / side_px.max(1) as f32;
        let to_tile = |v: f32, start: i64, origin: u32| (v - start as f32) * scale + origin as f32;
        boxes.push([
            to_tile(x0, left, ox),
            to_tile(y0, top, oy),
            to_tile(x1, left, ox),
            to_tile(y1, top, oy),
        ]);
    }
    (out, boxes)
}

/// Per tile (one per box in `expected`, the faces' boxes in mosaic pixels): the best score
/// among `found` (the second detector's faces in mosaic pixels) whose centre lies in that tile
/// within three quarters of the face's side of the face's centre, where the face is.
pub fn best_per_tile(found: &[FaceBox], expected: &[[f32; 4]]) -> Vec<f32> {
    let mut best = vec![0.0f32; expected.len()];
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
        let Some(e) = expected.get(k) else { continue };
        let reach = 0.75 * (e[2] - e[0]).max(e[3] - e[1]);
        let near =
            (mx - (e[0] + e[2]) / 2.0).abs() < reach && (my - (e[1] + e[3]) / 2.0).abs() < reach;
        if near {
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
    fn only_faces_near_where_the_face_is_count_for_its_tile() {
        // Tile 0's face in its middle; tile 1's face near its top left corner (a face at a
        // photo's corner: its square was moved inside the photo).
        let expected = [[60.0, 60.0, 100.0, 100.0], [165.0, 5.0, 205.0, 45.0]];
        let found = [
            face([62.0, 58.0, 98.0, 102.0], 0.9),     // tile 0, on the face
            face([120.0, 120.0, 150.0, 150.0], 0.99), // tile 0, a bystander in the corner
            face([168.0, 8.0, 200.0, 40.0], 0.7),     // tile 1, on the face
            face([280.0, 100.0, 310.0, 140.0], 0.95), // tile 1, far from it
            face([170.0, 200.0, 200.0, 230.0], 0.99), // tile 5: no face was laid there
        ];
        assert_eq!(best_per_tile(&found, &expected), vec![0.9, 0.7]);
        // Tiles past the faces laid out are ignored.
        assert_eq!(best_per_tile(&found, &expected[..1]), vec![0.9]);
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

    /// A white square "face" on a grey photo with a black frame around the face.
    fn photo_with_face(w: u32, h: u32, at: (u32, u32), side: u32) -> RgbImage {
        let mut photo = RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128]));
        for y in at.1..at.1 + side {
            for x in at.0..at.0 + side {
                photo.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        photo
    }

    #[test]
    fn mosaic_puts_each_face_in_its_tile_with_context() {
        let photo = photo_with_face(400, 300, (200, 100), 40);
        let faces = [face([200.0, 100.0, 240.0, 140.0], 0.8); 6];
        let (m, boxes) = mosaic(&photo, &faces);
        assert_eq!(m.dimensions(), (MOSAIC, 2 * TILE), "two rows for six faces");
        for (k, (ox, oy)) in (0..6).map(tile_origin).enumerate() {
            // Three box sides: the face is the middle third of its tile, grey around it.
            assert_eq!(m.get_pixel(ox + 80, oy + 80).0, [255, 255, 255]);
            assert_eq!(m.get_pixel(ox + 10, oy + 10).0, [128, 128, 128]);
            let b = boxes[k];
            assert!((b[0] - (ox as f32 + 53.3)).abs() < 1.0, "{b:?}");
            assert!((b[2] - b[0] - 53.3).abs() < 1.0, "{b:?}");
        }
        assert_eq!(m.get_pixel(tile_origin(6).0 + 80, TILE + 80).0, [0, 0, 0]);
        assert_eq!(mosaic(&photo, &faces[..2]).0.dimensions(), (2 * TILE, TILE));
        let all = [faces[0]; 20];
        assert_eq!(mosaic(&photo, &all).0.dimensions(), (MOSAIC, MOSAIC));
    }

    #[test]
    fn a_face_at_the_edge_or_filling_the_photo_is_cut_from_the_photo_not_padded_black() {
        // At the top left corner: the square moves inside the photo, the face in its corner.
        let photo = photo_with_face(400, 300, (0, 0), 40);
        let (m, boxes) = mosaic(&photo, &[face([0.0, 0.0, 40.0, 40.0], 0.8)]);
        assert_eq!(m.dimensions(), (TILE, TILE));
        assert_eq!(m.get_pixel(10, 10).0, [255, 255, 255]);
        assert_eq!(m.get_pixel(150, 150).0, [128, 128, 128]);
        assert!(boxes[0][0].abs() < 0.5 && (boxes[0][2] - 53.3).abs() < 1.0);
        // A close-up: the face fills a 112x112 crop, and the tile is the whole crop.
        let photo = photo_with_face(112, 112, (16, 16), 80);
        let (m, boxes) = mosaic(&photo, &[face([16.0, 16.0, 96.0, 96.0], 0.8)]);
        assert!(m.pixels().all(|p| p.0 != [0, 0, 0]), "no black padding");
        assert!((boxes[0][2] - boxes[0][0] - 80.0 * 160.0 / 112.0).abs() < 1.0);
        // A portrait narrower than the square: padded on the sides only, face centred.
        let photo = photo_with_face(100, 300, (30, 100), 40);
        let (m, _) = mosaic(&photo, &[face([30.0, 100.0, 70.0, 140.0], 0.8)]);
        assert_eq!(m.get_pixel(80, 80).0, [255, 255, 255]);
        assert_eq!(
            m.get_pixel(80, 5).0,
            [128, 128, 128],
            "photo above the face"
        );
        assert_eq!(m.get_pixel(5, 80).0, [0, 0, 0], "padding beside the photo");
    }
}
