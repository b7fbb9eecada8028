//! Small pieces every domain uses and that use nothing of the crate: exit codes and the Ctrl-C
//! flag, progress sinks, safe writes under OUT, lossy paths in JSON, a deterministic generator
//! and the AVX2 dispatch of pixel loops. Nothing here depends on another folder.

pub mod exit;
pub mod paths;
pub mod progress;
pub mod rng;
pub mod safe_fs;
pub mod simd;
