//! `photo_organizer doctor`: what this machine can run and what to do about what it cannot. The
//! runtime library (where, which version, which execution providers it offers), the GPUs the
//! driver reports, each CUDA library the CUDA provider loads (found where, or missing and how to
//! get it), the libtorch backend, and the models.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// One line of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub what: String,
    pub ok: bool,
    /// Where it was found, or what was seen.
    pub detail: String,
    /// The command or step that fixes it, when not ok.
    pub fix: Option<String>,
}

/// Libraries the ONNX Runtime CUDA provider (onnxruntime-gpu 1.31) loads, with what brings them.
pub const CUDA_LIBRARIES: &[(&str, &str)] = &[
    ("libcuda.so.1", "the NVIDIA driver"),
    ("libcudart.so.13", "CUDA 13 runtime (nvidia-cuda-runtime)"),
    ("libcublas.so.13", "cuBLAS 13 (nvidia-cublas)"),
    ("libcublasLt.so.13", "cuBLASLt 13 (nvidia-cublas)"),
    ("libcurand.so.10", "cuRAND (nvidia-curand)"),
    ("libcufft.so.12", "cuFFT (nvidia-cufft)"),
    ("libcudnn.so.9", "cuDNN 9 (nvidia-cudnn)"),
];

/// Directories the dynamic loader would search for a library, in a useful order.
pub fn library_dirs(runtime_dir: Option<&Path>, ld_library_path: Option<&str>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(v) = ld_library_path {
        dirs.extend(std::env::split_paths(v));
    }
    if let Some(d) = runtime_dir {
        dirs.push(d.to_path_buf());
    }
    dirs.extend(
        [
            "/usr/local/nvidia/lib64",
            "/usr/local/cuda/lib64",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/lib",
        ]
        .map(PathBuf::from),
    );
    dirs.dedup();
    dirs
}

/// Each library found (first directory that has it) or missing with its fix.
pub fn check_libraries(dirs: &[PathBuf], libraries: &[(&str, &str)]) -> Vec<Check> {
    libraries
        .iter()
        .map(
            |(name, from)| match dirs.iter().map(|d| d.join(name)).find(|p| p.exists()) {
                Some(path) => Check {
                    what: (*name).into(),
                    ok: true,
                    detail: path.display().to_string(),
                    fix: None,
                },
                None => Check {
                    what: (*name).into(),
                    ok: false,
                    detail: format!("not found ({from})"),
                    fix: Some(if *name == "libcuda.so.1" {
                        "install the NVIDIA driver for your GPU (`nvidia-smi` checks it)".into()
                    } else {
                        "`photo_organizer setup --gpu`".into()
                    }),
                },
            },
        )
        .collect()
}

/// GPUs as the NVIDIA driver reports them: `nvidia-smi` if present, else /proc.
pub fn gpus() -> Check {
    let smi = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=index,name,driver_version,memory.total",
            "--format=csv,noheader",
        ])
        .output();
    if let Ok(out) = smi {
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout)
                .trim()
                .replace('\n', "; ");
            return Check {
                what: "NVIDIA GPUs".into(),
                ok: !text.is_empty(),
                detail: text,
                fix: None,
            };
        }
    }
    let proc = Path::new("/proc/driver/nvidia/gpus");
    let n = std::fs::read_dir(proc).map_or(0, |d| d.count());
    Check {
        what: "NVIDIA GPUs".into(),
        ok: n > 0,
        detail: if n > 0 {
            format!("{n} listed in {}", proc.display())
        } else {
            "none seen (no nvidia-smi, no /proc/driver/nvidia)".into()
        },
        fix: (n == 0).then(|| "without an NVIDIA GPU and driver, CUDA cannot run: use the CPU (default) or --gpu to pick what works".into()),
    }
}

