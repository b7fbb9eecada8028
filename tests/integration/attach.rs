//! Issue #21: a face the clustering leaves unknown but that clearly belongs to someone joins
//! that person (src/people/attach.rs), on the real binary and models with the real hard photos.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

fn hard_set() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/eval-set/hard");
    assert!(
        dir.join("_distractors").is_dir(),
        "{} is missing: run `scripts/build-eval-set.sh` (scripts/test.sh does)",
        dir.display()
    );
    dir
}

#[test]
fn regression_21_noise_faces_of_the_hard_set_join_their_person_and_nobody_else() {
    let t = TestDir::new();
    let out = command(&t)
        .arg("eval")
        .arg(hard_set())
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (before, after) = (&r["scores_before_attach"], &r["scores"]);
    let f = |s: &Value, k: &str| s[k].as_f64().unwrap();
    // Recall rises only if some photo left alone by the clustering now shares a person with its
    // own identity; precision 1.0 says it joined nobody else.
    assert!(
        f(after, "pairwise_recall") > f(before, "pairwise_recall"),
        "{r}"
    );
    assert_eq!(f(after, "pairwise_precision"), 1.0, "{r}");
    let attached: u64 = r["unknown_by_identity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attached"].as_u64().unwrap())
        .sum();
    assert!(attached > 0, "{r}");
    assert_eq!(
        r["distractors_in_a_person"].as_array().unwrap().len(),
        0,
        "{r}"
    );
    // Every unknown photo says why.
    for u in r["unknown_by_identity"].as_array().unwrap() {
        let parts: u64 = [
            "no_face_found",
            "noise",
            "below_threshold",
            "below_margin",
            "other",
        ]
        .iter()
        .map(|k| u[k].as_u64().unwrap())
        .sum();
        assert_eq!(parts, u["unknown"].as_u64().unwrap(), "{u}");
    }
}
