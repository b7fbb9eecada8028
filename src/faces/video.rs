//! Faces in one video. [`analyse_video`] probes it and samples frames through FFmpeg
//! ([`crate::media::video`]), runs each batch of frames through the photo path
//! ([`analyse::analyse_batch`]: detect, align, embed, pet check) on the inference thread that
//! owns the backend, and [`keep_best_faces`] (pure) groups the faces of all frames by
//! embedding and keeps the best face of each group: one face per person per video, so a
//! person filmed for a minute counts once in clustering, like a person in one photo. Hands on
//! a [`VideoAnalysis`]: a [`StoredAnalysis`] (size as displayed, faces in those pixels) the
//! rest of the pipeline treats as a photo's, with the time of the frame each face came from.

use std::{ops::ControlFlow, path::Path};

use po_backend_api::{BackendError, FaceBackend};

use crate::{
    cache::{StoredAnalysis, StoredFace},
    faces::analyse::{self, good_enough_to_seed, yaw, Prepared, MAX_SEED_YAW},
    media::{
        decode::shrink_to_fit,
        exif::ExifInfo,
        video::{Ffmpeg, Frame, Sampled, Sampling, VideoError, VideoInfo},
        DETECT_MAX_SIDE,
    },
};

/// The faces found in one sampled frame, in the video's displayed pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameFaces {
    pub seconds: f64,
    pub analysis: StoredAnalysis,
}

/// One video's analysis: `analysis.faces` holds the best face of each person seen, and
/// `seconds[i]` the time of the frame `analysis.faces[i]` came from.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoAnalysis {
    pub analysis: StoredAnalysis,
    pub seconds: Vec<f64>,
    /// Frames each kept face's person was seen in.
    pub frames_seen: Vec<usize>,
    pub sampled: Sampled,
}

#[derive(Debug, thiserror::Error)]
pub enum VideoAnalysisError {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// How good a face is to stand for its person: detector score, size up to the embedder's
/// 112 px crop (a larger face adds no detail), and frontalness (0 at twice the yaw allowed to
/// start a person).
pub fn face_quality(face: &StoredFace) -> f32 {
    let width = face.bbox[2] - face.bbox[0];
    let size = (width / 112.0).clamp(0.0, 1.0);
    let frontal = (1.0 - yaw(&face.landmarks).abs() / (2.0 * MAX_SEED_YAW)).clamp(0.0, 1.0);
    face.score * size * frontal
}

/// Euclidean distance between two embeddings once L2-normalised (the clustering's distance,
/// [`crate::people::cluster`]).
fn distance(a: &[f32], b: &[f32]) -> f32 {
    let norm = |v: &[f32]| {
        v.iter()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt()
            .max(f32::EPSILON)
    };
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    (2.0 - 2.0 * dot / (norm(a) * norm(b))).max(0.0).sqrt()
}

struct Group {
    /// (frame, face) of the best face: the one others are compared with, so a chain of
    /// slightly different faces cannot join two people.
    best: (usize, usize),
    frames: Vec<usize>,
}

/// Groups the faces of a video's frames by embedding (a face joins the group whose best face
/// is nearest, within `max_distance`, the clustering's merge distance, and never a group that
/// already has a face of its own frame: two faces in one frame are two people) and keeps the
/// best face of each group: a face good enough to start a person
/// ([`good_enough_to_seed`] in its frame) before one that is not, then by [`face_quality`].
/// Pets' faces are grouped apart from people's. `display` is the video's size as shown.
pub fn keep_best_faces(
    frames: &[FrameFaces],
    max_distance: f32,
    display: (u32, u32),
    date_taken: Option<String>,
) -> (StoredAnalysis, Vec<f64>, Vec<usize>) {
    let mut candidates: Vec<(bool, f32, usize, usize)> = frames
        .iter()
        .enumerate()
        .flat_map(|(fi, frame)| {
            (0..frame.analysis.faces.len()).map(move |i| {
                let face = &frame.analysis.faces[i];
                (
                    good_enough_to_seed(&frame.analysis, i),
                    face_quality(face),
                    fi,
                    i,
                )
            })
        })
        .collect();
    // Best first; ties keep the earlier frame (frames sought to fill gaps come after the
    // keyframes, so by time, not by index).
    let at = |fi: usize| frames[fi].seconds;
    candidates.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.total_cmp(&a.1))
            .then(at(a.2).total_cmp(&at(b.2)))
            .then(a.3.cmp(&b.3))
    });
    let face = |(fi, i): (usize, usize)| &frames[fi].analysis.faces[i];
    let mut groups: Vec<Group> = Vec::new();
    for &(_, _, fi, i) in &candidates {
        let this = face((fi, i));
        let nearest = groups
            .iter_mut()
            .filter(|g| face(g.best).animal == this.animal && !g.frames.contains(&fi))
            .map(|g| (distance(&face(g.best).embedding, &this.embedding), g))
            .filter(|(d, _)| *d <= max_distance)
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match nearest {
            Some((_, g)) => g.frames.push(fi),
            None => groups.push(Group {
                best: (fi, i),
                frames: vec![fi],
            }),
        }
    }
    // In the order people appear, left to right within a frame.
    groups.sort_by(|a, b| {
        at(a.best.0)
            .total_cmp(&at(b.best.0))
            .then(face(a.best).bbox[0].total_cmp(&face(b.best).bbox[0]))
    });
    let face_check = frames
        .iter()
        .map(|f| f.analysis.face_check.clone())
        .reduce(|a, b| if a == b { a } else { None })
        .flatten();
    let analysis = StoredAnalysis {
        width: display.0,
        height: display.1,
        date_taken,
        faces: groups.iter().map(|g| face(g.best).clone()).collect(),
        face_check,
    };
    let seconds = groups.iter().map(|g| frames[g.best.0].seconds).collect();
    let seen = groups.iter().map(|g| g.frames.len()).collect();
    (analysis, seconds, seen)
}

