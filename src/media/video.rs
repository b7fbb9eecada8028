//! Videos, read through FFmpeg run as a separate program: finding `ffmpeg` and `ffprobe`
//! ([`Ffmpeg::locate`]), probing a file ([`Ffmpeg::probe`]: duration, the video stream's size
//! and rotation) and sampling frames across the whole video ([`Ffmpeg::sample`]), each handed
//! on as an upright [`RgbImage`] with its time to the face stage ([`crate::faces::video`]).
//!
//! Which frames ([`Sampling`]): a video of up to [`Sampling::seek_after_secs`] is read once,
//! decoding its keyframes only (`-skip_frame nokey`: an encoder writes one at every scene
//! change and at least every GOP, so they are where the picture changes, and they are cheap:
//! about 20 ms of CPU each at 1080p), at least [`Sampling::min_gap_secs`] apart and no more
//! than [`Sampling::max_frames`]; where keyframes are further apart than
//! [`Sampling::floor_secs`], frames are added in the gap by seeking (each costs the decode of
//! the GOP up to it, about 0.5 s of CPU at 1080p, hence a floor of 10 s: phones write a
//! keyframe every 1-2 s, x264 every 250 frames, 8.3 s at 30 fps). A longer video (a 4-hour
//! recording) is sampled by [`Sampling::max_frames`] seeks spread evenly over it, each taking
//! the first keyframe after its time, so its cost does not grow with its length. Frames are
//! scaled so their long side is at most [`Sampling::max_side`] and read one at a time from a
//! pipe (memory: one frame), every `ffmpeg` under one deadline per video
//! ([`Sampling::timeout`]) after which it is killed.
//!
//! Which FFmpeg: the one on `PATH` (Debian/Ubuntu `apt-get install ffmpeg`, Fedora's
//! `ffmpeg-free`, Homebrew), else `<cache>/ffmpeg/` where `setup` would put one. For that
//! fetch the candidate is PyPI's `imageio-ffmpeg` wheel (its manylinux x86_64/aarch64 wheels
//! carry one static `ffmpeg`, pinnable by the wheel's sha256 like the other fetched files);
//! its binary is a GPL build (the wrapper is BSD-2, the executable GPLv3 with x264/x265),
//! which is acceptable here because photo_organizer only runs it as a separate program over a
//! pipe and neither links nor ships it, so our MIT/Apache-2.0 licence is unaffected; `setup`
//! must then show the binary's licence and where its source is. Decoding needs nothing GPL
//! (FFmpeg's own H.264, HEVC, VP9 and MJPEG decoders are LGPL; the GPL parts are encoders), so
//! an LGPL build would do as well, but we found none on a package registry to pin. The wheel
//! has no `ffprobe`, so that fetch also needs the probe to read `ffmpeg -i`'s output instead
//! of ffprobe's JSON; it is not implemented yet, and the fix printed names the system package
//! first.

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader, Read},
    ops::ControlFlow,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use image::RgbImage;
use serde_json::Value;

/// What to do about a missing FFmpeg, in every message that reports one.
pub const FFMPEG_FIX: &str =
    "install ffmpeg (apt-get install ffmpeg) or run `photo_organizer setup`";

/// Extensions (lowercase) of the video files the library may hold: the (MP4, MOV,
/// M4V, 3GP, MKV, AVI, WebM) and the camcorder and older ones [`super::companions`] also
/// knows (AVCHD's MTS/M2TS, MPEG-PS, WMV), all of which FFmpeg reads.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mov", "mp4", "m4v", "3gp", "mkv", "avi", "webm", "mts", "m2ts", "mpg", "mpeg", "wmv",
];

