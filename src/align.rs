//! Five-landmark face alignment: the least-squares similarity transform (rotation, uniform
//! scale, translation; Umeyama without reflection) from a face's landmarks to the embedder's
//! template (the standard ArcFace 112x112 one unless the backend asks for another), and the
//! warp that samples the crop. Large faces are supersampled
//! so that shrinking them does not alias.

use image::RgbImage;
use po_backend_api::{AlignedFace, AlignmentTemplate, ARCFACE_ALIGNMENT};

/// The insightface / ArcFace template for 112x112 crops: eyes, nose tip, mouth corners.
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = ARCFACE_ALIGNMENT.landmarks;

/// `dst = [a -b; b a] * src + [tx, ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// The inverse transform; `None` when degenerate (all source points equal).
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }
}

/// Least-squares similarity mapping `src[i]` onto `dst[i]`.
pub fn estimate_similarity(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> Option<Similarity> {
    let n = src.len() as f64;
    let mean = |pts: &[[f32; 2]; 5]| {
        let (sx, sy) = pts.iter().fold((0.0f64, 0.0f64), |(x, y), p| {
            (x + f64::from(p[0]), y + f64::from(p[1]))
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut num_a, mut num_b, mut var) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
        let (dx, dy) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
        var += sx * sx + sy * sy;
    }
    if var <= 1e-9 {
        return None;
    }
    let (a, b) = (num_a / var, num_b / var);
    Some(Similarity {
        a: a as f32,
        b: b as f32,
        tx: (mdx - (a * msx - b * msy)) as f32,
        ty: (mdy - (b * msx + a * msy)) as f32,
    })
}

/// Bilinear sample at `(x, y)`; pixels outside the image count as black. `floor` is done by
/// truncation (exact for `x > -1`, the only values that get here) so the hot loop calls no libm.
#[inline]
fn bilinear(raw: &[u8], w: usize, h: usize, x: f32, y: f32) -> [f32; 3] {
    if !(x > -1.0 && y > -1.0 && x < w as f32 && y < h as f32) {
        return [0.0; 3];
    }
    let floor = |v: f32| if v < 0.0 { -1 } else { v as isize };
    let (x0, y0) = (floor(x), floor(y));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let weights = [
        (1.0 - fx) * (1.0 - fy),
        fx * (1.0 - fy),
        (1.0 - fx) * fy,
        fx * fy,
    ];
    let mut acc = [0.0f32; 3];
    if x0 >= 0 && y0 >= 0 && (x0 as usize) + 1 < w && (y0 as usize) + 1 < h {
        // Inside: the 2x2 neighbourhood is two runs of 6 bytes.
        let p = (y0 as usize * w + x0 as usize) * 3;
        let (top, bottom) = (&raw[p..p + 6], &raw[p + w * 3..p + w * 3 + 6]);
        for c in 0..3 {
            acc[c] = weights[0] * f32::from(top[c])
                + weights[1] * f32::from(top[3 + c])
                + weights[2] * f32::from(bottom[c])
                + weights[3] * f32::from(bottom[3 + c]);
        }
        return acc;
    }
    for (k, (dx, dy)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
        let (px, py) = (x0 + dx, y0 + dy);
        if px >= 0 && py >= 0 && (px as usize) < w && (py as usize) < h {
            let p = (py as usize * w + px as usize) * 3;
            for c in 0..3 {
                acc[c] += weights[k] * f32::from(raw[p + c]);
            }
        }
    }
    acc
}

/// Warps the face with `landmarks` (in `img` pixels) onto the 112x112 ArcFace template.
pub fn align_face(img: &RgbImage, landmarks: &[[f32; 2]; 5]) -> Option<AlignedFace> {
    align_face_to(img, landmarks, &ARCFACE_ALIGNMENT)
}

/// Warps the face with `landmarks` (in `img` pixels) onto `template`.
pub fn align_face_to(
    img: &RgbImage,
    landmarks: &[[f32; 2]; 5],
    template: &AlignmentTemplate,
) -> Option<AlignedFace> {
    let to_template = estimate_similarity(landmarks, &template.landmarks)?;
    let to_image = to_template.inverse()?;
    // Source pixels per output pixel: sample a k x k grid per output pixel when shrinking.
    let k = to_image.scale().ceil().clamp(1.0, 4.0) as usize;
    let offsets: Vec<f32> = (0..k).map(|i| (i as f32 + 0.5) / k as f32 - 0.5).collect();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let s = template.size;
    let n = (k * k) as f32;
    let mut rgb = vec![0u8; s * s * 3];
    for (y, row) in rgb.chunks_exact_mut(s * 3).enumerate() {
        for (x, out) in row.chunks_exact_mut(3).enumerate() {
            let mut acc = [0.0f32; 3];
            for oy in &offsets {
                for ox in &offsets {
                    let [ix, iy] = to_image.apply([x as f32 + ox, y as f32 + oy]);
                    let v = bilinear(raw, w, h, ix, iy);
                    for c in 0..3 {
                        acc[c] += v[c];
                    }
                }
            }
            for (o, a) in out.iter_mut().zip(acc) {
                // Non-negative, so adding a half and truncating rounds to nearest.
                *o = (a / n + 0.5).min(255.0) as u8;
            }
        }
    }
    Some(AlignedFace { size: s, rgb })
}

#[cfg(test)]
mod tests {
    use super::*;
    use po_backend_api::ALIGNED_SIZE;

    fn close(a: [f32; 2], b: [f32; 2], tol: f32) -> bool {
        (a[0] - b[0]).abs() < tol && (a[1] - b[1]).abs() < tol
    }

    #[test]
    fn recovers_a_known_similarity() {
        let truth = Similarity {
            a: 2.0 * 0.3f32.cos(),
            b: 2.0 * 0.3f32.sin(),
            tx: 15.0,
            ty: -7.0,
        };
        let src = ARCFACE_TEMPLATE;
        let dst = src.map(|p| truth.apply(p));
        let est = estimate_similarity(&src, &dst).unwrap();
        assert!((est.a - truth.a).abs() < 1e-4 && (est.b - truth.b).abs() < 1e-4);
        assert!((est.tx - truth.tx).abs() < 1e-3 && (est.ty - truth.ty).abs() < 1e-3);
        for (s, d) in src.iter().zip(&dst) {
            assert!(close(est.apply(*s), *d, 1e-3));
        }
    }

    #[test]
    fn inverse_round_trips() {
        let t = Similarity {
            a: 0.5,
            b: -0.8,
            tx: 3.0,
            ty: 4.0,
        };
        let inv = t.inverse().unwrap();
        let p = [12.5, -3.25];
        assert!(close(inv.apply(t.apply(p)), p, 1e-4));
        let degenerate = Similarity {
            a: 0.0,
            b: 0.0,
            tx: 1.0,
            ty: 1.0,
        };
        assert!(degenerate.inverse().is_none());
        assert!(estimate_similarity(&[[1.0, 1.0]; 5], &ARCFACE_TEMPLATE).is_none());
    }

    #[test]
    fn landmarks_land_on_the_template_in_the_crop() {
        // Bright dots at landmark positions of a face twice the template size, rotated 90 deg.
        let mut img = RgbImage::new(400, 400);
        let rot = Similarity {
            a: 0.0,
            b: 2.0,
            tx: 300.0,
            ty: 50.0,
        };
        let landmarks = ARCFACE_TEMPLATE.map(|p| rot.apply(p));
        for lm in landmarks {
            for dy in -2i32..=2 {
                for dx in -2i32..=2 {
                    let (x, y) = (lm[0].round() as i32 + dx, lm[1].round() as i32 + dy);
                    img.put_pixel(x as u32, y as u32, image::Rgb([255, 255, 255]));
                }
            }
        }
        let face = align_face(&img, &landmarks).unwrap();
        for t in ARCFACE_TEMPLATE {
            let (x, y) = (t[0].round() as usize, t[1].round() as usize);
            let v = face.rgb[(y * ALIGNED_SIZE + x) * 3];
            assert!(v > 200, "template point {t:?} is {v}, expected bright");
        }
        // Far from any landmark the crop is dark.
        assert_eq!(face.rgb[(5 * ALIGNED_SIZE + 5) * 3], 0);
        assert_eq!(face.size, ALIGNED_SIZE);
    }

    #[test]
    fn another_template_gives_its_own_size_and_positions() {
        // The ArcFace points scaled to 160: the same face must land on the scaled points.
        let big = AlignmentTemplate {
            size: 160,
            landmarks: ARCFACE_TEMPLATE.map(|[x, y]| [x * 160.0 / 112.0, y * 160.0 / 112.0]),
        };
        let mut img = RgbImage::new(300, 300);
        let landmarks = ARCFACE_TEMPLATE.map(|[x, y]| [x * 2.0 + 20.0, y * 2.0 + 10.0]);
        for lm in landmarks {
            for dy in -2i32..=2 {
                for dx in -2i32..=2 {
                    let (x, y) = (lm[0].round() as i32 + dx, lm[1].round() as i32 + dy);
                    img.put_pixel(x as u32, y as u32, image::Rgb([255; 3]));
                }
            }
        }
        let face = align_face_to(&img, &landmarks, &big).unwrap();
        assert_eq!((face.size, face.rgb.len()), (160, 160 * 160 * 3));
        for t in big.landmarks {
            let (x, y) = (t[0].round() as usize, t[1].round() as usize);
            assert!(face.rgb[(y * 160 + x) * 3] > 200, "point {t:?} not bright");
        }
    }
}
