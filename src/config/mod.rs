//! Validated, resolved configuration: the second phase after clap. Paths are made absolute,
//! threads counted, the cache directory and every model and runtime candidate resolved. The
//! core takes `&Config` and never sees clap or the environment.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use globset::{Glob, GlobSet, GlobSetBuilder};
use po_backend_api::{DetectOptions, DeviceOptions, DeviceRequest, Provider};

use crate::{
    cli::{Cli, Command, FaceBackend},
    setup::models::{Manifest, Role},
};

mod people;
mod settings;

use people::people_config;
pub use people::{PeopleAction, PeopleConfig, ReviewConfig};
pub use settings::{default_settings_path, SettingsFile};
use settings::{device_settings, settings_file};

#[derive(Debug, Clone)]
pub struct Config {
    pub cache_dir: PathBuf,
    pub verbose: bool,
    /// `-q`: no progress, warnings or summary text.
    pub quiet: bool,
    pub mode: Mode,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Organize(Box<OrganizeConfig>),
    Setup {
        check: bool,
        all: bool,
        json: bool,
        gpu: bool,
    },
    People(PeopleConfig),
    Review(ReviewConfig),
    /// `eval`: an organize configuration over the labelled folder that never writes output.
    Eval {
        organize: Box<OrganizeConfig>,
        json: bool,
        half: Option<crate::cli::EvalHalf>,
    },
    Bench(BenchConfig),
    Doctor {
        json: bool,
        runtime_candidates: Vec<(PathBuf, String)>,
        ld_library_path: Option<String>,
        /// `PATH`, where `ffmpeg` and `ffprobe` are looked for (videos).
        path_var: Option<std::ffi::OsString>,
    },
    /// `--version`; with `-v` also the runtime library found among the candidates.
    Version {
        runtime_candidates: Vec<(PathBuf, String)>,
    },
    Completions(clap_complete::Shell),
    Man,
}

#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The library, as an organize configuration that is never run for writing.
    pub organize: Option<Box<OrganizeConfig>>,
    pub out: PathBuf,
    pub cluster_sizes: Vec<usize>,
    pub cluster_only: Option<usize>,
    /// `--batch-sizes` for the end-to-end runs, each `--rounds` times, alternated.
    pub batch_sizes: Vec<usize>,
    pub rounds: usize,
}

pub use crate::output::plan::Transfer;

/// `-j` above this many threads per core only adds memory and contention.
const MAX_THREADS_PER_CORE: usize = 4;
/// Largest `--batch-size`: 256 photos letterboxed to 640x640 are already 1.2 GB of input.
const MAX_BATCH_SIZE: usize = 256;

/// Why `--face-backend facenet` cannot run in a build without the `facenet` feature, and the fix.
pub const FACENET_NOT_COMPILED: &str = "backend `facenet` is not compiled into this build; run scripts/setup-facenet.sh (installs libtorch 2.13.0, converts the models), then rebuild with `cargo build --release --features facenet` and the LIBTORCH it prints";

/// Which runtime runs the face models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceRuntime {
    /// ONNX Runtime (`yunet`, `insightface`, `yolov8`); `yunet` on the CPU falls back to tract
    /// when libonnxruntime cannot be loaded.
    OnnxRuntime,
    /// tract, pure Rust, CPU only (`--face-backend tract`): no native library needed.
    Tract,
    /// libtorch (`--face-backend facenet`, `--features facenet`): MTCNN's three networks find
    /// faces (`detector_model` is O-Net), FaceNet (`embedder_model`) embeds them.
    Torch { pnet: PathBuf, rnet: PathBuf },
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// indicatif bars on a terminal.
    Bars,
    /// One line per stage, for logs and pipes.
    Plain,
    /// Nothing (`-q`).
    Silent,
}

