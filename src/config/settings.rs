//! The settings file (TOML) and the device request: `--config FILE`, else
//! `$PHOTO_ORGANIZER_CONFIG`, else the default file; flags win over the file, the file over the
//! defaults.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::ValueEnum;
use po_backend_api::{DeviceOptions, DeviceRequest, Provider};
use serde::Deserialize;

use crate::cli::ExecutionProvider;

/// The settings file (TOML): `--config FILE`, else `$PHOTO_ORGANIZER_CONFIG`, else the default
/// file ([`default_settings_path`]). docs/BACKENDS.md documents every key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    #[serde(default)]
    pub recognition: RecognitionSettings,
    #[serde(default)]
    pub cuda: CudaSettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognitionSettings {
    pub execution_provider: Option<String>,
    pub device_id: Option<u32>,
    pub fp16: Option<bool>,
    pub batch_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CudaSettings {
    pub device_id: Option<u32>,
    pub gpu_mem_limit: Option<usize>,
    pub arena_extend_strategy: Option<String>,
    pub cudnn_conv_algo_search: Option<String>,
}

/// `$XDG_CONFIG_HOME/photo_organizer/config.toml`, else `~/.config/photo_organizer/config.toml`
/// (an XDG_CONFIG_HOME that is not absolute is ignored, as the XDG spec says).
pub fn default_settings_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("photo_organizer").join("config.toml"))
}

/// Reads the settings file: `explicit` (`--config`), else the one `$PHOTO_ORGANIZER_CONFIG`
/// names (both must exist), else the default file if there is one. A file that does not parse
/// is an error naming it.
pub(super) fn settings_file(explicit: Option<&Path>) -> anyhow::Result<SettingsFile> {
    let from_env = std::env::var_os("PHOTO_ORGANIZER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let (path, what, required) = match (explicit, from_env) {
        (Some(path), _) => (path.to_path_buf(), "--config", true),
        (None, Some(path)) => (path, "PHOTO_ORGANIZER_CONFIG", true),
        (None, None) => match default_settings_path() {
            Some(path) => (path, "config file", false),
            None => return Ok(SettingsFile::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SettingsFile::default())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {what} {}", path.display())),
    };
    toml::from_str(&text).with_context(|| format!("invalid {what} {}", path.display()))
}

/// Device request and options from the flags, then the settings file, then the defaults.
pub(super) fn device_settings(
    args: &crate::cli::OrganizeArgs,
    file: SettingsFile,
) -> anyhow::Result<(DeviceRequest, DeviceOptions)> {
    let from_file = match file.recognition.execution_provider.as_deref() {
        Some(name) => Some(ExecutionProvider::from_str(name, true).map_err(|_| {
            let all: Vec<String> = ExecutionProvider::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_string())
                .collect();
            anyhow::anyhow!(
                "[recognition] execution_provider = {name:?}: one of {}",
                all.join(", ")
            )
        })?),
        None => None,
    };
    let request = match (args.gpu, args.execution_provider.or(from_file)) {
        (true, _) | (false, Some(ExecutionProvider::Auto)) => DeviceRequest::Auto,
        (false, Some(named)) => DeviceRequest::Exactly(provider(named)),
        (false, None) => DeviceRequest::Cpu,
    };
    let check = |value: &Option<String>, allowed: &[&str], what: &str| -> anyhow::Result<()> {
        match value {
            Some(v) if !allowed.contains(&v.as_str()) => {
                bail!("[cuda] {what} = {v:?}: one of {allowed:?}")
            }
            _ => Ok(()),
        }
    };
    check(
        &file.cuda.arena_extend_strategy,
        &["next_power_of_two", "same_as_requested"],
        "arena_extend_strategy",
    )?;
    check(
        &file.cuda.cudnn_conv_algo_search,
        &["exhaustive", "heuristic", "default"],
        "cudnn_conv_algo_search",
    )?;
    let options = DeviceOptions {
        device_id: args
            .gpu_device
            .or(file.recognition.device_id)
            .or(file.cuda.device_id)
            .unwrap_or(0),
        gpu_mem_limit: file.cuda.gpu_mem_limit,
        arena_extend_strategy: file.cuda.arena_extend_strategy,
        cudnn_conv_algo_search: file.cuda.cudnn_conv_algo_search,
        fp16: args.fp16 || file.recognition.fp16.unwrap_or(false),
        engine_cache_dir: None,
    };
    Ok((request, options))
}

fn provider(named: ExecutionProvider) -> Provider {
    match named {
        ExecutionProvider::Cpu | ExecutionProvider::Auto => Provider::Cpu,
        ExecutionProvider::Cuda => Provider::Cuda,
        ExecutionProvider::TensorRt => Provider::TensorRt,
        ExecutionProvider::Rocm => Provider::Rocm,
        ExecutionProvider::OpenVino => Provider::OpenVino,
        ExecutionProvider::CoreMl => Provider::CoreMl,
        ExecutionProvider::DirectMl => Provider::DirectMl,
    }
}
