//! Greedy non-maximum suppression over [`FaceBox`]es: every detector decodes many overlapping
//! candidates and hands them here to keep the best of each overlapping group.

use crate::FaceBox;

/// Intersection over union of two `[l, t, r, b]` boxes; 0 when either is empty.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Keeps the highest-scoring box of every group overlapping by more than `iou_threshold`.
/// The result is sorted by score, best first; ties keep their input order.
pub fn nms(mut candidates: Vec<FaceBox>, iou_threshold: f32) -> Vec<FaceBox> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| iou(&k.bbox, &c.bbox) <= iou_threshold) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bbox: [f32; 4], score: f32) -> FaceBox {
        FaceBox {
            bbox,
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[20.0, 20.0, 30.0, 30.0]), 0.0);
        // Half overlap: intersection 50, union 150.
        let v = iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]);
        assert!((v - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping_and_all_disjoint() {
        let out = nms(
            vec![
                face([0.0, 0.0, 10.0, 10.0], 0.8),
                face([1.0, 1.0, 11.0, 11.0], 0.9),
                face([50.0, 50.0, 60.0, 60.0], 0.7),
            ],
            0.3,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[1].bbox, [50.0, 50.0, 60.0, 60.0]);
    }

    #[test]
    fn nms_threshold_decides_partial_overlap() {
        let boxes = vec![
            face([0.0, 0.0, 10.0, 10.0], 0.9),
            face([5.0, 0.0, 15.0, 10.0], 0.8),
        ];
        assert_eq!(nms(boxes.clone(), 0.3).len(), 1);
        assert_eq!(nms(boxes, 0.5).len(), 2);
    }
}
