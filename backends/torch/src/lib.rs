//! libtorch face backend (`--face-backend facenet`): MTCNN (P/R/O-Net) finds faces and five
//! landmarks, FaceNet (InceptionResNetV1, VGGFace2) embeds 160x160 crops into 512-d vectors.
//! Both are TorchScript files that scripts/setup-facenet.sh converts from registry packages.
//! [`cascade`] and [`facenet`] are plain Rust and always built; the backend itself needs the
//! `libtorch` feature (the root crate's `facenet` feature) and libtorch 2.13.0.

pub mod cascade;
pub mod facenet;

#[cfg(feature = "libtorch")]
mod backend;
#[cfg(feature = "libtorch")]
pub use backend::{runtime_report, RuntimeReport, TorchBackend, TorchConfig};

pub const MTCNN_MODEL_ID: &str = "mtcnn-facenet-pytorch";

/// The command that installs libtorch and converts the models.
pub const SETUP_FIX: &str = "run scripts/setup-facenet.sh (installs libtorch 2.13.0 from the PyPI torch wheel and converts the models), then build with `--features facenet` and run with the LD_LIBRARY_PATH it prints";
