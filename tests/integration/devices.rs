//! Devices and providers: what really ran is reported, an explicit request that cannot be met
//! is an error naming the cause and the fix, `--gpu` falls back with a reason, `doctor` finds
//! (fake) CUDA libraries. This machine's ONNX Runtime is the CPU build, so CUDA is refused here
//! for real.

use std::fs;

use serde_json::Value;

use crate::util::*;

fn one_photo() -> TestDir {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    t
}

#[test]
fn an_explicit_provider_that_cannot_run_is_an_error_with_the_fix() {
    for how in [
        vec!["--execution-provider", "cuda"],
        vec!["--execution-provider", "tensorrt", "--gpu-device", "1"],
    ] {
        let t = one_photo();
        let out = command(&t)
            .arg("-s")
            .arg(t.library())
            .arg("-o")
            .arg(t.out())
            .args(&how)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{how:?}");
        let err = stderr(&out);
        assert!(err.contains("not enabled in this build"), "{err}");
        assert!(
            err.contains("setup --gpu") && err.contains("ORT_DYLIB_PATH"),
            "{err}"
        );
        assert!(!t.out().exists() || files_under(&t.out()).is_empty());
    }
}

#[test]
fn gpu_auto_falls_back_to_the_cpu_and_says_why() {
    let t = one_photo();
    let out = organize(&t, &["--gpu", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: running on cpu"),
        "{}",
        stderr(&out)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &s["backend"]["device"];
    assert_eq!(d["device"], "cpu");
    assert_eq!(d["provider"], "CPUExecutionProvider");
    assert!(
        d["fallback_reason"].as_str().unwrap().starts_with("cuda:"),
        "{d}"
    );
    assert_eq!(t.manifest()["summary"]["backend"]["device"], *d);
}

#[test]
fn a_settings_file_selects_the_provider_and_is_validated() {
    let t = one_photo();
    let cfg = t.dir.path().join("po.toml");
    fs::write(&cfg, "[recognition]\nexecution_provider = \"cuda\"\n[cuda]\ngpu_mem_limit = 1073741824\ncudnn_conv_algo_search = \"heuristic\"\n").unwrap();
    let run = |cfg: &std::path::Path| {
        command(&t)
            .arg("-s")
            .arg(t.library())
            .arg("-o")
            .arg(t.out())
            .arg("--config")
            .arg(cfg)
            .output()
            .unwrap()
    };
    let out = run(&cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("device cuda unavailable"),
        "{}",
        stderr(&out)
    );

    fs::write(&cfg, "[recognition]\nexecution_provider = \"cpu\"\n").unwrap();
    assert_eq!(run(&cfg).status.code(), Some(0));

    fs::write(&cfg, "[cuda]\ncudnn_conv_algo_search = \"fastest\"\n").unwrap();
    let out = run(&cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cudnn_conv_algo_search"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn doctor_reports_the_runtime_and_finds_cuda_libraries_where_they_are() {
    let t = TestDir::new();
    let fake = t.dir.path().join("fake-cuda");
    fs::create_dir_all(&fake).unwrap();
    for lib in ["libcudart.so.13", "libcudnn.so.9"] {
        fs::write(fake.join(lib), b"").unwrap();
    }
    let out = command(&t)
        .args(["doctor", "--json"])
        .env("LD_LIBRARY_PATH", &fake)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let get = |what: &str| {
        checks
            .iter()
            .find(|c| c["what"] == what)
            .unwrap_or_else(|| panic!("{what} not checked"))
            .clone()
    };
    assert_eq!(get("ONNX Runtime library")["ok"], true);
    assert!(get("execution providers")["detail"]
        .as_str()
        .unwrap()
        .contains("cpu"));
    let cudart = get("libcudart.so.13");
    assert_eq!(cudart["ok"], true);
    let detail = cudart["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("at {}", fake.join("libcudart.so.13").display()))
            && detail.contains("(from LD_LIBRARY_PATH)"),
        "{detail}"
    );
    assert_eq!(get("libcudnn.so.9")["ok"], true);
    let missing = get("libcublasLt.so.13");
    assert_eq!(missing["ok"], false);
    assert!(missing["fix"].as_str().unwrap().contains("setup --gpu"));
}