#[derive(Debug, Clone)]
pub struct OrganizeConfig {
    pub source: PathBuf,
    pub output: PathBuf,
    pub dry_run: bool,
    pub threads: usize,
    /// Bytes that decoded photos in flight may hold (`--max-memory`).
    pub max_memory_bytes: u64,
    pub min_cluster_size: usize,
    pub merge_distance: f32,
    pub detect: DetectOptions,
    pub json: bool,
    pub progress: ProgressStyle,
    pub device: DeviceRequest,
    pub device_options: DeviceOptions,
    /// `--batch-size` (or `batch_size` in the settings file); `None`: the backend's default for
    /// the device that runs.
    pub batch_size: Option<usize>,
    /// Places libonnxruntime may be, in order, each with what put it there.
    pub runtime_candidates: Vec<(PathBuf, String)>,
    /// CUDA libraries to load by full path, in order, before a GPU provider is registered
    /// ([`crate::setup::gpu_libs`]); empty on the CPU.
    pub gpu_libraries: Vec<PathBuf>,
    /// libheif's files, in loading order ([`crate::media::heif`]).
    pub heif_libraries: Vec<PathBuf>,
    pub runtime: FaceRuntime,
    /// Manifest id of the detector.
    pub detector_id: String,
    pub detector_model: PathBuf,
    /// The default detector (YuNet), which finds landmarks for a boxes-only detector.
    pub landmark_model: PathBuf,
    /// RetinaFace, the second opinion that tells pets' faces from people's (animals.rs).
    pub face_check_model: PathBuf,
    /// Whether that model is in the cache, verified: analyses made without the check are then
    /// analysed again (pipeline/analyse.rs).
    pub face_check_ready: bool,
    pub embedder_model: PathBuf,
    /// The manifest id of the embedder, or `arcface-<sha256 prefix>` for `--embedder-model`.
    pub embedder_id: String,
    /// Whether the embedder is the user's ArcFace-style model rather than SFace.
    pub custom_embedder: bool,
    pub known: Option<PathBuf>,
    pub transfer: Transfer,
    pub by_year: bool,
    /// `output` as the key of its people in the store.
    pub collection: String,
    /// `--exclude`: library paths (relative to `source`) left out of the walk.
    pub exclude: GlobSet,
    /// `-q`: no summary text; failed photos are listed on stderr instead.
    pub quiet: bool,
    /// The arguments as given, paths made absolute: recorded in the manifest for `review`.
    pub settings: crate::cli::OrganizeArgs,
}

/// `--exclude` globs as one set; a bad glob is an error naming it.
fn exclude_set(globs: &[String]) -> anyhow::Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        set.add(Glob::new(g).with_context(|| format!("invalid --exclude {g:?}"))?);
    }
    set.build().context("invalid --exclude globs")
}

/// The canonical form of a path that may not exist yet (its nearest existing ancestor is
/// resolved, the rest appended), so one directory always gives one key.
pub fn canonical_key(path: &Path) -> String {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut key = existing.canonicalize().unwrap_or(existing);
    key.extend(rest.iter().rev());
    key.to_string_lossy().into_owned()
}

/// `$XDG_CACHE_HOME/photo_organizer`, else `~/.cache/photo_organizer`.
fn default_cache_dir() -> anyhow::Result<PathBuf> {
    po_backend_api::default_cache_dir()
        .context("cannot find a cache directory: set HOME, XDG_CACHE_HOME or --cache-dir")
}

/// Where libonnxruntime is looked for: ORT_DYLIB_PATH, then (for a GPU) `setup --gpu`'s GPU
/// build, then the cache, then the system.
fn runtime_candidates(cache_dir: &Path, manifest: &Manifest, gpu: bool) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        out.push((PathBuf::from(p), "ORT_DYLIB_PATH".to_string()));
    }
    if gpu {
        let gpu_build = manifest.gpu_runtime().path_in(cache_dir);
        out.push((gpu_build, "photo_organizer setup --gpu".to_string()));
    }
    let cached = manifest.default_for(Role::Runtime).path_in(cache_dir);
    out.push((cached, "photo_organizer setup".to_string()));
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    dirs.extend(
        [
            "/usr/local/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
        ]
        .map(PathBuf::from),
    );
    for dir in dirs {
        for name in ["libonnxruntime.so", "libonnxruntime.so.1"] {
            out.push((dir.join(name), "system".to_string()));
        }
    }
    out
}

