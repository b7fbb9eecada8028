//! The box arithmetic of the MTCNN cascade, apart from the networks: the image pyramid, P-Net's
//! map-to-box decoding, the two NMS variants, squaring, clipping and regression. It follows
//! facenet-pytorch 2.6.0's `detect_face` (the reference its converted weights were tuned with)
//! and is plain Rust, so it is tested in every build, with or without libtorch.

/// Smallest face, in detector-input pixels, the pyramid looks for (facenet-pytorch's default).
pub const MIN_FACE: f32 = 20.0;
/// Scale step between pyramid levels (facenet-pytorch's default).
pub const PYRAMID_FACTOR: f32 = 0.709;
/// P-Net and R-Net score thresholds (facenet-pytorch's defaults; O-Net takes the pipeline's).
pub const PNET_THRESHOLD: f32 = 0.6;
pub const RNET_THRESHOLD: f32 = 0.7;

const PNET_STRIDE: f32 = 2.0;
const PNET_CELL: f32 = 12.0;

/// A candidate: corners in image pixels, score, and the network's regression offsets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub bbox: [f32; 4],
    pub score: f32,
    pub reg: [f32; 4],
}

/// How two boxes' overlap is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Intersection over union.
    Union,
    /// Intersection over the smaller box: O-Net's last pass, which drops a box inside another.
    Min,
}

/// Scales of the pyramid for an image `width` x `height`: the first maps a face of `min_face`
/// pixels onto P-Net's 12-pixel window; the last keeps the short side at 12 pixels or more.
pub fn pyramid_scales(width: u32, height: u32, min_face: f32) -> Vec<f32> {
    let m = PNET_CELL / min_face;
    let mut short = width.min(height) as f32 * m;
    let mut scale = m;
    let mut scales = Vec::new();
    while short >= PNET_CELL {
        scales.push(scale);
        scale *= PYRAMID_FACTOR;
        short *= PYRAMID_FACTOR;
    }
    scales
}

/// Size (width, height) the image is resampled to for `scale` (facenet-pytorch's `int(h*s+1)`).
pub fn scaled_size(width: u32, height: u32, scale: f32) -> (i64, i64) {
    (
        (width as f32 * scale + 1.0) as i64,
        (height as f32 * scale + 1.0) as i64,
    )
}

/// Decodes P-Net's output maps at one scale: `prob` is the face probability map (`h` x `w`),
/// `reg` the four regression maps (4 x `h` x `w`), both row-major.
pub fn pnet_candidates(
    prob: &[f32],
    reg: &[f32],
    w: usize,
    h: usize,
    scale: f32,
    threshold: f32,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    if prob.len() < w * h || reg.len() < 4 * w * h {
        return out;
    }
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let score = prob[i];
            if score < threshold {
                continue;
            }
            let (fx, fy) = (x as f32, y as f32);
            let q1 = |v: f32| ((PNET_STRIDE * v + 1.0) / scale).floor();
            let q2 = |v: f32| ((PNET_STRIDE * v + PNET_CELL) / scale).floor();
            out.push(Candidate {
                bbox: [q1(fx), q1(fy), q2(fx), q2(fy)],
                score,
                reg: [
                    reg[i],
                    reg[w * h + i],
                    reg[2 * w * h + i],
                    reg[3 * w * h + i],
                ],
            });
        }
    }
    out
}

