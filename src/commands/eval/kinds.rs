//! The kinds of photo eval reports separately, told from the photo's header and its detections
//! (no labels needed): where a threshold costs recall or precision.
//!
//! | kind | when |
//! | --- | --- |
//! | `close-up` | the largest face is at least half the photo's shorter side (crops, portraits, selfies) |
//! | `small face` | the largest face is under 48 px wide, in the photo's pixels |
//! | `group` | three or more faces were found |
//! | `grey` | the file stores grey pixels (its header's colour type) |
//! | `rotated` | EXIF orientation other than 1 |
//! | `near-duplicate` | its largest face is within [`NEAR_DUPLICATE`] of another photo's |
//! | `no face found` | the detector found no face of a person |

use std::path::Path;

use crate::{cache::StoredAnalysis, media::exif::ExifInfo};

/// Euclidean distance between unit embeddings under which two faces are the same face seen
/// again (a burst, a re-save, a messaging-app copy): cosine similarity above 0.955.
pub const NEAR_DUPLICATE: f32 = 0.3;
const CLOSE_UP_SHARE: f32 = 0.5;
const SMALL_FACE_PX: f32 = 48.0;

/// The kinds of one photo, besides `near-duplicate` (see [`near_duplicates`]).
pub fn kinds_of(path: &Path, analysis: &StoredAnalysis) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    let people: Vec<_> = analysis.faces.iter().filter(|f| !f.animal).collect();
    let largest = people
        .iter()
        .map(|f| f.bbox[2] - f.bbox[0])
        .fold(0.0f32, f32::max);
    if people.is_empty() {
        kinds.push("no face found");
    } else {
        let shorter = analysis.width.min(analysis.height) as f32;
        if largest >= CLOSE_UP_SHARE * shorter {
            kinds.push("close-up");
        }
        if largest < SMALL_FACE_PX {
            kinds.push("small face");
        }
    }
    if people.len() >= 3 {
        kinds.push("group");
    }
    // One read of the file serves both the header's colour type and the EXIF orientation.
    let bytes = std::fs::read(path).unwrap_or_default();
    let grey = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_decoder().ok())
        .map(|d| {
            use image::ImageDecoder;
            matches!(
                d.color_type(),
                image::ColorType::L8 | image::ColorType::L16 | image::ColorType::La8
            )
        });
    if grey == Some(true) {
        kinds.push("grey");
    }
    if ExifInfo::read(&bytes).orientation > 1 {
        kinds.push("rotated");
    }
    kinds
}

/// Which of `faces` (each photo's largest face's embedding, if any) lies within
/// [`NEAR_DUPLICATE`] of another's.
pub fn near_duplicates(faces: &[Option<&[f32]>]) -> Vec<bool> {
    let mut near = vec![false; faces.len()];
    for i in 0..faces.len() {
        let Some(a) = faces[i] else { continue };
        for j in i + 1..faces.len() {
            let Some(b) = faces[j] else { continue };
            let d2: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
            if d2 < NEAR_DUPLICATE * NEAR_DUPLICATE {
                near[i] = true;
                near[j] = true;
            }
        }
    }
    near
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_duplicates_are_pairs_within_the_distance() {
        let a = [1.0, 0.0];
        let b = [0.99, 0.141];
        let c = [0.0, 1.0];
        let near = near_duplicates(&[Some(&a), Some(&b), Some(&c), None]);
        assert_eq!(near, vec![true, true, false, false]);
    }
}