/// A sampled frame as the photo path takes it: the frame is the decoded image at
/// `frame / display` of the video's displayed size, so boxes come back in displayed pixels.
fn prepare_frame(frame: &Frame, display: (u32, u32)) -> Prepared {
    let (detect, detect_scale) = shrink_to_fit(&frame.rgb, DETECT_MAX_SIDE);
    Prepared {
        rgb_scale: frame.rgb.width() as f32 / display.0.max(1) as f32,
        rgb: frame.rgb.clone(),
        full: display,
        detect,
        detect_scale,
        exif: ExifInfo::default(),
        hires: None,
    }
}

/// Probes and samples `path`, analyses its frames with `backend` in batches of its
/// `max_batch()`, and keeps one face per person ([`keep_best_faces`] with `max_distance`,
/// the clustering's merge distance). A video with no video stream, that cannot be read, that
/// runs past the deadline, or whose frames the backend fails on is an error; the caller
/// records it and goes on.
pub fn analyse_video(
    backend: &mut dyn FaceBackend,
    ffmpeg: &Ffmpeg,
    path: &Path,
    sampling: &Sampling,
    max_distance: f32,
) -> Result<VideoAnalysis, VideoAnalysisError> {
    let info: VideoInfo = ffmpeg.probe(path, sampling.timeout)?;
    let display = info.display_size();
    let batch = backend.max_batch().max(1);
    let mut pending: Vec<Frame> = Vec::with_capacity(batch);
    let mut found: Vec<FrameFaces> = Vec::new();
    let mut failed: Option<BackendError> = None;
    let mut flush = |pending: &mut Vec<Frame>, found: &mut Vec<FrameFaces>| {
        let prepared: Vec<Prepared> = pending.iter().map(|f| prepare_frame(f, display)).collect();
        let refs: Vec<&Prepared> = prepared.iter().collect();
        let result = analyse::analyse_batch(backend, &refs);
        let out = result.map(|analyses| {
            found.extend(
                pending
                    .iter()
                    .zip(analyses)
                    .map(|(f, analysis)| FrameFaces {
                        seconds: f.seconds,
                        analysis,
                    }),
            );
        });
        pending.clear();
        out
    };
    let sampled = ffmpeg.sample(path, &info, sampling, &mut |frame| {
        pending.push(frame);
        if pending.len() < batch {
            return ControlFlow::Continue(());
        }
        match flush(&mut pending, &mut found) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut found)?;
    }
    let (analysis, seconds, frames_seen) =
        keep_best_faces(&found, max_distance, display, info.creation_time.clone());
    Ok(VideoAnalysis {
        analysis,
        seconds,
        frames_seen,
        sampled,
    })
}

#[cfg(test)]
#[path = "video_tests.rs"]
mod tests;
