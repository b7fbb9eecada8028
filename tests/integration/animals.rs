//! Issue #16, "a pet is never a person": real photos of dogs and cats (`.cache/testdata/animals`,
//! fetched by `scripts/fetch-test-photos.sh` from foolbox's and catsordogs' wheels and Debian's
//! darknet), each at several sizes, plus the Obama photos with a dog beside him. With every
//! backend: no pet's face is in a person, every face in a person is not marked `animal`, photos
//! of pets alone go to `_no_faces/`, and Obama is still one person.

use std::io::Cursor;

use image::{imageops, ImageFormat, RgbImage};
use serde_json::Value;

use crate::util::{assert_obama_is_one_person, folder_of, organize, photo, stderr, TestDir};

/// Bull mastiff, dalmatian (ImageNet samples), beagle, kitten; YuNet finds the first three dogs'
/// faces at some of these sizes (scores 0.71-0.90), and without the check they made people.
const PETS: [&str; 4] = [
    "animals/imagenet_00_243.jpg",
    "animals/imagenet_16_251.jpg",
    "animals/test2.jpeg",
    "animals/test1.jpeg",
];
const SCALES: [f32; 4] = [0.6, 1.0, 1.2, 1.6];

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn load(rel: &str) -> RgbImage {
    image::open(photo(rel)).unwrap().to_rgb8()
}

fn scaled(img: &RgbImage, s: f32) -> RgbImage {
    let (w, h) = (
        (img.width() as f32 * s) as u32,
        (img.height() as f32 * s) as u32,
    );
    imageops::resize(img, w, h, imageops::FilterType::Lanczos3)
}

/// A person's photo with a dog's photo, scaled to half its height, pasted beside him.
fn with_dog(person: &RgbImage, dog: &RgbImage) -> RgbImage {
    let dog = scaled(dog, person.height() as f32 / 2.0 / dog.height() as f32);
    let mut out = RgbImage::new(person.width() + dog.width(), person.height());
    imageops::replace(&mut out, person, 0, 0);
    imageops::replace(
        &mut out,
        &dog,
        person.width() as i64,
        person.height() as i64 / 2,
    );
    out
}

fn pets_and_people() -> TestDir {
    let t = TestDir::new();
    for rel in PETS {
        let img = load(rel);
        let stem = rel.rsplit('/').next().unwrap().split('.').next().unwrap();
        for s in SCALES {
            t.write(&format!("pets/{stem}_{s}.jpg"), &jpeg(&scaled(&img, s)));
        }
    }
    let dogs = [
        load("animals/test2.jpeg"),
        load("animals/imagenet_00_243.jpg"),
    ];
    for (i, name) in ["obama.jpg", "obama2.jpg", "obama3.jpg"].iter().enumerate() {
        let person = load(&format!("face_recognition/{name}"));
        t.write(
            &format!("mixed/{name}"),
            &jpeg(&with_dog(&person, &dogs[i % 2])),
        );
    }
    t.add("mixed/biden.jpg", "face_recognition/biden.jpg");
    t
}

fn faces(m: &Value) -> Vec<(String, &Value)> {
    m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let src = p["source"].as_str().unwrap().to_string();
            p["faces"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (src.clone(), f))
        })
        .collect()
}

#[test]
fn no_pet_becomes_a_person_with_any_backend_and_people_with_pets_are_still_found() {
    for backend in ["yunet", "tract", "insightface", "yolov8"] {
        let t = pets_and_people();
        let out = organize(&t, &["--face-backend", backend]);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("warning:"),
            "{backend}: the check runs: {}",
            stderr(&out)
        );
        let m = t.manifest();
        for (src, f) in faces(&m) {
            if src.starts_with("pets/") {
                assert_eq!(f["person"], Value::Null, "{backend}: {src}: {f}");
            }
            if f["animal"] == true {
                assert_eq!(f["person"], Value::Null, "{backend}: {src}: {f}");
            } else {
                assert!(
                    !src.starts_with("pets/"),
                    "{backend}: a pet's face: {src}: {f}"
                );
            }
        }
        for p in m["photos"].as_array().unwrap() {
            let src = p["source"].as_str().unwrap();
            if src.starts_with("pets/") {
                assert_eq!(p["status"], "no_faces", "{backend}: {p}");
                let name = src.rsplit('/').next().unwrap();
                assert_eq!(folder_of(&t, name), vec!["_no_faces"], "{backend}");
            }
        }
        assert_obama_is_one_person(&t);
        if backend == "yunet" || backend == "tract" {
            // YuNet does find dogs' faces here: the check, not the detector, kept them out.
            let marked = faces(&m)
                .iter()
                .filter(|(_, f)| f["animal"] == true)
                .count();
            assert!(marked >= 8, "{backend}: only {marked} faces marked animal");
        }
    }
}

/// Replaces the test cache's linked models folder by one with the default detector and
/// embedder only: no pet check.
fn without_the_check(t: &TestDir) -> std::path::PathBuf {
    let models = t.cache().join("models");
    std::fs::remove_file(&models).unwrap();
    std::fs::create_dir(&models).unwrap();
    for f in [
        "face_detection_yunet_2023mar.onnx",
        "face_recognition_sface_2021dec_int8bq.onnx",
    ] {
        std::os::unix::fs::symlink(shared_models().join(f), models.join(f)).unwrap();
    }
    models
}

