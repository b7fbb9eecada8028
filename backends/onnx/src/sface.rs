//! Face embedders on 112x112 crops aligned to the ArcFace template, NCHW RGB:
//! - SFace 2021dec (opencv_zoo, the default): 0..255 floats (the model normalises inside), 128-d;
//! - an InsightFace ArcFace-style model the user owns (`--embedder-model`): (x - 127.5) / 127.5,
//!   usually 512-d; its width is read from the model.
//!
//! Embeddings are L2-normalised here. A model with a dynamic batch dimension gets all the faces
//! it is given in one run; SFace, declared with a batch of one, gets its batch dim freed at load
//! when `--batch-size` is above 1 and then takes that many faces a run.

use ndarray::Array4;
use ort::{session::Session, value::TensorRef};
use po_backend_api::{l2_normalize, AlignedFace, BackendError, ALIGNED_SIZE};

pub const MODEL_ID: &str = "sface-2021dec-int8bq";
pub const DIM: usize = 128;

/// Which input convention an embedder follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedderKind {
    /// RGB 0..255.
    SFace,
    /// RGB (x - 127.5) / 127.5, as InsightFace's ArcFace models (w600k_r50, glintr100, ...).
    ArcFace,
}

impl EmbedderKind {
    /// `(mean, std)` applied to each 0..255 channel value.
    pub fn normalisation(self) -> (f32, f32) {
        match self {
            EmbedderKind::SFace => (0.0, 1.0),
            EmbedderKind::ArcFace => (127.5, 127.5),
        }
    }
}

pub struct Embedder {
    session: Session,
    input: String,
    kind: EmbedderKind,
    model: String,
    dim: usize,
    /// Most faces in one run: 1 for a model with a fixed batch of one, no limit for a model
    /// declared with a dynamic batch, `--batch-size` for one whose batch dim was freed.
    max_batch: usize,
}

impl Embedder {
    /// Checks the model's contract: one float input `[N, 3, 112, 112]` and a `[N, D]` output.
    pub fn new(session: Session, kind: EmbedderKind, model: &str) -> Result<Self, BackendError> {
        let contract = |reason: String| BackendError::Model {
            model: model.into(),
            reason,
        };
        let [input] = session.inputs() else {
            let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
            return Err(contract(format!(
                "expected one input (the face crop), found {names:?}"
            )));
        };
        let side = ALIGNED_SIZE as i64;
        let shape: Vec<i64> = input
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let fits = |d: i64, want: i64| d == want || d < 0;
        if shape.len() != 4 || !fits(shape[1], 3) || !fits(shape[2], side) || !fits(shape[3], side)
        {
            return Err(contract(format!(
                "input `{}` has shape {shape:?}; a face embedder here takes [N, 3, 112, 112] \
                 (RGB crops aligned to the ArcFace template)",
                input.name()
            )));
        }
        let output: Vec<i64> = session
            .outputs()
            .first()
            .and_then(|o| o.dtype().tensor_shape().map(|s| s.to_vec()))
            .unwrap_or_default();
        let dim = match output.as_slice() {
            [_, d] if *d > 0 => *d as usize,
            _ if kind == EmbedderKind::SFace => DIM,
            _ => {
                return Err(contract(format!(
                    "output shape {output:?}; expected [N, D] with a fixed embedding width D"
                )))
            }
        };
        Ok(Self {
            input: input.name().to_string(),
            max_batch: if shape[0] < 0 { usize::MAX } else { 1 },
            session,
            kind,
            model: model.into(),
            dim,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Caps the faces of one run (the session's batch dim must be free).
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = max.max(1);
        self
    }

    pub fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(self.max_batch) {
            out.extend(self.run(chunk)?);
        }
        Ok(out)
    }

    fn run(&mut self, faces: &[AlignedFace]) -> Result<Vec<Vec<f32>>, BackendError> {
        let error = |e: &dyn std::fmt::Display| crate::inference_error(&self.model, e);
        if let Some(f) = faces
            .iter()
            .find(|f| f.size != ALIGNED_SIZE || f.rgb.len() != ALIGNED_SIZE * ALIGNED_SIZE * 3)
        {
            return Err(error(&format!(
                "face crop is {0}x{0}, this embedder takes {ALIGNED_SIZE}x{ALIGNED_SIZE}",
                f.size
            )));
        }
        let (mean, std) = self.kind.normalisation();
        let input = to_nchw(faces, mean, std);
        let tensor = TensorRef::from_array_view(&input).map_err(|e| error(&e))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| error(&e))?;
        let (_, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| error(&e))?;
        if data.len() != self.dim * faces.len() {
            return Err(BackendError::Model {
                model: self.model.clone(),
                reason: format!(
                    "output has {} values for {} face(s), expected {} each",
                    data.len(),
                    faces.len(),
                    self.dim
                ),
            });
        }
        Ok(data
            .chunks_exact(self.dim)
            .map(|v| {
                let mut v = v.to_vec();
                l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

/// Interleaved RGB crops -> `[n, 3, 112, 112]` RGB floats `(value - mean) / std`.
pub fn to_nchw(faces: &[AlignedFace], mean: f32, std: f32) -> Array4<f32> {
    let s = ALIGNED_SIZE;
    Array4::from_shape_fn((faces.len(), 3, s, s), |(n, c, y, x)| {
        (f32::from(faces[n].rgb[(y * s + x) * 3 + c]) - mean) / std
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_keeps_rgb_order_and_normalises() {
        let mut rgb = vec![0u8; ALIGNED_SIZE * ALIGNED_SIZE * 3];
        let p = (5 * ALIGNED_SIZE + 7) * 3;
        rgb[p..p + 3].copy_from_slice(&[1, 2, 255]);
        let faces = [
            AlignedFace {
                size: ALIGNED_SIZE,
                rgb: vec![0; rgb.len()],
            },
            AlignedFace {
                size: ALIGNED_SIZE,
                rgb,
            },
        ];
        let (mean, std) = EmbedderKind::SFace.normalisation();
        let t = to_nchw(&faces, mean, std);
        assert_eq!(t.shape(), &[2, 3, ALIGNED_SIZE, ALIGNED_SIZE]);
        assert_eq!(
            [t[[1, 0, 5, 7]], t[[1, 1, 5, 7]], t[[1, 2, 5, 7]]],
            [1.0, 2.0, 255.0]
        );
        let (mean, std) = EmbedderKind::ArcFace.normalisation();
        let t = to_nchw(&faces, mean, std);
        assert_eq!(t[[1, 2, 5, 7]], 1.0);
        assert_eq!(t[[0, 0, 0, 0]], -1.0);
    }
}