/// Whether `path` is named like a video ([`VIDEO_EXTENSIONS`], any case).
pub fn is_video_path(path: &Path) -> bool {
    path.extension()
        .and_then(OsStr::to_str)
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error(
        "`{tool}` was not found on PATH or in {cache}, so videos cannot be read: {FFMPEG_FIX}"
    )]
    ToolMissing { tool: &'static str, cache: String },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a readable video, it may be corrupt or truncated (ffprobe: {reason})")]
    Unreadable { reason: String },
    #[error("the file has no video stream (audio only?)")]
    NoVideoStream,
    #[error("ffmpeg decoded no frame, the video may be corrupt or truncated ({reason})")]
    NoFrames { reason: String },
    #[error("reading the video took more than {} s, so it was stopped", .limit.as_secs())]
    TimedOut { limit: Duration },
    #[error("reading ffmpeg's output failed: {0}")]
    Pipe(#[source] std::io::Error),
}

/// The two programs, found.
#[derive(Debug, Clone, PartialEq)]
pub struct Ffmpeg {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

/// Where `setup` puts a fetched FFmpeg.
pub fn cache_ffmpeg_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("ffmpeg")
}

fn find_program(name: &str, path_var: Option<&OsStr>, cache_dir: &Path) -> Option<PathBuf> {
    let dirs = path_var.map(|p| std::env::split_paths(p).collect::<Vec<_>>());
    dirs.into_iter()
        .flatten()
        .chain([cache_ffmpeg_dir(cache_dir)])
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Probed facts about one video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Seconds; `None` when the container does not say (a stream being written).
    pub duration: Option<f64>,
    /// The stored picture's size, before rotation.
    pub width: u32,
    pub height: u32,
    /// Degrees the player turns the picture (a phone held upright: 90 or -90).
    pub rotation: i32,
    pub codec: String,
    /// The container's `creation_time` tag, as written.
    pub creation_time: Option<String>,
}

impl VideoInfo {
    /// The size as shown: rotation applied (ffmpeg turns decoded frames the same way).
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation.rem_euclid(180) == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// How frames are chosen; [`Sampling::default`] is what organize uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub max_frames: usize,
    pub min_gap_secs: f64,
    pub floor_secs: f64,
    /// Longer videos are sampled by seeking, not by reading every keyframe.
    pub seek_after_secs: f64,
    pub max_side: u32,
    pub timeout: Duration,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            max_frames: 60,
            min_gap_secs: 1.0,
            floor_secs: 10.0,
            seek_after_secs: 180.0,
            max_side: 1280,
            timeout: Duration::from_secs(120),
        }
    }
}

impl Sampling {
    /// Least time between two keyframes taken: spreads at most `max_frames` over the video.
    pub fn keyframe_gap(&self, duration: f64) -> f64 {
        self.min_gap_secs
            .max(duration / self.max_frames.max(1) as f64)
    }

    /// Times to seek to so that no gap between `taken` (sorted seconds), the start and the end
    /// is longer than `floor_secs`, at most `budget` of them (then spread over all gaps).
    pub fn fill_gaps(&self, taken: &[f64], duration: f64, budget: usize) -> Vec<f64> {
        let mut edges = vec![0.0];
        edges.extend(taken.iter().copied().filter(|t| *t > 0.0 && *t < duration));
        edges.push(duration);
        let mut fill = Vec::new();
        for w in edges.windows(2) {
            let gap = w[1] - w[0];
            let pieces = (gap / self.floor_secs).ceil() as usize;
            fill.extend((1..pieces).map(|k| w[0] + gap * k as f64 / pieces as f64));
        }
        if fill.len() > budget {
            let n = fill.len();
            fill = (0..budget).map(|i| fill[i * n / budget]).collect();
        }
        fill
    }

    /// Times of the evenly spread seeks for a long video: the middle of each of `max_frames`
    /// equal parts.
    pub fn seek_times(&self, duration: f64) -> Vec<f64> {
        let n = self.max_frames.max(1);
        (0..n)
            .map(|i| duration * (i as f64 + 0.5) / n as f64)
            .collect()
    }

    /// The size frames are scaled to: the display size, long side at most `max_side`.
    pub fn frame_size(&self, display: (u32, u32)) -> (u32, u32) {
        let (w, h) = display;
        let long = w.max(h).max(1);
        if long <= self.max_side {
            return (w.max(1), h.max(1));
        }
        let f = f64::from(self.max_side) / f64::from(long);
        let scale = |v: u32| ((f64::from(v) * f).round() as u32).max(1);
        (scale(w), scale(h))
    }
}