/// Greedy NMS in MTCNN's pixel convention (a box covers `x2 - x1 + 1` pixels). Best first.
pub fn nms(mut boxes: Vec<Candidate>, threshold: f32, overlap: Overlap) -> Vec<Candidate> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let area = |b: &[f32; 4]| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    let mut kept: Vec<Candidate> = Vec::new();
    for c in boxes {
        let suppressed = kept.iter().any(|k| {
            let iw = (k.bbox[2].min(c.bbox[2]) - k.bbox[0].max(c.bbox[0]) + 1.0).max(0.0);
            let ih = (k.bbox[3].min(c.bbox[3]) - k.bbox[1].max(c.bbox[1]) + 1.0).max(0.0);
            let inter = iw * ih;
            let o = match overlap {
                Overlap::Union => inter / (area(&k.bbox) + area(&c.bbox) - inter),
                Overlap::Min => inter / area(&k.bbox).min(area(&c.bbox)),
            };
            o > threshold
        });
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

/// P-Net's regression: offsets are fractions of the box's width and height (`x2 - x1`).
pub fn apply_pnet_regression(c: &Candidate) -> [f32; 4] {
    let (w, h) = (c.bbox[2] - c.bbox[0], c.bbox[3] - c.bbox[1]);
    [
        c.bbox[0] + c.reg[0] * w,
        c.bbox[1] + c.reg[1] * h,
        c.bbox[2] + c.reg[2] * w,
        c.bbox[3] + c.reg[3] * h,
    ]
}

/// R-Net's and O-Net's regression (`bbreg`): fractions of `x2 - x1 + 1`.
pub fn apply_regression(b: [f32; 4], reg: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
    [
        b[0] + reg[0] * w,
        b[1] + reg[1] * h,
        b[2] + reg[2] * w,
        b[3] + reg[3] * h,
    ]
}

/// The square with the box's centre and its longer side (`rerec`).
pub fn square(b: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let l = w.max(h);
    let x1 = b[0] + w * 0.5 - l * 0.5;
    let y1 = b[1] + h * 0.5 - l * 0.5;
    [x1, y1, x1 + l, y1 + l]
}

/// The pixel rows and columns of `b` inside a `width` x `height` image, as the zero-based
/// start and length of each (`pad` then `[y-1:ey, x-1:ex]` in facenet-pytorch); `None` when
/// nothing of the box is inside.
pub fn crop_window(b: [f32; 4], width: u32, height: u32) -> Option<(i64, i64, i64, i64)> {
    // facenet-pytorch truncates towards zero, then clips to 1..=w (one-based).
    let x = (b[0].trunc() as i64).max(1);
    let y = (b[1].trunc() as i64).max(1);
    let ex = (b[2].trunc() as i64).min(i64::from(width));
    let ey = (b[3].trunc() as i64).min(i64::from(height));
    (ex > x - 1 && ey > y - 1 && x <= i64::from(width) && y <= i64::from(height))
        .then(|| (x - 1, ex - x + 1, y - 1, ey - y + 1))
}

/// O-Net's landmarks (five x then five y, fractions of the box) in image pixels. MTCNN's order is
/// the trait's: eye, eye, nose, mouth corner, mouth corner, the image-left one first for an
/// upright face. It is not re-sorted by x: for a face turned past 90 degrees the subject's own
/// left/right is what the alignment needs (sorting would ask for a mirror image).
pub fn landmarks(b: [f32; 4], points: &[f32; 10]) -> [[f32; 2]; 5] {
    let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
    let mut out = [[0.0; 2]; 5];
    for (k, p) in out.iter_mut().enumerate() {
        *p = [w * points[k] + b[0] - 1.0, h * points[5 + k] + b[1] - 1.0];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(bbox: [f32; 4], score: f32) -> Candidate {
        Candidate {
            bbox,
            score,
            reg: [0.0; 4],
        }
    }

    #[test]
    fn pyramid_starts_at_the_min_face_and_stops_at_twelve_pixels() {
        let s = pyramid_scales(640, 480, 20.0);
        assert!((s[0] - 0.6).abs() < 1e-6);
        for w in s.windows(2) {
            assert!((w[1] / w[0] - PYRAMID_FACTOR).abs() < 1e-5);
        }
        let last = *s.last().unwrap();
        assert!(480.0 * last >= 12.0 && 480.0 * last * PYRAMID_FACTOR < 12.0);
        // 480 * 0.6 = 288; 288 * 0.709^k >= 12 for k = 0..=9.
        assert_eq!(s.len(), 10);
        assert!(pyramid_scales(15, 15, 20.0).is_empty());
        assert_eq!(scaled_size(640, 480, 0.6), (385, 289));
    }

    #[test]
    fn pnet_cells_map_back_to_twelve_pixel_windows() {
        // A 3x2 map with one cell over the threshold at (x=2, y=1).
        let prob = [0.1, 0.2, 0.3, 0.4, 0.5, 0.9];
        let mut reg = [0.0f32; 24];
        for (k, v) in [0.1f32, 0.2, 0.3, 0.4].into_iter().enumerate() {
            reg[k * 6 + 5] = v;
        }
        let c = pnet_candidates(&prob, &reg, 3, 2, 0.5, 0.6);
        assert_eq!(c.len(), 1);
        // (2*2+1)/0.5 = 10, (2*2+12)/0.5 = 32; y: (2+1)/0.5 = 6, (2+12)/0.5 = 28.
        assert_eq!(c[0].bbox, [10.0, 6.0, 32.0, 28.0]);
        assert_eq!(c[0].reg, [0.1, 0.2, 0.3, 0.4]);
        assert!(pnet_candidates(&prob, &reg[..10], 3, 2, 0.5, 0.6).is_empty());
    }

    #[test]
    fn nms_union_and_min_differ_on_nested_boxes() {
        let outer = cand([0.0, 0.0, 99.0, 99.0], 0.9);
        let inner = cand([10.0, 10.0, 49.0, 49.0], 0.8);
        let far = cand([200.0, 200.0, 240.0, 240.0], 0.7);
        // Inner covers 16% of outer: kept by union at 0.7, dropped by min (100% of inner).
        let u = nms(vec![inner, outer, far], 0.7, Overlap::Union);
        assert_eq!(u.len(), 3);
        assert_eq!(u[0], outer);
        let m = nms(vec![inner, outer, far], 0.7, Overlap::Min);
        assert_eq!(m, vec![outer, far]);
    }

    #[test]
    fn regression_square_and_crop() {
        let b = apply_regression([10.0, 20.0, 29.0, 59.0], [0.1, -0.1, 0.0, 0.5]);
        assert_eq!(b, [12.0, 16.0, 29.0, 79.0]);
        let p = apply_pnet_regression(&Candidate {
            bbox: [0.0, 0.0, 10.0, 20.0],
            score: 1.0,
            reg: [0.5, 0.5, 0.5, 0.5],
        });
        assert_eq!(p, [5.0, 10.0, 15.0, 30.0]);
        let s = square([10.0, 0.0, 30.0, 40.0]);
        assert_eq!(s, [0.0, 0.0, 40.0, 40.0]);
        // Clipped to the image: one-based 1..=w in facenet-pytorch is 0..w here.
        assert_eq!(
            crop_window([-5.0, 3.7, 50.0, 20.0], 40, 30),
            Some((0, 40, 2, 18))
        );
        assert_eq!(crop_window([50.0, 50.0, 60.0, 60.0], 40, 30), None);
    }

    #[test]
    fn landmarks_are_scaled_into_the_box() {
        let b = [9.0, 19.0, 108.0, 118.0]; // 100 x 100 from (9, 19)
        let pts = [0.3, 0.7, 0.5, 0.35, 0.65, 0.4, 0.4, 0.6, 0.8, 0.8];
        let l = landmarks(b, &pts);
        assert!((l[0][0] - 38.0).abs() < 1e-4 && (l[0][1] - 58.0).abs() < 1e-4);
        assert!((l[4][0] - 73.0).abs() < 1e-4 && (l[4][1] - 98.0).abs() < 1e-4);
    }
}