impl TryFrom<Cli> for Config {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        let cache_dir = match cli.global.cache_dir {
            Some(d) => std::path::absolute(d).context("cannot resolve --cache-dir")?,
            None => default_cache_dir()?,
        };
        let quiet = cli.global.quiet;
        let mode = match cli.command {
            _ if cli.version => Mode::Version {
                runtime_candidates: runtime_candidates(&cache_dir, &Manifest::builtin(), false),
            },
            Some(Command::Completions { shell }) => Mode::Completions(shell),
            Some(Command::Man) => Mode::Man,
            Some(Command::Setup(args)) => Mode::Setup {
                check: args.check,
                all: args.all,
                json: args.json,
                gpu: args.gpu,
            },
            Some(Command::People(args)) => Mode::People(people_config(args)?),
            Some(Command::Review(args)) => Mode::Review(ReviewConfig {
                output: std::path::absolute(&args.output)
                    .with_context(|| format!("cannot resolve {}", args.output.display()))?,
                collection: canonical_key(&args.output),
                port: args.port,
                open: args.open,
            }),
            Some(Command::Doctor(args)) => Mode::Doctor {
                json: args.json,
                runtime_candidates: runtime_candidates(&cache_dir, &Manifest::builtin(), {
                    let m = Manifest::builtin();
                    m.gpu_runtime().path_in(&cache_dir).is_file()
                }),
                ld_library_path: std::env::var("LD_LIBRARY_PATH").ok(),
                path_var: std::env::var_os("PATH"),
            },
            Some(Command::Bench(args)) => {
                let organize = match args.source {
                    Some(source) => Some(Box::new(organize_config(
                        read_only_args(source, args.threads, "bench"),
                        SettingsFile::default(),
                        &cache_dir,
                        quiet,
                    )?)),
                    None if args.cluster_only.is_none()
                        && args.cluster_sizes.iter().all(|n| *n == 0) =>
                    {
                        bail!("nothing to measure: give --source LIBRARY and/or --cluster-sizes")
                    }
                    None => None,
                };
                Mode::Bench(BenchConfig {
                    organize,
                    out: args.out,
                    cluster_sizes: args.cluster_sizes.into_iter().filter(|n| *n > 0).collect(),
                    cluster_only: args.cluster_only,
                    batch_sizes: args.batch_sizes.into_iter().map(|n| n.max(1)).collect(),
                    rounds: args.rounds.max(1),
                })
            }
            Some(Command::Eval(args)) => {
                let (json, half) = (args.json, args.half);
                let organize = crate::cli::OrganizeArgs {
                    min_cluster_size: args.min_cluster_size,
                    min_face_score: args.min_face_score,
                    merge_distance: args.merge_distance,
                    json,
                    face_backend: args.face_backend,
                    embedder_model: args.embedder_model,
                    ..read_only_args(args.dir, args.threads, "eval")
                };
                // eval measures grouping, not devices: the settings file does not apply.
                Mode::Eval {
                    organize: Box::new(organize_config(
                        organize,
                        SettingsFile::default(),
                        &cache_dir,
                        quiet,
                    )?),
                    json,
                    half,
                }
            }
            None => {
                let file = settings_file(cli.organize.config.as_deref())?;
                Mode::Organize(Box::new(organize_config(
                    cli.organize,
                    file,
                    &cache_dir,
                    quiet,
                )?))
            }
        };
        Ok(Config {
            cache_dir,
            verbose: cli.global.verbose,
            quiet,
            mode,
        })
    }
}

/// Organize arguments for a command that reads a library but never writes an output (eval,
/// bench): defaults, plus an output path that cannot be a real folder.
fn read_only_args(source: PathBuf, threads: Option<usize>, what: &str) -> crate::cli::OrganizeArgs {
    crate::cli::OrganizeArgs {
        source: Some(source),
        output: Some(
            std::env::temp_dir().join(format!("photo_organizer-{what}-{}", std::process::id())),
        ),
        dry_run: true,
        threads,
        max_memory: crate::media::budget::DEFAULT_MAX_MEMORY_MB,
        min_cluster_size: 2,
        min_face_score: DetectOptions::default().score_threshold,
        merge_distance: crate::people::cluster::DEFAULT_MERGE_DISTANCE,
        json: true,
        known: None,
        move_files: false,
        hardlink: false,
        symlink: false,
        by_year: false,
        face_backend: FaceBackend::Yunet,
        embedder_model: None,
        gpu: false,
        execution_provider: None,
        gpu_device: None,
        fp16: false,
        batch_size: None,
        config: None,
        exclude: Vec::new(),
    }
}

/// The organize configuration of recorded arguments (a manifest's `settings`), with the
/// settings file they name or the default one, as a fresh run would read it.
pub fn organize_config_of(
    args: crate::cli::OrganizeArgs,
    cache_dir: &Path,
    quiet: bool,
) -> anyhow::Result<OrganizeConfig> {
    let file = settings_file(args.config.as_deref())?;
    organize_config(args, file, cache_dir, quiet)
}