/// One sampled frame: upright, at most [`Sampling::max_side`] on its long side.
pub struct Frame {
    pub rgb: RgbImage,
    /// Seconds from the start of the video.
    pub seconds: f64,
}

/// How a video was sampled, for the report and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampled {
    pub frames: usize,
    /// How many ffmpeg runs it took (1 for keyframes only, plus one per seek).
    pub runs: usize,
}

impl Ffmpeg {
    /// `ffmpeg` and `ffprobe` from the directories of `path_var` (the caller's `PATH`), else
    /// from `<cache_dir>/ffmpeg/`.
    pub fn locate(path_var: Option<&OsStr>, cache_dir: &Path) -> Result<Self, VideoError> {
        let find = |tool: &'static str| {
            find_program(tool, path_var, cache_dir).ok_or_else(|| VideoError::ToolMissing {
                tool,
                cache: cache_ffmpeg_dir(cache_dir).display().to_string(),
            })
        };
        Ok(Self {
            ffmpeg: find("ffmpeg")?,
            ffprobe: find("ffprobe")?,
        })
    }

    /// The first line of `ffmpeg -version` ("ffmpeg version 5.1.9-0+deb12u1 ..."), for doctor.
    pub fn version(&self) -> Result<String, VideoError> {
        let out = Command::new(&self.ffmpeg)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| self.spawn_error(&self.ffmpeg, source))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string())
    }

    fn spawn_error(&self, program: &Path, source: std::io::Error) -> VideoError {
        VideoError::Spawn {
            program: program.display().to_string(),
            source,
        }
    }

    /// Duration, size, rotation and codec of `path`'s first video stream (cover art in an
    /// audio file is not one).
    pub fn probe(&self, path: &Path, timeout: Duration) -> Result<VideoInfo, VideoError> {
        let mut cmd = Command::new(&self.ffprobe);
        cmd.args(["-v", "error", "-print_format", "json"])
            .args(["-show_format", "-show_streams", "-i"])
            .arg(path);
        let (stdout, stderr) = run_with_deadline(cmd, Instant::now() + timeout, timeout, |c| {
            self.spawn_error(&self.ffprobe, c)
        })?;
        let json: Value = serde_json::from_slice(&stdout).unwrap_or(Value::Null);
        if json.get("format").is_none() {
            return Err(VideoError::Unreadable {
                reason: last_line(&stderr),
            });
        }
        parse_probe(&json)
    }

    /// Samples `path` as [`Sampling`] says, handing each frame to `each` in time order (a
    /// keyframe pass then its gap fills: not always in order across the two) until it says
    /// stop. An error after some frames were handed on (a timeout) is still an error.
    pub fn sample(
        &self,
        path: &Path,
        info: &VideoInfo,
        sampling: &Sampling,
        each: &mut dyn FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<Sampled, VideoError> {
        let deadline = Instant::now() + sampling.timeout;
        let size = sampling.frame_size(info.display_size());
        let mut done = Sampled { frames: 0, runs: 0 };
        let mut hand_on = |frame: Frame| {
            done.frames += 1;
            each(frame).is_continue()
        };
        let duration = info.duration.unwrap_or(0.0);
        let mut runs = 0;
        let mut last_reason = String::new();
        let mut stopped = false;
        if duration > sampling.seek_after_secs {
            for t in sampling.seek_times(duration) {
                let seek = Pass::Seek {
                    at: t,
                    keyframe: true,
                };
                let run = self.run_decoder(path, seek, size, sampling, deadline, &mut hand_on)?;
                runs += 1;
                last_reason = run.reason;
                if run.stopped {
                    stopped = true;
                    break;
                }
            }
        } else {
            let max = sampling.max_frames;
            let keyframes = Pass::Keyframes {
                gap: sampling.keyframe_gap(duration),
                max,
            };
            let run = self.run_decoder(path, keyframes, size, sampling, deadline, &mut hand_on)?;
            runs += 1;
            last_reason = run.reason;
            stopped = run.stopped;
            // A video whose keyframes could not be read (corrupt) is not sought through.
            if !stopped && !run.times.is_empty() {
                let budget = max.saturating_sub(run.times.len());
                for t in sampling.fill_gaps(&run.times, duration, budget) {
                    let seek = Pass::Seek {
                        at: t,
                        keyframe: false,
                    };
                    let run =
                        self.run_decoder(path, seek, size, sampling, deadline, &mut hand_on)?;
                    runs += 1;
                    if run.stopped {
                        stopped = true;
                        break;
                    }
                }
            }
        }
        done.runs = runs;
        if done.frames == 0 && !stopped {
            return Err(VideoError::NoFrames {
                reason: if last_reason.is_empty() {
                    "no error message".into()
                } else {
                    last_reason
                },
            });
        }
        Ok(done)
    }

    /// One ffmpeg run ([`Pass`]), its frames scaled to `size`, read as raw RGB.
    fn run_decoder(
        &self,
        path: &Path,
        pass: Pass,
        (w, h): (u32, u32),
        sampling: &Sampling,
        deadline: Instant,
        each: &mut dyn FnMut(Frame) -> bool,
    ) -> Result<DecoderRun, VideoError> {
        let mut cmd = Command::new(&self.ffmpeg);
        cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"])
            .args(["-threads", "1", "-filter_threads", "1"]);
        let max_frames = match pass {
            Pass::Keyframes { max, .. } => max,
            Pass::Seek { .. } => 1,
        };
        let (select, offset) = match pass {
            Pass::Seek { at, keyframe } => {
                if keyframe {
                    cmd.args(["-skip_frame", "nokey"]);
                }
                cmd.args(["-ss", &format!("{at:.3}")]);
                (String::new(), at)
            }
            Pass::Keyframes { gap, .. } => {
                cmd.args(["-skip_frame", "nokey"]);
                // `isnan` takes the first keyframe; the gap is applied after decoding.
                let select =
                    format!("select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{gap:.3})',");
                (select, 0.0)
            }
        };
        cmd.arg("-i").arg(path).args(["-an", "-sn", "-dn"]);
        cmd.args([
            "-frames:v",
            &max_frames.to_string(),
            "-fps_mode",
            "passthrough",
        ]);
        cmd.args([
            "-vf",
            &format!("{select}scale={w}:{h}:flags=bilinear,format=rgb24,showinfo"),
        ]);
        cmd.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|source| self.spawn_error(&self.ffmpeg, source))?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let child = Arc::new(Mutex::new(child));
        let watchdog = Watchdog::start(Arc::clone(&child), deadline);
        let (times_tx, times_rx) = mpsc::channel();
        let log = thread::spawn(move || read_log(stderr, times_tx));
        let frame_bytes = w as usize * h as usize * 3;
        let (mut times, mut stopped) = (Vec::new(), false);
        while times.len() < max_frames {
            let mut buf = vec![0u8; frame_bytes];
            if !read_frame(&mut stdout, &mut buf).map_err(VideoError::Pipe)? {
                break;
            }
            // showinfo logs a frame before it reaches the output, so its time is there.
            let pts = times_rx.recv_timeout(Duration::from_secs(5)).unwrap_or(0.0);
            let rgb = RgbImage::from_raw(w, h, buf).expect("a whole frame was read");
            times.push(offset + pts);
            // Handed on before the next is read: one frame in memory (and ffmpeg waits).
            if !each(Frame {
                rgb,
                seconds: offset + pts,
            }) {
                stopped = true;
                break;
            }
        }
        drop(stdout);
        let timed_out = watchdog.finish();
        let _ = child.lock().map(|mut c| c.wait());
        let reason = log.join().unwrap_or_default();
        if timed_out {
            return Err(VideoError::TimedOut {
                limit: sampling.timeout,
            });
        }
        Ok(DecoderRun {
            times,
            stopped,
            reason,
        })
    }
}

