//! `photo_organizer --version`: the version and the backends compiled into this build; with
//! `-v` also the ONNX Runtime library the runtime candidates resolve to, as `doctor` finds it.

use std::{io::Write, path::PathBuf, process::ExitCode};

/// Each backend feature and whether this build has it.
pub const BACKENDS: [(&str, bool); 3] = [
    ("onnx", cfg!(feature = "onnx")),
    ("tract", cfg!(feature = "tract")),
    ("facenet", cfg!(feature = "facenet")),
];

pub fn run(verbose: bool, candidates: &[(PathBuf, String)]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "photo_organizer {}", env!("CARGO_PKG_VERSION"))?;
    let names = |compiled: bool| -> Vec<&str> {
        BACKENDS
            .iter()
            .filter(|(_, on)| *on == compiled)
            .map(|(name, _)| *name)
            .collect()
    };
    let (with, without) = (names(true), names(false));
    if with.is_empty() {
        writeln!(out, "backends: none")?;
    } else {
        writeln!(out, "backends: {}", with.join(", "))?;
    }
    if !without.is_empty() {
        writeln!(out, "not compiled: {}", without.join(", "))?;
    }
    if verbose {
        writeln!(out, "onnx runtime: {}", runtime_line(candidates))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The first runtime candidate that exists, where it came from and its version; or why none.
#[cfg(feature = "onnx")]
fn runtime_line(candidates: &[(PathBuf, String)]) -> String {
    let Some((path, source)) = candidates.iter().find(|(p, _)| p.is_file()) else {
        return not_found(candidates);
    };
    let runtime: Vec<po_backend_onnx::RuntimeCandidate> = candidates
        .iter()
        .map(|(path, source)| po_backend_onnx::RuntimeCandidate {
            path: path.clone(),
            source: source.clone(),
        })
        .collect();
    match po_backend_onnx::load_runtime(&runtime) {
        Ok(rt) => format!(
            "{} (from {}), version {}",
            rt.path.display(),
            rt.source,
            rt.version.as_deref().unwrap_or("unknown")
        ),
        Err(e) => format!("{} (from {source}) cannot be loaded: {e}", path.display()),
    }
}

#[cfg(not(feature = "onnx"))]
fn runtime_line(candidates: &[(PathBuf, String)]) -> String {
    match candidates.iter().find(|(p, _)| p.is_file()) {
        Some((path, source)) => format!(
            "{} (from {source}), unused: the onnx backend is not compiled in",
            path.display()
        ),
        None => not_found(candidates),
    }
}

fn not_found(candidates: &[(PathBuf, String)]) -> String {
    let mut sources: Vec<&str> = candidates.iter().map(|(_, s)| s.as_str()).collect();
    sources.dedup();
    format!(
        "not found (looked in: {}); `photo_organizer setup` fetches it{}",
        sources.join(", "),
        if cfg!(feature = "tract") {
            ", and until then the default models run on tract"
        } else {
            ""
        }
    )
}
