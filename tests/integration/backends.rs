//! The face backends end to end on real photos, and `--embedder-model`: a user's ArcFace-style
//! ONNX embedder, exercised with a generated model of the same signature (no registry ships
//! ArcFace weights; MODELS.md).

use crate::util::{assert_obama_is_one_person, organize, summary, TestDir};

#[test]
fn every_backend_puts_the_obama_photos_in_one_person_and_biden_elsewhere() {
    for backend in ["yunet", "insightface", "yolov8"] {
        let t = TestDir::new();
        t.add("a/obama.jpg", "face_recognition/obama.jpg")
            .add("a/obama2.jpg", "face_recognition/obama2.jpg")
            .add("b/obama3.jpg", "face_recognition/obama3.jpg")
            .add("b/biden.jpg", "face_recognition/biden.jpg");
        let s = summary(&organize(&t, &["--json", "--face-backend", backend]));
        assert_eq!(s["backend"]["backend"], backend, "{s}");
        assert_obama_is_one_person(&t);
    }
}

#[test]
fn a_backend_whose_model_is_not_fetched_says_how_to_fetch_it() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg");
    // This test's cache has only the default models.
    let models = t.cache().join("models");
    std::fs::remove_file(&models).unwrap();
    std::fs::create_dir(&models).unwrap();
    let out = crate::util::command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["--face-backend", "yolov8"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("setup --all") && err.contains("AGPL-3.0"),
        "{err}"
    );
}

#[test]
fn a_user_embedder_runs_end_to_end_and_its_results_are_kept_apart_from_sface() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg")
        .add("a/obama2.jpg", "face_recognition/obama2.jpg")
        .add("b/biden.jpg", "face_recognition/biden.jpg");
    let model = t.dir.path().join("w600k_like.onnx");
    std::fs::write(
        &model,
        po_backend_onnx::fixture::arcface_like_embedder(512, None, 11),
    )
    .unwrap();
    let model = model.to_str().unwrap();

    let custom = summary(&organize(&t, &["--json", "--embedder-model", model]));
    assert_eq!(custom["decoded"], 3, "{custom}");
    assert_eq!(custom["embedder_calls"], 3, "{custom}");
    let backend = &custom["backend"];
    assert!(
        backend["embedder_model"]
            .as_str()
            .is_some_and(|id| id.starts_with("arcface-")),
        "{backend}"
    );
    assert_eq!(backend["embedding_dim"], 512, "{backend}");

    // SFace's run finds nothing of the other model's in the cache: every photo is analysed.
    let sface = summary(&organize(&t, &["--json"]));
    assert_eq!(sface["decoded"], 3, "{sface}");
    assert_eq!(sface["backend"]["embedding_dim"], 128);
    // And the custom model's own results are reused.
    let again = summary(&organize(&t, &["--json", "--embedder-model", model]));
    assert_eq!(again["decoded"], 0, "{again}");
}

#[test]
fn a_missing_or_unsuitable_embedder_is_a_clear_error() {
    let t = TestDir::new();
    t.add("a/obama.jpg", "face_recognition/obama.jpg");
    let out = crate::util::command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["--embedder-model", "/nonexistent/model.onnx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--embedder-model /nonexistent/model.onnx is not a file"),
        "{err}"
    );

    // A detector given as an embedder: refused with the contract it breaks.
    let yunet = t.cache().join("models/face_detection_yunet_2023mar.onnx");
    let out = crate::util::command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .arg("--embedder-model")
        .arg(&yunet)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[N, 3, 112, 112]"), "{err}");
}