fn shared_models() -> std::path::PathBuf {
    po_backend_api::setup_cache_dir().join("models")
}

fn pets_in_people(m: &Value) -> Vec<String> {
    faces(m)
        .into_iter()
        .filter(|(src, f)| src.starts_with("pets/") && f["person"] != Value::Null)
        .map(|(src, _)| src)
        .collect()
}

#[test]
fn without_the_check_the_run_says_so_and_once_it_is_fetched_cached_pets_leave_people() {
    let t = pets_and_people();
    let models = without_the_check(&t);
    let out = organize(&t, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("dog or cat") && warnings[0].contains("`photo_organizer setup`"),
        "{err}"
    );
    // Unchecked, YuNet's dogs' faces do make people (and join Obama's photos with dogs in
    // them): what the check is for.
    assert!(
        !pets_in_people(&t.manifest()).is_empty(),
        "{:?}",
        t.folders()
    );

    // `setup` fetched the check's model: the photos analysed without it are analysed again.
    let checker = "retinaface_mnet025.onnx";
    std::os::unix::fs::symlink(shared_models().join(checker), models.join(checker)).unwrap();
    let out = organize(&t, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("warning:"), "{err}");
    let m = t.manifest();
    assert_eq!(
        pets_in_people(&m),
        Vec::<String>::new(),
        "{:?}",
        t.folders()
    );
    assert!(
        m["summary"]["decoded"].as_u64().unwrap() > 0,
        "{}",
        m["summary"]
    );
    assert_obama_is_one_person(&t);
    // Checked once: the next run reuses every analysis.
    let out = organize(&t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(t.manifest()["summary"]["decoded"], 0);
}

/// Issue #37: a face that fills its photo or touches its edge was cut out with black padding
/// around it for the pet check, and the second detector, seeing mostly black, called it an
/// animal: the photo went to `_no_faces/`. Derived from real photos of Obama: a tight 80x80
/// close-up at JPEG quality 60 (like the corpus's 112x112 crops; every backend sent it to
/// `_no_faces/` before), a 150x150 close-up, a crop that cuts his face at its left edge, and
/// a large photo (about 2,700 px wide, his face about 720 px).
fn close_ups_and_border_crops() -> TestDir {
    let t = TestDir::new();
    for name in ["obama.jpg", "obama2.jpg"] {
        t.add(&format!("lib/{name}"), &format!("face_recognition/{name}"));
    }
    // obama3.jpg is 1434x2333 with his face at about (644, 273)-(909, 618).
    let obama3 = load("face_recognition/obama3.jpg");
    let close_up = imageops::crop_imm(&obama3, 673, 376, 207, 207).to_image();
    let close_up = imageops::resize(&close_up, 80, 80, imageops::FilterType::Lanczos3);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 60)
        .encode_image(&close_up)
        .unwrap();
    t.write("lib/tight_close_up.jpg", &bytes);
    let close_up = imageops::crop_imm(&obama3, 626, 295, 300, 300).to_image();
    let close_up = imageops::resize(&close_up, 150, 150, imageops::FilterType::Lanczos3);
    t.write("lib/close_up.jpg", &jpeg(&close_up));
    let cut = imageops::crop_imm(&obama3, 700, 60, 734, 900).to_image();
    t.write("lib/cut_at_the_edge.jpg", &jpeg(&cut));
    let large = scaled(&load("face_recognition/obama.jpg"), 3.0);
    t.write("lib/large.jpg", &jpeg(&large));
    t
}

#[test]
fn close_ups_border_crops_and_large_faces_land_in_their_persons_folder_with_every_backend() {
    for backend in ["yunet", "tract", "insightface", "yolov8"] {
        let t = close_ups_and_border_crops();
        let out = organize(&t, &["--face-backend", backend]);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        let obama = folder_of(&t, "obama.jpg");
        assert_eq!(obama.len(), 1, "{backend}: {:?}", t.folders());
        assert!(
            obama[0].starts_with("person_"),
            "{backend}: {:?}",
            t.folders()
        );
        for name in [
            "obama2.jpg",
            "close_up.jpg",
            "cut_at_the_edge.jpg",
            "large.jpg",
        ] {
            assert_eq!(
                folder_of(&t, name),
                obama,
                "{backend}: {name} is not with Obama's photos: {:?}",
                t.folders()
            );
        }
        // The tight crop's face is found and checked as a person's; whether it joins Obama is
        // the embedder's call at 80 px (with YuNet it stays unknown: docs/QUALITY.md).
        let tight = folder_of(&t, "tight_close_up.jpg");
        assert!(
            tight == obama || tight == vec!["_unknown".to_string()],
            "{backend}: {tight:?}"
        );
        let called_animals: Vec<String> = faces(&t.manifest())
            .into_iter()
            .filter(|(_, f)| f["animal"] == true)
            .map(|(src, f)| format!("{src}: {f}"))
            .collect();
        assert!(called_animals.is_empty(), "{backend}: {called_animals:?}");
    }
}
