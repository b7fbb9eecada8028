//! Grouping quality on the labelled evaluation set (`scripts/build-eval-set.sh`): minimum scores
//! so that a regression fails CI. The thresholds are the goals in docs/QUALITY.md, not the
//! values measured today.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

fn eval_set(variant: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/eval-set")
        .join(variant);
    assert!(
        dir.join("_distractors").is_dir(),
        "{} is missing: run `scripts/build-eval-set.sh` (scripts/test.sh does)",
        dir.display()
    );
    dir
}

fn eval(t: &TestDir, dir: &Path) -> Value {
    let out = command(t)
        .arg("eval")
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn plain_photos_are_grouped_without_wrong_merges() {
    let t = TestDir::new();
    let r = eval(&t, &eval_set("plain"));
    let s = &r["scores"];
    assert!(s["pairwise_precision"].as_f64().unwrap() >= 0.99, "{r}");
    assert!(s["bcubed_f"].as_f64().unwrap() >= 0.95, "{r}");
    assert_eq!(
        r["distractors_in_a_person"].as_array().unwrap().len(),
        0,
        "{r}"
    );
}

#[test]
fn hard_versions_small_rotated_gray_compressed_still_group() {
    let t = TestDir::new();
    let dir = eval_set("hard");
    // The pet must be among the distractors for the "no pet becomes a person" check to mean
    // anything.
    assert!(
        dir.join("_distractors/chelsea.png").is_file(),
        "the cat photo is missing"
    );
    let r = eval(&t, &dir);
    let s = &r["scores"];
    assert!(s["bcubed_f"].as_f64().unwrap() >= 0.90, "{r}");
    assert!(s["pairwise_precision"].as_f64().unwrap() >= 0.99, "{r}");
    assert_eq!(r["no_face_found"], 0, "small faces were missed: {r}");
    assert_eq!(
        r["distractors_in_a_person"].as_array().unwrap().len(),
        0,
        "{r}"
    );
}

#[test]
fn insightface_and_yolov8_backends_group_the_hard_set_too() {
    for backend in ["insightface", "yolov8"] {
        let t = TestDir::new();
        let out = command(&t)
            .arg("eval")
            .arg(eval_set("hard"))
            .args(["--face-backend", backend, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = &r["scores"];
        assert!(s["bcubed_f"].as_f64().unwrap() >= 0.90, "{backend}: {r}");
        assert!(
            s["pairwise_precision"].as_f64().unwrap() >= 0.99,
            "{backend}: {r}"
        );
        assert_eq!(
            r["distractors_in_a_person"].as_array().unwrap().len(),
            0,
            "{backend}: {r}"
        );
    }
}
