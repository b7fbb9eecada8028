//! SFace 2021dec (opencv_zoo) face embedder: takes 112x112 aligned RGB crops as 0..255 floats
//! (the model normalises inside) and returns 128-d vectors, L2-normalised here.

use ndarray::Array4;
use ort::{session::Session, value::TensorRef};
use po_backend_api::{l2_normalize, AlignedFace, BackendError, ALIGNED_SIZE};

pub const MODEL_ID: &str = "sface-2021dec-int8bq";
pub const DIM: usize = 128;

pub struct SFace {
    session: Session,
    input: String,
}

fn inference_error(e: impl std::fmt::Display) -> BackendError {
    crate::inference_error(MODEL_ID, e)
}

impl SFace {
    pub fn new(session: Session) -> Result<Self, BackendError> {
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        let [input] = inputs.as_slice() else {
            return Err(BackendError::Model {
                model: MODEL_ID.into(),
                reason: format!("expected one input (the face crop), found {inputs:?}"),
            });
        };
        let input = input.to_string();
        Ok(Self { session, input })
    }

    pub fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
        // The shipped model has a fixed batch of one.
        faces.iter().map(|f| self.embed_one(f)).collect()
    }

    fn embed_one(&mut self, face: &AlignedFace) -> Result<Vec<f32>, BackendError> {
        let input = to_nchw(&face.rgb);
        let tensor = TensorRef::from_array_view(&input).map_err(inference_error)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(inference_error)?;
        let (_, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(inference_error)?;
        if data.len() != DIM {
            return Err(BackendError::Model {
                model: MODEL_ID.into(),
                reason: format!("output has {} values, expected {DIM}", data.len()),
            });
        }
        let mut v = data.to_vec();
        l2_normalize(&mut v);
        Ok(v)
    }
}

/// Interleaved RGB bytes -> `[1, 3, 112, 112]` RGB floats 0..255.
pub fn to_nchw(rgb: &[u8]) -> Array4<f32> {
    let s = ALIGNED_SIZE;
    Array4::from_shape_fn((1, 3, s, s), |(_, c, y, x)| {
        f32::from(rgb[(y * s + x) * 3 + c])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_keeps_rgb_order() {
        let mut rgb = vec![0u8; ALIGNED_SIZE * ALIGNED_SIZE * 3];
        let p = (5 * ALIGNED_SIZE + 7) * 3;
        rgb[p..p + 3].copy_from_slice(&[1, 2, 3]);
        let t = to_nchw(&rgb);
        assert_eq!(
            [t[[0, 0, 5, 7]], t[[0, 1, 5, 7]], t[[0, 2, 5, 7]]],
            [1.0, 2.0, 3.0]
        );
    }
}
