//! Entry points for fuzzing what hostile input reaches: photo bytes (sniffing, EXIF, decoding
//! under the size caps, the detector-sized copy and, with the `onnx` feature, the detector's
//! letterboxed tensor), RAW files (the preview scanner), face rows read back from the cache
//! (blob decoding), and XMP packets and sidecars (face regions and names). The cargo-fuzz targets in `fuzz/` call these; a short stable harness in the
//! unit tests runs them over a few hundred random and mutated inputs, so a panic (or a fuzz
//! target that no longer compiles against them) shows up in `scripts/test.sh`. Any panic here is
//! a bug: bad input must become an error.

use crate::media::decode::{decode_bytes, decode_raw, shrink_to_fit, DecodeLimits};

/// Small caps keep each run fast while still exercising the bomb checks.
pub const FUZZ_LIMITS: DecodeLimits = DecodeLimits {
    max_file_bytes: 1 << 22,
    max_pixels: 4_000_000,
};

/// A photo file's bytes, as far as they go before any model runs.
pub fn decode(data: &[u8]) {
    let _ = crate::media::exif::ExifInfo::read(data);
    if let Ok(decoded) = decode_bytes(data, &FUZZ_LIMITS) {
        let (small, _) = shrink_to_fit(&decoded.rgb, crate::faces::analyse::DETECT_MAX_SIDE);
        #[cfg(feature = "onnx")]
        {
            use po_backend_onnx::yunet::{letterbox, Canvas, Channels};
            let (w, h) = small.dimensions();
            if let Some(view) = po_backend_api::RgbView::new(w, h, small.as_raw()) {
                for canvas in [Canvas::Square, Canvas::Tight] {
                    let _ = letterbox(view, Channels::Bgr, 0.0, 1.0, canvas);
                }
            }
        }
        let _ = small;
    }
}

/// A RAW file's bytes: the preview scanner, then the preview's decoding.
pub fn raw_preview(data: &[u8]) {
    if let Some(start) = crate::media::decode::find_raw_preview(data) {
        assert!(start < data.len(), "preview offset out of the file");
    }
    let _ = decode_raw(data, &FUZZ_LIMITS);
}

/// A face row from the cache: the input is split into the three blobs (bbox, landmarks,
/// embedding) by its first two bytes.
pub fn cache_blobs(data: &[u8]) {
    let (a, b) = match data {
        [a, b, ..] => (usize::from(*a), usize::from(*b)),
        _ => (0, 0),
    };
    let rest = data.get(2..).unwrap_or(&[]);
    let a = a.min(rest.len());
    let b = b.min(rest.len() - a);
    let (bbox, rest) = rest.split_at(a);
    let (landmarks, embedding) = rest.split_at(b);
    if let Some((bbox, _, embedding)) = crate::cache::decode_face_blobs(bbox, landmarks, embedding)
    {
        assert!(bbox.iter().chain(&embedding).all(|x| x.is_finite()));
        assert!(!embedding.is_empty());
    }
}