fn organize_config(
    args: crate::cli::OrganizeArgs,
    settings: SettingsFile,
    cache_dir: &Path,
    quiet: bool,
) -> anyhow::Result<OrganizeConfig> {
    let given = args.clone();
    let batch_size = args.batch_size.or(settings.recognition.batch_size);
    if let Some(n) = batch_size.filter(|n| !(1..=MAX_BATCH_SIZE).contains(n)) {
        bail!("--batch-size {n} (or batch_size in the settings file) must be between 1 and {MAX_BATCH_SIZE}");
    }
    let (device, mut device_options) = device_settings(&args, settings)?;
    // TensorRT builds an engine per model in minutes: kept with the other cached files.
    device_options.engine_cache_dir = Some(cache_dir.join("trt"));
    let (Some(source), Some(output)) = (args.source, args.output) else {
        bail!("both --source LIBRARY and --output OUT are needed (see --help)");
    };
    if !source.is_dir() {
        bail!("source {} is not a directory", source.display());
    }
    let source = source
        .canonicalize()
        .with_context(|| format!("cannot resolve source {}", source.display()))?;
    let output = std::path::absolute(&output)
        .with_context(|| format!("cannot resolve output {}", output.display()))?;
    let output = match output.canonicalize() {
        Ok(existing) => existing,
        Err(_) => output,
    };
    if output == source {
        bail!("output and source are the same directory; choose a separate --output");
    }
    if source.starts_with(&output) {
        bail!(
            "source {} is inside output {}; choose an --output outside the library",
            source.display(),
            output.display()
        );
    }
    if !(0.0..=1.0).contains(&args.min_face_score) {
        bail!("--min-face-score must be between 0 and 1");
    }
    if !(0.0..=2.0).contains(&args.merge_distance) {
        bail!("--merge-distance must be between 0 and 2 (distance between unit vectors)");
    }
    if args.min_cluster_size < 2 {
        bail!("--min-cluster-size must be at least 2");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) if n > cores * MAX_THREADS_PER_CORE => bail!(
            "--threads {n} is more than this machine can use: at most {} ({MAX_THREADS_PER_CORE} per core, {cores} cores)",
            cores * MAX_THREADS_PER_CORE
        ),
        Some(n) => n,
        None => cores,
    };
    if args.max_memory < 64 {
        bail!(
            "--max-memory {} MB is too little to decode photos; give at least 64",
            args.max_memory
        );
    }
    let known = match args.known {
        Some(k) if !k.is_dir() => bail!("--known {} is not a directory", k.display()),
        Some(k) => Some(k.canonicalize().context("cannot resolve --known")?),
        None => None,
    };
    let transfer = match (args.move_files, args.hardlink, args.symlink) {
        (true, _, _) => Transfer::Move,
        (_, true, _) => Transfer::Hardlink,
        (_, _, true) => Transfer::Symlink,
        _ => Transfer::Copy,
    };
    let collection = canonical_key(&output);
    let manifest = Manifest::builtin();
    let onnx_detector = match args.face_backend {
        FaceBackend::Yunet => Some((
            FaceRuntime::OnnxRuntime,
            manifest.default_for(Role::Detector).clone(),
        )),
        FaceBackend::Insightface => Some((
            FaceRuntime::OnnxRuntime,
            manifest
                .by_id("scrfd-2.5g-kps")
                .expect("the manifest lists SCRFD (unit-tested)")
                .clone(),
        )),
        FaceBackend::Tract => {
            if !matches!(
                device,
                DeviceRequest::Cpu | DeviceRequest::Exactly(Provider::Cpu)
            ) {
                bail!(
                    "--face-backend tract runs on the CPU only; drop --gpu/--execution-provider (or execution_provider in --config), or choose --face-backend yunet"
                );
            }
            Some((
                FaceRuntime::Tract,
                manifest.default_for(Role::Detector).clone(),
            ))
        }
        FaceBackend::Yolov8 => Some((
            FaceRuntime::OnnxRuntime,
            manifest
                .by_id("yolov8-face")
                .expect("the manifest lists YOLOv8-face (unit-tested)")
                .clone(),
        )),
        FaceBackend::Facenet if !cfg!(feature = "facenet") => {
            bail!("{FACENET_NOT_COMPILED}")
        }
        FaceBackend::Facenet => None,
    };
    let (runtime, detector_id, detector_model, fixed_embedder) = match onnx_detector {
        Some((runtime, detector)) => {
            if detector.optional && !detector.path_in(cache_dir).is_file() {
                bail!(
                    "--face-backend {} needs {} ({}), which is not fetched by default: run \
                     `photo_organizer setup --all` to fetch it",
                    args.face_backend,
                    detector.id,
                    detector.licence
                );
            }
            (
                runtime,
                detector.id.clone(),
                detector.path_in(cache_dir),
                None,
            )
        }
        None => {
            // MTCNN's three networks find faces (`detector_model` is O-Net); FaceNet embeds.
            let [pnet, rnet, onet, embedder] = crate::setup::models::FACENET_MODELS.map(|id| {
                manifest
                    .converted(id)
                    .expect("the manifest lists the facenet models (unit-tested)")
            });
            if args.embedder_model.is_some() {
                bail!(
                    "--embedder-model works with the ONNX backends; facenet has its own embedder"
                );
            }
            (
                FaceRuntime::Torch {
                    pnet: pnet.path_in(cache_dir),
                    rnet: rnet.path_in(cache_dir),
                },
                "mtcnn-facenet-pytorch-2.6.0".to_string(),
                onet.path_in(cache_dir),
                Some((embedder.id.clone(), embedder.path_in(cache_dir))),
            )
        }
    };
    let (embedder_model, embedder_id, custom_embedder) = match &args.embedder_model {
        _ if fixed_embedder.is_some() => {
            let (id, path) = fixed_embedder.expect("checked");
            (path, id, false)
        }
        None => {
            let sface = manifest.default_for(Role::Embedder);
            (sface.path_in(cache_dir), sface.id.clone(), false)
        }
        Some(path) if !path.is_file() => bail!(
            "--embedder-model {} is not a file; give the path of an ONNX face embedder",
            path.display()
        ),
        Some(path) => {
            // Content, not path, names it: results of another model are never reused.
            let (sha, _) = crate::setup::fetch::file_digest(path)
                .with_context(|| format!("cannot read --embedder-model {}", path.display()))?;
            (path.clone(), format!("arcface-{}", &sha[..12]), true)
        }
    };
    if runtime == FaceRuntime::Tract && custom_embedder {
        bail!("--face-backend tract runs SFace only; use --embedder-model with yunet, insightface or yolov8");
    }
    let exclude = exclude_set(&args.exclude)?;
    let interactive = std::io::stderr().is_terminal();
    let settings = crate::cli::OrganizeArgs {
        source: Some(source.clone()),
        output: Some(output.clone()),
        known: known.clone(),
        embedder_model: given.embedder_model.as_deref().map(absolute_or_same),
        config: given.config.as_deref().map(absolute_or_same),
        dry_run: false,
        json: false,
        ..given
    };
    Ok(OrganizeConfig {
        source,
        output,
        dry_run: args.dry_run,
        threads,
        max_memory_bytes: args.max_memory << 20,
        min_cluster_size: args.min_cluster_size,
        merge_distance: args.merge_distance,
        detect: DetectOptions {
            score_threshold: args.min_face_score,
            ..DetectOptions::default()
        },
        json: args.json,
        progress: match (quiet, interactive) {
            (true, _) => ProgressStyle::Silent,
            (false, true) => ProgressStyle::Bars,
            (false, false) => ProgressStyle::Plain,
        },
        device,
        device_options,
        batch_size,
        runtime_candidates: runtime_candidates(cache_dir, &manifest, device.wants_gpu()),
        gpu_libraries: if device.wants_gpu() {
            let libs = crate::setup::gpu_libs::wanted_libraries(&manifest);
            let places = crate::setup::gpu_libs::places_from_env(cache_dir);
            crate::setup::gpu_libs::preload_order(&crate::setup::gpu_libs::choose(&libs, &places))
        } else {
            Vec::new()
        },
        heif_libraries: manifest
            .heif_libraries()
            .map(|a| a.path_in(cache_dir))
            .collect(),
        runtime,
        detector_id,
        detector_model,
        landmark_model: manifest.default_for(Role::Detector).path_in(cache_dir),
        face_check_model: manifest.default_for(Role::FaceCheck).path_in(cache_dir),
        face_check_ready: crate::setup::fetch::state(
            cache_dir,
            manifest.default_for(Role::FaceCheck),
        ) == crate::setup::fetch::State::Present,
        embedder_model,
        embedder_id,
        custom_embedder,
        known,
        transfer,
        by_year: args.by_year,
        collection,
        exclude,
        quiet,
        settings,
    })
}

fn absolute_or_same(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