/// What one ffmpeg run reads.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// Keyframes over the whole video, at least `gap` seconds apart, at most `max`.
    Keyframes { gap: f64, max: usize },
    /// The first frame at or after `at` (the first keyframe, with `keyframe`): exact in a
    /// short video, where it costs the decode of the GOP up to it; cheap in a long one.
    Seek { at: f64, keyframe: bool },
}

struct DecoderRun {
    /// Times of the frames handed on.
    times: Vec<f64>,
    /// The receiver said stop.
    stopped: bool,
    /// ffmpeg's last error line, if any.
    reason: String,
}

/// Fills `buf` from `r`: `Ok(false)` at a clean end or a partial last frame.
fn read_frame(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Sends each showinfo frame's `pts_time` (the first line per frame number); returns the last
/// line that is not showinfo's, ffmpeg's error if it failed.
fn read_log(stderr: impl std::io::Read, times: mpsc::Sender<f64>) -> String {
    let mut last = String::new();
    let mut seen = None;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if line.contains("Parsed_showinfo") {
            let n = field(&line, " n:").map(str::to_string);
            if n.is_some() && n != seen {
                seen = n;
                let pts = field(&line, "pts_time:").and_then(|v| v.parse().ok());
                let _ = times.send(pts.unwrap_or(0.0));
            }
        } else if !line.trim().is_empty() && !line.starts_with(' ') {
            last = line;
        }
    }
    last
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()
}

