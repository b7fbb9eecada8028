//! Bounds that keep a run safe on any library: one lock per OUT whatever the cache, memory for
//! decoded photos under `--max-memory`, `-j` capped, a crashing backend fails one photo only.

use std::{fs, io::Cursor};

use image::{ImageFormat, RgbImage};

use crate::util::*;

#[test]
fn lock_is_per_output_so_a_run_with_another_cache_is_refused() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg");
    fs::create_dir_all(t.out()).unwrap();
    // Another run into OUT, with whatever cache, holds OUT's lock file.
    let held = fs::File::create(t.out().join(".photo_organizer.lock")).unwrap();
    held.try_lock().unwrap();
    let other_cache = TestDir::new();
    let out = command(&other_cache)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another photo_organizer run"),
        "{}",
        stderr(&out)
    );
    assert!(
        t.folders().is_empty(),
        "nothing was written: {:?}",
        t.folders()
    );
    drop(held);
    let out = organize(&t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    })
    .write_to(&mut bytes, ImageFormat::Png)
    .unwrap();
    bytes.into_inner()
}

#[test]
fn photo_over_the_memory_budget_is_reported_and_the_run_goes_on() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg");
    // 4000 x 3000 pixels cost about 120 MB to decode: more than a 64 MB budget.
    t.write("b/big.png", &png(4000, 3000));
    let out = organize(&t, &["--json", "--max-memory", "64"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let m = t.manifest();
    let errors = m["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let cause = errors[0]["cause"].as_str().unwrap();
    assert!(errors[0]["path"].as_str().unwrap().ends_with("big.png"));
    assert!(cause.contains("--max-memory"), "{cause}");
    assert_eq!(folder_of(&t, "obama.jpg").len(), 1);
    // With room for it, the same photo is decoded.
    let out = organize(&t, &["--json", "--max-memory", "512"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(folder_of(&t, "big.png"), vec!["_no_faces".to_string()]);
}

#[test]
fn threads_beyond_four_per_core_are_refused_with_the_limit() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg");
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["-j", "100000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at most"), "{}", stderr(&out));
    assert!(!t.out().exists());
}

/// Debug builds make the backend panic on photos as wide as `PHOTO_ORGANIZER_TEST_PANIC` says.
#[test]
fn a_backend_panic_fails_that_photo_and_the_run_goes_on() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg");
    t.add("a/biden.jpg", "face_recognition/biden.jpg");
    let width = image::image_dimensions(photo("face_recognition/biden.jpg"))
        .unwrap()
        .0;
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .env("PHOTO_ORGANIZER_TEST_PANIC", width.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let m = t.manifest();
    let errors = m["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["path"].as_str().unwrap().ends_with("biden.jpg"));
    assert!(
        errors[0]["cause"].as_str().unwrap().contains("crashed"),
        "{errors:?}"
    );
    assert_eq!(folder_of(&t, "obama.jpg").len(), 1);
}
