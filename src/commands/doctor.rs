//! `photo_organizer doctor`: checks the runtime, execution providers, GPUs, CUDA libraries,
//! libtorch and models, each with the fix when it fails ([`crate::setup::doctor`] does the probing).
//! Exits 1 when the default pipeline cannot run, so scripts can test for it.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use crate::{
    config::Config,
    output::report::print_json,
    setup::fetch,
    setup::models::{Manifest, Role},
    util::exit::EXIT_WITH_ERRORS,
};

pub fn run(
    config: &Config,
    json: bool,
    candidates: &[(PathBuf, String)],
    ld_library_path: Option<&str>,
    path_var: Option<&std::ffi::OsStr>,
) -> anyhow::Result<ExitCode> {
    use crate::setup::doctor::{check_libraries, gpus, library_dirs, Check};
    let mut checks: Vec<Check> = Vec::new();
    let found = candidates.iter().find(|(p, _)| p.is_file());
    checks.push(match found {
        Some((path, source)) => Check {
            what: "ONNX Runtime library".into(),
            ok: true,
            detail: format!("{} (from {source})", path.display()),
            fix: None,
        },
        None => Check {
            what: "ONNX Runtime library".into(),
            ok: false,
            detail: "libonnxruntime.so not found".into(),
            fix: Some("`photo_organizer setup`, or set ORT_DYLIB_PATH".into()),
        },
    });
    let providers = found.and_then(|_| provider_check(candidates));
    let runtime_loads = providers.as_ref().is_some_and(|c| c.ok);
    checks.extend(providers);
    checks.push(gpus());
    let runtime_dir = found.and_then(|(p, _)| p.parent());
    let dirs = library_dirs(runtime_dir, ld_library_path);
    checks.extend(check_libraries(
        &dirs,
        &[(
            "libonnxruntime_providers_cuda.so",
            "onnxruntime-gpu, beside libonnxruntime",
        )],
    ));
    let gpu_places = crate::setup::gpu_libs::places_from_env(&config.cache_dir);
    checks.extend(crate::setup::doctor::gpu_checks(
        &config.cache_dir,
        &gpu_places,
    ));
    checks.push(Check {
        what: "pure-Rust runtime (tract backend)".into(),
        ok: cfg!(feature = "tract"),
        detail: if cfg!(feature = "tract") {
            "compiled in: runs the yunet models on the CPU with no native library (`--face-backend tract`, and automatically when ONNX Runtime cannot be loaded)".into()
        } else {
            "not compiled into this build".into()
        },
        fix: (!cfg!(feature = "tract")).then(|| "rebuild with `--features tract`".into()),
    });
    checks.extend(libtorch_checks(&config.cache_dir));
    let manifest = Manifest::builtin();
    checks.push(heif_check(&config.cache_dir, &manifest));
    checks.push(ffmpeg_check(&config.cache_dir, path_var));
    let default_models = [Role::Detector, Role::Embedder].map(|r| &manifest.default_for(r).id);
    let mut missing_models = Vec::new();
    for a in &manifest.artifact {
        let st = fetch::state(&config.cache_dir, a);
        if st != fetch::State::Present && default_models.contains(&&a.id) {
            missing_models.push(a.id.as_str());
        }
        checks.push(Check {
            what: format!("{} ({:?})", a.id, a.role).to_lowercase(),
            ok: st == fetch::State::Present,
            detail: a.path_in(&config.cache_dir).display().to_string(),
            fix: (st != fetch::State::Present).then(|| "`photo_organizer setup`".into()),
        });
    }
    let verdict = pipeline_check(runtime_loads, cfg!(feature = "tract"), &missing_models);
    let can_run = verdict.ok;
    checks.push(verdict);
    if json {
        print_json(&checks)?;
    } else if !config.quiet {
        let mut out = std::io::stdout().lock();
        for c in &checks {
            writeln!(
                out,
                "[{}] {}: {}",
                if c.ok { "ok" } else { "--" },
                c.what,
                c.detail
            )?;
            if let Some(fix) = &c.fix {
                writeln!(out, "     fix: {fix}")?;
            }
        }
    }
    Ok(if can_run {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_WITH_ERRORS)
    })
}

