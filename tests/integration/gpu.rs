//! The GPU path after `photo_organizer setup --gpu`, on the real files: doctor finds every CUDA
//! library in the cache with its version, and on a machine without the NVIDIA driver
//! `--execution-provider cuda` fails on libcuda.so.1 alone (with the fix) and `--gpu` falls
//! back to the CPU for exactly that reason. Runs only when `setup --gpu` filled the shared cache
//! (about 1.45 GB; CI does not fetch it): otherwise it says it skipped, and why.

use std::path::PathBuf;

use serde_json::Value;

use crate::util::*;

/// The shared cache's GPU directory, if `setup --gpu` filled it.
fn gpu_cache() -> Option<PathBuf> {
    let dir = po_backend_api::setup_cache_dir().join("gpu");
    let manifest = photo_organizer::setup::models::Manifest::builtin();
    let missing: Vec<&str> = manifest
        .gpu
        .iter()
        .filter(|a| !dir.join(&a.file).is_file())
        .map(|a| a.file.as_str())
        .collect();
    if missing.is_empty() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: the GPU libraries are not in {} ({} of {} files missing, e.g. {}); run `photo_organizer setup --gpu` to test the GPU path",
            dir.display(),
            missing.len(),
            manifest.gpu.len(),
            missing[0]
        );
        None
    }
}

/// A test directory whose cache also links the shared cache's `gpu/`.
fn with_gpu(gpu: &std::path::Path) -> TestDir {
    let t = TestDir::new();
    std::os::unix::fs::symlink(gpu, t.cache().join("gpu")).unwrap();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    t
}

fn driver_present() -> bool {
    [
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "/usr/lib64/libcuda.so.1",
        "/usr/lib/wsl/lib/libcuda.so.1",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
}

#[test]
fn after_setup_gpu_only_the_driver_is_left_to_the_user() {
    let Some(gpu) = gpu_cache() else { return };
    let t = with_gpu(&gpu);
    let out = command(&t)
        .args(["doctor", "--json"])
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let get = |what: &str| {
        checks
            .iter()
            .find(|c| c["what"] == what)
            .unwrap_or_else(|| panic!("{what} not checked: {checks:?}"))
            .clone()
    };
    // doctor loads the GPU build: it offers CUDA.
    let runtime = get("ONNX Runtime library");
    assert!(
        runtime["detail"].as_str().unwrap().contains("setup --gpu"),
        "{runtime}"
    );
    assert!(get("execution providers")["detail"]
        .as_str()
        .unwrap()
        .contains("cuda"));
    for (lib, version) in [
        ("libcudart.so.13", "13.0.96"),
        ("libcublasLt.so.13", "13.1.1.3"),
        ("libcublas.so.13", "13.1.1.3"),
        ("libcurand.so.10", "10.4.0.35"),
        ("libcufft.so.12", "12.0.0.61"),
        ("libcudnn.so.9", "9.20.0.48"),
    ] {
        let c = get(lib);
        let detail = c["detail"].as_str().unwrap();
        assert_eq!(c["ok"], true, "{c}");
        assert!(detail.starts_with(version), "{detail}");
        if !detail.contains("LD_LIBRARY_PATH") && !detail.contains("system") {
            assert!(
                detail.contains("(from photo_organizer setup --gpu)"),
                "{detail}"
            );
        }
    }
    if driver_present() {
        eprintln!("skipped the driver checks: this machine has libcuda.so.1");
        return;
    }
    let driver = get("libcuda.so.1");
    assert_eq!(driver["ok"], false);
    let fix = driver["fix"].as_str().unwrap();
    assert!(
        fix.contains("NVIDIA driver") && fix.contains("nvidia-smi"),
        "{fix}"
    );
    assert!(fix.contains("the driver is all that is missing"), "{fix}");

    // Strict: exit 2, the driver named with the fix.
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["--execution-provider", "cuda"])
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("libcuda.so.1 (the NVIDIA driver) is missing"),
        "{err}"
    );
    assert!(err.contains("nvidia-smi"), "{err}");
    assert!(
        !["libcudart", "libcublas", "libcurand", "libcudnn"]
            .iter()
            .any(|lib| err.contains(lib)),
        "no other library is missing: {err}"
    );

    // Auto: the CPU of the same GPU build, with exactly that reason.
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["--gpu", "--json"])
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &s["backend"]["device"];
    assert_eq!(d["provider"], "CPUExecutionProvider", "{d}");
    let reason = d["fallback_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cuda:")
            && reason.contains("libcuda.so.1 (the NVIDIA driver) is missing"),
        "{reason}"
    );
    assert!(reason.contains("nvidia-smi"), "{reason}");
}
