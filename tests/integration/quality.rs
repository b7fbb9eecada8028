//! Grouping quality on the labelled evaluation set (`scripts/build-eval-set.sh`): minimum scores
//! so that a regression fails CI. The thresholds are the goals in docs/QUALITY.md, not the
//! values measured today.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

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

/// Embedding (little-endian f32s) and box of every face in a test's cache, by (photo sha256,
/// face index).
fn cached_faces(t: &TestDir) -> BTreeMap<(String, i64), (Vec<f32>, Vec<f32>)> {
    let conn = rusqlite::Connection::open(t.cache().join("library.sqlite")).unwrap();
    let mut q = conn
        .prepare("SELECT sha256, idx, embedding, bbox FROM faces")
        .unwrap();
    let floats = |blob: Vec<u8>| -> Vec<f32> {
        blob.chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    q.query_map([], |r| {
        Ok((
            (r.get(0)?, r.get(1)?),
            (floats(r.get(2)?), floats(r.get(3)?)),
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Each face (photo, index) with the set of faces sharing its person: the grouping, whatever
/// the people's ids.
fn grouping(manifest: &Value) -> BTreeSet<Vec<(String, usize)>> {
    let mut people: BTreeMap<u64, Vec<(String, usize)>> = BTreeMap::new();
    let mut alone = BTreeSet::new();
    for p in manifest["photos"].as_array().unwrap() {
        let source = p["source"].as_str().unwrap().to_string();
        for (i, f) in p["faces"].as_array().unwrap().iter().enumerate() {
            match f["person"].as_u64() {
                Some(id) => people.entry(id).or_default().push((source.clone(), i)),
                None => {
                    alone.insert(vec![(source.clone(), i)]);
                }
            }
        }
    }
    people.into_values().chain(alone).collect()
}

#[test]
fn batched_and_unbatched_runs_give_the_same_people_and_embeddings() {
    for variant in ["plain", "hard"] {
        let dir = eval_set(variant);
        let run = |batch: &str| {
            let t = TestDir::new();
            let out = command(&t)
                .arg("-s")
                .arg(&dir)
                .arg("-o")
                .arg(t.out())
                .args(["--symlink", "--json", "--batch-size", batch])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{variant} batch {batch}: {}",
                stderr(&out)
            );
            let faces = cached_faces(&t);
            (t.manifest(), faces)
        };
        let (one, one_faces) = run("1");
        let (eight, eight_faces) = run("8");
        assert!(
            one_faces.len() >= 10,
            "{variant}: {} faces",
            one_faces.len()
        );
        assert_eq!(
            one_faces.keys().collect::<Vec<_>>(),
            eight_faces.keys().collect::<Vec<_>>(),
            "{variant}: the same faces in the same photos"
        );
        for (key, (a, box_a)) in &one_faces {
            let (b, box_b) = &eight_faces[key];
            let most = |p: &[f32], q: &[f32]| {
                assert_eq!(p.len(), q.len());
                p.iter()
                    .zip(q)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max)
            };
            assert!(
                most(box_a, box_b) <= 1e-3,
                "{variant} {key:?}: {box_a:?} {box_b:?}"
            );
            let d = most(a, b);
            assert!(d <= 1e-5, "{variant} {key:?}: embeddings differ by {d}");
        }
        assert_eq!(
            grouping(&one),
            grouping(&eight),
            "{variant}: the same people"
        );
    }
}