/// An XMP sidecar's bytes, or a photo file carrying XMP: the packet search, then the region
/// reader under the first byte's EXIF orientation; every region it keeps is a box inside the
/// oriented photo. Then the sidecar writer's merge: when it takes the bytes, what it gives back
/// reads as exactly the faces it was given.
pub fn xmp(data: &[u8]) {
    use crate::media::xmp::{find_embedded_xmp, read_people, PhotoGeometry};
    use crate::output::xmp_write::{merge_sidecar, SidecarFace};
    let photo = PhotoGeometry {
        stored_width: 4000,
        stored_height: 3000,
        orientation: u16::from(data.first().copied().unwrap_or(1) % 9),
    };
    let (w, h) = photo.oriented_size();
    let packets = [Some(data), find_embedded_xmp(data)];
    for packet in packets.into_iter().flatten() {
        if let Ok(people) = read_people(packet, photo) {
            for region in &people.regions {
                let [l, t, r, b] = region.bbox;
                assert!(0.0 <= l && l <= r && r <= w as f32, "{region:?}");
                assert!(0.0 <= t && t <= b && b <= h as f32, "{region:?}");
            }
        }
    }
    let faces = [
        SidecarFace {
            bbox: [10.0, 20.0, 300.0, 400.0],
            name: Some("Phoebe"),
        },
        SidecarFace {
            bbox: [1000.0, 1000.0, 1200.0, 1300.0],
            name: None,
        },
    ];
    if let Ok(merged) = merge_sidecar(data, photo, &faces) {
        if let Ok(people) = read_people(&merged, photo) {
            let names: Vec<_> = people.regions.iter().map(|r| r.name.as_deref()).collect();
            assert_eq!(names, [Some("Phoebe"), None]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::SplitMix64;

    /// A small real JPEG to mutate, made here so the harness needs no fetched files.
    fn seed_jpeg() -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(48, 32, |x, y| image::Rgb([x as u8 * 5, y as u8 * 7, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode(img.as_raw(), 48, 32, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// Random bytes, or `seed` with a few bytes flipped, cut short or spliced.
    fn mutate(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        match rng.next_u64() % 4 {
            0 => {
                let n = (rng.next_u64() % 512) as usize;
                return (0..n).map(|_| rng.next_u64() as u8).collect();
            }
            1 => v.truncate((rng.next_u64() as usize) % (v.len() + 1)),
            2 => {
                let at = (rng.next_u64() as usize) % (v.len() + 1);
                let junk: Vec<u8> = (0..rng.next_u64() % 64)
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                v.splice(at..at, junk);
            }
            _ => {}
        }
        for _ in 0..1 + rng.next_u64() % 8 {
            if !v.is_empty() {
                let at = (rng.next_u64() as usize) % v.len();
                v[at] = rng.next_u64() as u8;
            }
        }
        v
    }

    /// `text` with a few XML-ish tokens put in at random places: most results stay well-formed
    /// enough to reach the region readers and the merge, unlike random bytes.
    fn splice_tokens(rng: &mut SplitMix64, text: &[u8]) -> Vec<u8> {
        const TOKENS: [&str; 12] = [
            "NaN", "-1", "1e309", "0.99", "", "&amp;", "&x;", "<a>", "</a>", "<a/>", "\"", "rdf:li",
        ];
        let mut v = text.to_vec();
        for _ in 0..1 + rng.next_u64() % 3 {
            let at = (rng.next_u64() as usize) % (v.len() + 1);
            let token = TOKENS[(rng.next_u64() as usize) % TOKENS.len()];
            let end = (at + (rng.next_u64() % 4) as usize).min(v.len());
            v.splice(at..end, token.bytes());
        }
        v
    }

    #[test]
    fn fuzz_entry_points_survive_random_and_mutated_inputs() {
        let jpeg = seed_jpeg();
        // A RAW-like file: TIFF header, junk, markers that are not JPEGs, then the preview.
        let mut raw = b"II*\0\x08\0\0\0".to_vec();
        raw.extend([0xFF, 0xD8, 0xFF, 0x00, 0x01].repeat(8));
        raw.extend(&jpeg);
        let floats: Vec<u8> = [4u8, 40]
            .into_iter()
            .chain((0..4 + 10 + 8).flat_map(|i| (i as f32 * 0.1).to_le_bytes()))
            .collect();
        let sidecar = crate::media::xmp::tests::DIGIKAM_STYLE.as_bytes();
        let in_jpeg = crate::media::xmp::tests::jpeg_with_xmp(sidecar);
        let mut rng = SplitMix64(13);
        for _ in 0..300 {
            decode(&mutate(&mut rng, &jpeg));
            raw_preview(&mutate(&mut rng, &raw));
            cache_blobs(&mutate(&mut rng, &floats));
            xmp(&mutate(&mut rng, sidecar));
            xmp(&mutate(&mut rng, &in_jpeg));
            xmp(&splice_tokens(&mut rng, sidecar));
        }
        // The seeds themselves go all the way through.
        assert!(decode_bytes(&jpeg, &FUZZ_LIMITS).is_ok());
        assert_eq!(
            crate::media::decode::find_raw_preview(&raw),
            Some(raw.len() - jpeg.len())
        );
        let blobs = &floats[2..];
        assert!(
            crate::cache::decode_face_blobs(&blobs[..16], &blobs[16..56], &blobs[56..]).is_some()
        );
    }

    #[test]
    fn raw_scan_is_bounded_in_bytes_and_candidates() {
        let jpeg = seed_jpeg();
        // Past the scanned prefix: not found.
        let mut far = vec![0u8; crate::media::decode::RAW_SCAN_BYTES];
        far.extend(&jpeg);
        assert_eq!(crate::media::decode::find_raw_preview(&far), None);
        // Behind more fake markers than are tried: not found, and quickly.
        let mut crowded = [0xFF, 0xD8, 0xFF, 0x00].repeat(crate::media::decode::RAW_MAX_CANDIDATES);
        crowded.extend(&jpeg);
        let t = std::time::Instant::now();
        assert_eq!(crate::media::decode::find_raw_preview(&crowded), None);
        let mut huge = [0xFF, 0xD8, 0xFF, 0x00].repeat(1 << 20);
        huge.extend(&jpeg);
        assert_eq!(crate::media::decode::find_raw_preview(&huge), None);
        assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
    }
}
