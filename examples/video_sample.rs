//! Samples one video as organize will (src/media/video.rs) and, with `--faces`, analyses it
//! (src/faces/video.rs) with the default backend on one thread; prints the frames, the faces
//! kept, and the wall and CPU time of the video alone (this process and the ffmpeg runs it
//! waited for, from /proc/self/stat; loading the backend not counted) (scripts/bench-video.sh,
//! docs/PERFORMANCE.md):
//!
//! `cargo run --release --example video_sample -- VIDEO [--faces]`

use std::{ops::ControlFlow, path::PathBuf, time::Instant};

use clap::Parser;
use photo_organizer::{
    cli::Cli,
    config::{Config, Mode},
    faces::video::analyse_video,
    media::video::{Ffmpeg, Sampling},
    people::cluster::DEFAULT_MERGE_DISTANCE,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let video = PathBuf::from(args.first().expect("usage: video_sample VIDEO [--faces]"));
    let faces = args.iter().any(|a| a == "--faces");
    let cli = Cli::try_parse_from(["photo_organizer", "--version"])?;
    let cache_dir = Config::try_from(cli)?.cache_dir;
    let ffmpeg = Ffmpeg::locate(std::env::var_os("PATH").as_deref(), &cache_dir)?;
    let sampling = Sampling::default();
    let started = Instant::now();
    if faces {
        let library = tempfile_dir()?;
        let cli = Cli::try_parse_from([
            "photo_organizer".as_ref(),
            "-s".as_ref(),
            library.as_os_str(),
            "-o".as_ref(),
            library.join("out").as_os_str(),
        ])?;
        let Mode::Organize(c) = Config::try_from(cli)?.mode else {
            anyhow::bail!("not an organize configuration");
        };
        let mut backend = photo_organizer::pipeline::backend::build_backend(&c, 1)?;
        let loaded = started.elapsed();
        let started = Instant::now();
        let cpu = cpu_seconds();
        let a = analyse_video(
            backend.as_mut(),
            &ffmpeg,
            &video,
            &sampling,
            DEFAULT_MERGE_DISTANCE,
        )?;
        println!(
            "frames {} (ffmpeg runs {}), faces kept {} at {:?} s, seen in {:?} frames; backend loaded in {:.2} s, video analysed in {:.2} s wall, {:.2} s CPU",
            a.sampled.frames,
            a.sampled.runs,
            a.analysis.faces.len(),
            a.seconds,
            a.frames_seen,
            loaded.as_secs_f64(),
            started.elapsed().as_secs_f64(),
            cpu_seconds() - cpu
        );
        let _ = std::fs::remove_dir_all(library);
    } else {
        let cpu = cpu_seconds();
        let info = ffmpeg.probe(&video, sampling.timeout)?;
        let mut times = Vec::new();
        let sampled = ffmpeg.sample(&video, &info, &sampling, &mut |f| {
            times.push((f.seconds * 10.0).round() / 10.0);
            ControlFlow::Continue(())
        })?;
        println!(
            "{info:?}\nframes {} (ffmpeg runs {}) at {times:?} s; {:.2} s wall, {:.2} s CPU",
            sampled.frames,
            sampled.runs,
            started.elapsed().as_secs_f64(),
            cpu_seconds() - cpu
        );
    }
    Ok(())
}

/// An empty library folder for the organize configuration the backend is built from.
fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("video_sample-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// User and system time of this process and of the children it waited for (ffmpeg), in
/// seconds; Linux only (0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th field overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse().ok())
        .collect();
    // USER_HZ is 100 on Linux.
    fields.iter().sum::<f64>() / 100.0
}
