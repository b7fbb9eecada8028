use super::*;
/// The clustering's merge distance (people::cluster::DEFAULT_MERGE_DISTANCE, above this
/// folder; the integration tests use the real one).
const DEFAULT_MERGE_DISTANCE: f32 = 0.95;

/// A face `width` px wide at `x`, turned by `turn` (nose offset in eye distances), embedding
/// `dir` (normalised).
fn face(x: f32, width: f32, score: f32, turn: f32, dir: &[f32]) -> StoredFace {
    let norm = dir.iter().map(|v| v * v).sum::<f32>().sqrt();
    let eye = 0.4 * width;
    StoredFace {
        bbox: [x, 100.0, x + width, 100.0 + width],
        score,
        landmarks: [
            [x + 0.3 * width, 140.0],
            [x + 0.7 * width, 140.0],
            [x + 0.5 * width + turn * eye, 160.0],
            [x + 0.35 * width, 180.0],
            [x + 0.65 * width, 180.0],
        ],
        embedding: dir.iter().map(|v| v / norm).collect(),
        thumb: None,
        animal: false,
    }
}

fn frame(seconds: f64, faces: Vec<StoredFace>) -> FrameFaces {
    FrameFaces {
        seconds,
        analysis: StoredAnalysis {
            width: 1920,
            height: 1080,
            date_taken: None,
            faces,
            face_check: Some("check".into()),
        },
    }
}

const ALICE: [f32; 3] = [1.0, 0.0, 0.0];
const ALICE_TURNED: [f32; 3] = [0.9, 0.3, 0.0]; // cosine 0.95: the same person
const BOB: [f32; 3] = [0.0, 1.0, 0.0];

#[test]
fn one_person_in_every_frame_keeps_one_face_the_best() {
    let frames = vec![
        frame(0.0, vec![face(100.0, 60.0, 0.95, 0.0, &ALICE)]),
        frame(2.0, vec![face(100.0, 150.0, 0.97, 0.05, &ALICE_TURNED)]),
        frame(4.0, vec![face(100.0, 150.0, 0.99, 0.5, &ALICE)]), // in profile
    ];
    let (a, seconds, seen) = keep_best_faces(&frames, DEFAULT_MERGE_DISTANCE, (1920, 1080), None);
    assert_eq!(a.faces.len(), 1);
    assert_eq!(seconds, vec![2.0]);
    assert_eq!(seen, vec![3]);
    assert_eq!((a.width, a.height), (1920, 1080));
    assert_eq!(a.face_check.as_deref(), Some("check"));
}

#[test]
fn two_people_keep_two_faces_in_order_of_appearance() {
    let frames = vec![
        frame(0.0, vec![face(100.0, 120.0, 0.9, 0.0, &BOB)]),
        frame(
            3.0,
            vec![
                face(900.0, 130.0, 0.95, 0.0, &ALICE),
                face(200.0, 140.0, 0.96, 0.0, &BOB),
            ],
        ),
        frame(6.0, vec![face(800.0, 100.0, 0.9, 0.1, &ALICE_TURNED)]),
    ];
    let (a, seconds, seen) = keep_best_faces(&frames, DEFAULT_MERGE_DISTANCE, (1920, 1080), None);
    assert_eq!(a.faces.len(), 2);
    // Both best faces are in the frame at 3 s: Bob (left) first.
    assert_eq!(seconds, vec![3.0, 3.0]);
    assert_eq!(a.faces[0].bbox[0], 200.0);
    assert_eq!(a.faces[1].bbox[0], 900.0);
    assert_eq!(seen, vec![2, 2]);
}

#[test]
fn two_faces_in_one_frame_are_never_one_person_however_alike() {
    // Twins (or a photo on the wall behind someone): same embedding, same frame.
    let frames = vec![frame(
        0.0,
        vec![
            face(100.0, 120.0, 0.9, 0.0, &ALICE),
            face(600.0, 120.0, 0.9, 0.0, &ALICE),
        ],
    )];
    let (a, _, _) = keep_best_faces(&frames, DEFAULT_MERGE_DISTANCE, (1920, 1080), None);
    assert_eq!(a.faces.len(), 2);
}

#[test]
fn a_face_good_enough_to_start_a_person_beats_a_higher_scored_tiny_one() {
    let frames = vec![
        frame(0.0, vec![face(100.0, 18.0, 0.99, 0.0, &ALICE)]), // too small to seed
        frame(1.0, vec![face(100.0, 40.0, 0.80, 0.0, &ALICE)]),
    ];
    let (a, seconds, _) = keep_best_faces(&frames, DEFAULT_MERGE_DISTANCE, (1920, 1080), None);
    assert_eq!(a.faces.len(), 1);
    assert_eq!(seconds, vec![1.0]);
}

#[test]
fn pets_are_grouped_apart_from_people_and_no_faces_keep_none() {
    let mut dog = face(500.0, 120.0, 0.8, 0.0, &ALICE);
    dog.animal = true;
    let frames = vec![
        frame(0.0, vec![face(100.0, 120.0, 0.9, 0.0, &ALICE)]),
        frame(1.0, vec![dog]),
    ];
    let (a, _, _) = keep_best_faces(&frames, DEFAULT_MERGE_DISTANCE, (1920, 1080), None);
    assert_eq!(a.faces.iter().filter(|f| f.animal).count(), 1);
    assert_eq!(a.faces.len(), 2);
    let (none, seconds, _) = keep_best_faces(
        &[frame(0.0, vec![])],
        DEFAULT_MERGE_DISTANCE,
        (640, 360),
        Some("2024".into()),
    );
    assert!(none.faces.is_empty() && seconds.is_empty());
    assert_eq!(none.date_taken.as_deref(), Some("2024"));
}

#[test]
fn quality_prefers_large_frontal_confident_faces() {
    let frontal = face(0.0, 112.0, 0.9, 0.0, &ALICE);
    assert!((face_quality(&frontal) - 0.9).abs() < 1e-3);
    assert!(face_quality(&face(0.0, 56.0, 0.9, 0.0, &ALICE)) < 0.5);
    assert!(face_quality(&face(0.0, 112.0, 0.9, 0.45, &ALICE)) < 0.5);
    assert_eq!(face_quality(&face(0.0, 112.0, 0.9, 1.0, &ALICE)), 0.0);
}

#[test]
fn people_are_listed_by_the_time_of_their_best_face_not_the_order_frames_came() {
    // A frame sought to fill a gap (at 5 s) arrives after the keyframe at 10 s.
    let frames = vec![
        frame(0.0, vec![]),
        frame(10.0, vec![face(100.0, 120.0, 0.9, 0.0, &ALICE)]),
        frame(5.0, vec![face(100.0, 120.0, 0.9, 0.0, &BOB)]),
    ];
    let (_, seconds, _) = keep_best_faces(&frames, DEFAULT_MERGE_DISTANCE, (1920, 1080), None);
    assert_eq!(seconds, vec![5.0, 10.0]);
}
