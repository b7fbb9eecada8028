//! FaceNet (InceptionResNetV1, VGGFace2, 512-d): the crop it takes and its input scaling. The
//! network itself is TorchScript run by [`crate::TorchBackend`]; what is here is plain Rust.

use po_backend_api::AlignmentTemplate;

pub const MODEL_ID: &str = "facenet-vggface2-irv1";
pub const DIM: usize = 512;
pub const INPUT_SIZE: usize = 160;

/// Where the five MTCNN landmarks fall in the 160x160 crops FaceNet was trained and evaluated
/// on. Those crops are not landmark-aligned: they are the MTCNN box grown by a 32-pixel margin
/// (facenet-pytorch's `extract_face(margin=32)`, davidsandberg/facenet's LFW alignment), so the
/// box spans 16..144. The points are the mean O-Net landmark positions inside the box (as
/// fractions: eyes 0.30/0.74 across, 0.385 down; nose 0.56 down; mouth 0.30/0.71 across, 0.74
/// down) over the large near-frontal faces of the test photos, mapped into that span and made
/// left-right symmetric about the crop's centre, so a similarity transform onto them gives
/// the training framing, upright.
pub const FACENET_ALIGNMENT: AlignmentTemplate = AlignmentTemplate {
    size: INPUT_SIZE,
    landmarks: [
        [51.7, 65.3],
        [108.3, 65.3],
        [80.0, 87.4],
        [54.0, 110.7],
        [106.0, 110.7],
    ],
};

/// Interleaved RGB bytes of `INPUT_SIZE`-square crops -> NCHW floats with FaceNet's fixed
/// standardisation, `(x - 127.5) / 128` (facenet-pytorch's `fixed_image_standardization`;
/// davidsandberg trained the VGGFace2 model with `--use_fixed_image_standardization`).
pub fn to_input(crops: &[&[u8]]) -> Vec<f32> {
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut out = vec![0.0f32; crops.len() * 3 * plane];
    for (n, rgb) in crops.iter().enumerate() {
        let base = n * 3 * plane;
        for (i, px) in rgb.chunks_exact(3).take(plane).enumerate() {
            for c in 0..3 {
                out[base + c * plane + i] = (f32::from(px[c]) - 127.5) / 128.0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_planar_rgb_with_fixed_standardisation() {
        let mut rgb = vec![0u8; INPUT_SIZE * INPUT_SIZE * 3];
        let p = 7 * INPUT_SIZE + 5;
        rgb[p * 3..p * 3 + 3].copy_from_slice(&[255, 127, 0]);
        let x = to_input(&[&rgb, &rgb]);
        let plane = INPUT_SIZE * INPUT_SIZE;
        assert_eq!(x.len(), 2 * 3 * plane);
        assert!((x[p] - 127.5 / 128.0).abs() < 1e-6);
        assert!((x[plane + p] + 0.5 / 128.0).abs() < 1e-6);
        assert!((x[2 * plane + p] + 127.5 / 128.0).abs() < 1e-6);
        assert_eq!(x[3 * plane + p], x[p]);
    }

    #[test]
    fn template_is_upright_and_inside_the_crop() {
        let l = FACENET_ALIGNMENT.landmarks;
        assert!(l[0][0] < l[1][0] && l[3][0] < l[4][0]);
        assert!(l[0][1] < l[2][1] && l[2][1] < l[3][1]);
        assert!(l.iter().flatten().all(|v| *v > 16.0 && *v < 144.0));
    }
}