/// libheif loaded from where `setup` puts it, with its version and the codecs it decodes. Not
/// part of the verdict: without it only HEIC/HEIF photos are reported, the rest is organised.
fn heif_check(cache_dir: &Path, manifest: &Manifest) -> crate::setup::doctor::Check {
    let files: Vec<PathBuf> = manifest
        .heif_libraries()
        .map(|a| a.path_in(cache_dir))
        .collect();
    let what = "libheif (HEIC/HEIF photos)".to_string();
    match crate::media::heif::Libheif::load(&files) {
        Ok(lib) => {
            let (hevc, av1) = lib.decoders();
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            crate::setup::doctor::Check {
                what,
                ok: hevc,
                detail: format!(
                    "{} ({}); HEVC (HEIC): {}, AV1 (AVIF): {}",
                    lib.version(),
                    files.last().expect("the manifest lists libheif").display(),
                    yes_no(hevc),
                    yes_no(av1)
                ),
                fix: None,
            }
        }
        Err(e) => crate::setup::doctor::Check {
            what,
            ok: false,
            detail: format!("{e}; HEIC/HEIF photos are reported as errors, the rest is organised"),
            fix: Some("`photo_organizer setup`".into()),
        },
    }
}

/// FFmpeg for videos: where `ffmpeg` and `ffprobe` are and which version. Not part of the
/// verdict: without it each video is listed with the fix, the photos are organised.
fn ffmpeg_check(
    cache_dir: &Path,
    path_var: Option<&std::ffi::OsStr>,
) -> crate::setup::doctor::Check {
    use crate::media::video::{Ffmpeg, VideoError, FFMPEG_FIX};
    let what = "ffmpeg (videos)".to_string();
    let found = Ffmpeg::locate(path_var, cache_dir);
    match found.and_then(|f| Ok((f.version()?, f))) {
        Ok((version, f)) => crate::setup::doctor::Check {
            what,
            ok: true,
            detail: format!("{version} ({}, {})", f.ffmpeg.display(), f.ffprobe.display()),
            fix: None,
        },
        Err(e) => crate::setup::doctor::Check {
            what,
            ok: false,
            detail: match e {
                VideoError::ToolMissing { tool, cache } => format!(
                    "`{tool}` not found on PATH or in {cache}; videos are listed as not analysed, the photos are organised"
                ),
                other => format!("{other}"),
            },
            fix: Some(FFMPEG_FIX.into()),
        },
    }
}

/// Whether the default pipeline (yunet + SFace) can run: its models are there, and ONNX Runtime
/// loads or tract can stand in for it.
fn pipeline_check(
    runtime_loads: bool,
    tract: bool,
    missing_models: &[&str],
) -> crate::setup::doctor::Check {
    let what = "default pipeline (yunet + sface)".to_string();
    if !missing_models.is_empty() {
        return crate::setup::doctor::Check {
            what,
            ok: false,
            detail: format!("cannot run: {} missing", missing_models.join(", ")),
            fix: Some("`photo_organizer setup`".into()),
        };
    }
    match (runtime_loads, tract) {
        (true, _) => crate::setup::doctor::Check {
            what,
            ok: true,
            detail: "can run on ONNX Runtime".into(),
            fix: None,
        },
        (false, true) => crate::setup::doctor::Check {
            what,
            ok: true,
            detail: "can run on tract (CPU only, slower): ONNX Runtime cannot be loaded".into(),
            fix: Some("`photo_organizer setup`, or set ORT_DYLIB_PATH, for ONNX Runtime".into()),
        },
        (false, false) => crate::setup::doctor::Check {
            what,
            ok: false,
            detail: "cannot run: ONNX Runtime cannot be loaded and tract is not compiled in".into(),
            fix: Some("`photo_organizer setup`, or set ORT_DYLIB_PATH".into()),
        },
    }
}