/// Kills the child at the deadline unless finished first.
struct Watchdog {
    done: mpsc::Sender<()>,
    thread: thread::JoinHandle<bool>,
}

impl Watchdog {
    fn start(child: Arc<Mutex<Child>>, deadline: Instant) -> Self {
        let (done, rx) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.lock().map(|mut c| c.kill());
                    true
                }
                _ => false,
            }
        });
        Self { done, thread }
    }

    /// Whether it had to kill the child.
    fn finish(self) -> bool {
        let _ = self.done.send(());
        self.thread.join().unwrap_or(false)
    }
}

/// Runs `cmd` to the end under `deadline`; stdout and stderr.
fn run_with_deadline(
    mut cmd: Command,
    deadline: Instant,
    limit: Duration,
    spawn_error: impl FnOnce(std::io::Error) -> VideoError,
) -> Result<(Vec<u8>, String), VideoError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let child = Arc::new(Mutex::new(child));
    let watchdog = Watchdog::start(Arc::clone(&child), deadline);
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut out = Vec::new();
    stdout.read_to_end(&mut out).map_err(VideoError::Pipe)?;
    let timed_out = watchdog.finish();
    let _ = child.lock().map(|mut c| c.wait());
    let err = err.join().unwrap_or_default();
    if timed_out {
        return Err(VideoError::TimedOut { limit });
    }
    Ok((out, err))
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no error message")
        .trim()
        .to_string()
}

/// [`VideoInfo`] from ffprobe's `-show_format -show_streams` JSON.
pub fn parse_probe(json: &Value) -> Result<VideoInfo, VideoError> {
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"] != 1)
        .ok_or(VideoError::NoVideoStream)?;
    let number = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .or_else(|| v.as_f64())
    };
    let duration = number(&json["format"]["duration"])
        .or_else(|| number(&video["duration"]))
        .filter(|d| d.is_finite() && *d > 0.0);
    let rotation = video["side_data_list"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| d["rotation"].as_f64())
        .or_else(|| number(&video["tags"]["rotate"]))
        .map_or(0, |r| r.round() as i32);
    let size = |k: &str| video[k].as_u64().and_then(|v| u32::try_from(v).ok());
    let (Some(width), Some(height)) = (size("width"), size("height")) else {
        return Err(VideoError::Unreadable {
            reason: "the video stream has no picture size".into(),
        });
    };
    if width == 0 || height == 0 {
        return Err(VideoError::Unreadable {
            reason: "the video stream has no picture size".into(),
        });
    }
    Ok(VideoInfo {
        duration,
        width,
        height,
        rotation,
        codec: video["codec_name"]
            .as_str()
            .unwrap_or("unknown")
            .to_string(),
        creation_time: json["format"]["tags"]["creation_time"]
            .as_str()
            .map(str::to_string),
    })
}

#[cfg(test)]
#[path = "video_tests.rs"]
mod tests;