/// The GPU path `setup --gpu` provides: onnxruntime-gpu's files in the cache, then which copy
/// of each CUDA library (and the driver) the CUDA provider gets, with its version and source,
/// each copy passed over and why, and TensorRT's libraries (not fetched).
pub fn gpu_checks(cache_dir: &Path, places: &[crate::setup::gpu_libs::Place]) -> Vec<Check> {
    use crate::{setup::gpu_libs, setup::models::Role};
    let manifest = crate::setup::models::Manifest::builtin();
    let mut checks: Vec<Check> = manifest
        .gpu
        .iter()
        .filter(|a| a.role == Role::GpuRuntime)
        .map(|a| {
            let path = a.path_in(cache_dir);
            let ok = path.is_file();
            Check {
                what: format!("{} {} ({})", a.package, a.version, a.file),
                ok,
                detail: if ok {
                    path.display().to_string()
                } else {
                    format!("not in {}", path.display())
                },
                fix: (!ok).then(|| {
                    format!(
                        "`photo_organizer setup --gpu` (downloads {:.0} MB)",
                        manifest.gpu_download_size() as f64 / 1e6
                    )
                }),
            }
        })
        .collect();
    let choices = gpu_libs::choose(&gpu_libs::wanted_libraries(&manifest), places);
    let others_found = choices
        .iter()
        .filter(|c| c.wanted.soname != gpu_libs::DRIVER)
        .all(|c| c.found.is_some());
    for c in &choices {
        let passed = if c.passed_over.is_empty() {
            String::new()
        } else {
            format!("; passed over: {}", c.passed_over.join("; "))
        };
        let driver = c.wanted.soname == gpu_libs::DRIVER;
        checks.push(match &c.found {
            Some(f) => Check {
                what: c.wanted.soname.clone(),
                ok: true,
                detail: format!(
                    "{} at {} (from {}){passed}",
                    f.version.as_deref().unwrap_or("version not readable"),
                    f.path.display(),
                    f.source
                ),
                fix: None,
            },
            None => Check {
                what: c.wanted.soname.clone(),
                ok: false,
                detail: format!("not found ({}){passed}", c.wanted.brought_by),
                fix: Some(if driver {
                    format!(
                        "install the NVIDIA driver for your GPU; `nvidia-smi` must then list the GPU{}",
                        if others_found {
                            " (every other CUDA library is there: the driver is all that is missing)"
                        } else {
                            ""
                        }
                    )
                } else {
                    "`photo_organizer setup --gpu`".into()
                }),
            },
        });
    }
    let tensorrt = ["libnvinfer.so.10", "libnvonnxparser.so.10"].map(|name| gpu_libs::Wanted {
        soname: name.into(),
        min_version: Some("10.0".into()),
        pinned_version: None,
        brought_by: "TensorRT 10, pip tensorrt-cu13; not fetched by `setup --gpu`".into(),
    });
    for c in gpu_libs::choose(&tensorrt, places) {
        checks.push(match c.found {
            Some(f) => Check {
                what: format!("{} (TensorRT only)", c.wanted.soname),
                ok: true,
                detail: format!("{} (from {})", f.path.display(), f.source),
                fix: None,
            },
            None => Check {
                what: format!("{} (TensorRT only)", c.wanted.soname),
                ok: false,
                detail: format!("not found ({})", c.wanted.brought_by),
                fix: Some("only for `--execution-provider tensorrt`: `pip install tensorrt-cu13` and put its lib directory on LD_LIBRARY_PATH".into()),
            },
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_are_found_in_the_first_directory_that_has_them() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("libcudart.so.13"), b"").unwrap();
        std::fs::write(a.path().join("libcudnn.so.9"), b"").unwrap();
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        let checks = check_libraries(&dirs, CUDA_LIBRARIES);
        let get = |n: &str| checks.iter().find(|c| c.what == n).unwrap().clone();
        assert!(get("libcudart.so.13").ok);
        assert!(get("libcudart.so.13")
            .detail
            .starts_with(&b.path().display().to_string()));
        assert!(get("libcudnn.so.9").ok);
        let missing = get("libcublasLt.so.13");
        assert!(!missing.ok && missing.fix.unwrap().contains("setup --gpu"));
    }

    #[test]
    fn library_dirs_put_ld_library_path_first() {
        let dirs = library_dirs(Some(Path::new("/rt")), Some("/x:/y"));
        assert_eq!(
            &dirs[..3],
            &[
                PathBuf::from("/x"),
                PathBuf::from("/y"),
                PathBuf::from("/rt")
            ]
        );
    }
}