/// Loads the runtime and lists the execution providers it offers.
#[cfg(feature = "onnx")]
fn provider_check(candidates: &[(PathBuf, String)]) -> Option<crate::setup::doctor::Check> {
    use crate::setup::doctor::Check;
    let runtime: Vec<po_backend_onnx::RuntimeCandidate> = candidates
        .iter()
        .map(|(path, source)| po_backend_onnx::RuntimeCandidate {
            path: path.clone(),
            source: source.clone(),
        })
        .collect();
    match po_backend_onnx::load_runtime(&runtime) {
        Ok(rt) => {
            let offered: Vec<&str> = po_backend_onnx::offered_providers()
                .into_iter()
                .filter(|(_, ok)| *ok)
                .map(|(p, _)| p.name())
                .collect();
            let cuda = offered.contains(&"cuda");
            Some(Check {
                what: "execution providers".into(),
                ok: true,
                detail: format!(
                    "ONNX Runtime {} offers: {}",
                    rt.version.as_deref().unwrap_or("(unknown version)"),
                    offered.join(", ")
                ),
                fix: (!cuda).then(|| "for CUDA: `photo_organizer setup --gpu` (onnxruntime-gpu and its CUDA libraries, loaded by themselves), or set ORT_DYLIB_PATH to another GPU build".into()),
            })
        }
        Err(e) => Some(Check {
            what: "execution providers".into(),
            ok: false,
            detail: e.to_string(),
            fix: Some("`photo_organizer setup`".into()),
        }),
    }
}

#[cfg(not(feature = "onnx"))]
fn provider_check(_: &[(PathBuf, String)]) -> Option<crate::setup::doctor::Check> {
    None
}

/// libtorch (the `facenet` backend): version, where it was loaded from, CUDA and MPS; and its
/// converted models.
#[cfg(feature = "facenet")]
fn libtorch_checks(cache_dir: &Path) -> Vec<crate::setup::doctor::Check> {
    use crate::setup::doctor::Check;
    let rt = po_backend_torch::runtime_report();
    let mut checks = vec![
        Check {
            what: "libtorch (facenet backend)".into(),
            ok: true,
            detail: format!(
                "{}{}",
                rt.version,
                rt.library
                    .map(|p| format!(" at {}", p.display()))
                    .unwrap_or_default()
            ),
            fix: None,
        },
        Check {
            what: "libtorch CUDA".into(),
            ok: rt.cuda_devices > 0,
            detail: if rt.cuda_devices > 0 {
                format!("{} device(s), cuDNN {}", rt.cuda_devices, if rt.cudnn { "yes" } else { "no" })
            } else {
                "no CUDA device visible to libtorch".into()
            },
            fix: (rt.cuda_devices == 0).then(|| "the facenet backend runs on the CPU; for CUDA see docs/BACKENDS.md (facenet): it needs an NVIDIA GPU and a build that links libtorch_cuda".into()),
        },
        Check {
            what: "libtorch MPS (Apple)".into(),
            ok: rt.mps,
            detail: if rt.mps { "available" } else { "not available (macOS on Apple silicon only)" }.into(),
            fix: None,
        },
    ];
    for c in &Manifest::builtin().converted {
        let path = c.path_in(cache_dir);
        let present = path.is_file();
        checks.push(Check {
            what: format!("{} ({:?}, converted)", c.id, c.role).to_lowercase(),
            ok: present,
            detail: path.display().to_string(),
            fix: (!present).then(|| "scripts/setup-facenet.sh".into()),
        });
    }
    checks
}

#[cfg(not(feature = "facenet"))]
fn libtorch_checks(_: &Path) -> Vec<crate::setup::doctor::Check> {
    vec![crate::setup::doctor::Check {
        what: "libtorch (facenet backend)".into(),
        ok: false,
        detail: "not compiled into this build".into(),
        fix: Some(
            "scripts/setup-facenet.sh, then rebuild with `--features facenet` (only for --face-backend facenet)".into(),
        ),
    }]
}
