//! Bytes -> [`DecodedImage`]: the photo decoded to 8-bit RGB with its EXIF orientation applied,
//! under size caps (decompression bombs are refused before any pixel is allocated) and
//! `catch_unwind`, so one bad file becomes a [`DecodeError`] and never stops the run.

use std::{
    io::Cursor,
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
};

use image::{
    metadata::Orientation, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage,
};

use crate::media::exif::ExifInfo;

pub use super::decoded::{is_heif, DecodeError, DecodeLimits, DecodedImage};

/// A photo's bytes, refused before reading when the file is over `limits.max_file_bytes`, and
/// whether it is a camera RAW file (by its extension).
pub fn read_photo(path: &Path, limits: &DecodeLimits) -> Result<(Vec<u8>, bool), DecodeError> {
    let size = std::fs::metadata(path).map_err(DecodeError::Io)?.len();
    if size > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge {
            size,
            max: limits.max_file_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(DecodeError::Io)?;
    let is_raw = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        crate::media::scan::RAW_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
    });
    Ok((bytes, is_raw))
}

/// Reads and decodes one photo; camera RAW files by their embedded JPEG preview.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<DecodedImage, DecodeError> {
    let (bytes, is_raw) = read_photo(path, limits)?;
    if is_raw {
        return decode_raw(&bytes, limits);
    }
    decode_bytes(&bytes, limits)
}

/// Bytes of a RAW file searched for embedded JPEGs: camera makers put the previews near the
/// start (CR2, NEF, ARW, DNG: within the first few MiB), and scanning a 512 MiB file for every
/// `FF D8 FF` would take seconds.
pub const RAW_SCAN_BYTES: usize = 32 << 20;
/// Embedded JPEG candidates whose headers are read, at most (each read is cheap but not free:
/// a file full of `FF D8 FF` must not become millions of header parses).
pub const RAW_MAX_CANDIDATES: usize = 64;

/// Offset of the largest JPEG (by its header's pixel count) among the first
/// [`RAW_MAX_CANDIDATES`] `FF D8 FF` markers in the first [`RAW_SCAN_BYTES`] of `bytes`.
pub fn find_raw_preview(bytes: &[u8]) -> Option<usize> {
    let scanned = &bytes[..bytes.len().min(RAW_SCAN_BYTES)];
    let mut best: Option<(u64, usize)> = None;
    for start in scanned
        .windows(3)
        .enumerate()
        .filter(|(_, w)| *w == [0xFF, 0xD8, 0xFF])
        .map(|(i, _)| i)
        .take(RAW_MAX_CANDIDATES)
    {
        let mut reader = ImageReader::new(Cursor::new(&bytes[start..]));
        reader.set_format(ImageFormat::Jpeg);
        if let Ok((w, h)) = reader.into_dimensions() {
            let area = u64::from(w) * u64::from(h);
            if best.is_none_or(|(a, _)| area > a) {
                best = Some((area, start));
            }
        }
    }
    best.map(|(_, start)| start)
}

/// The largest JPEG a RAW file embeds (its preview), oriented by the RAW's own EXIF.
pub fn decode_raw(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, DecodeError> {
    let start = find_raw_preview(bytes).ok_or(DecodeError::RawWithoutPreview)?;
    let mut decoded = decode_bytes(&bytes[start..], limits)?;
    let raw_exif = ExifInfo::read(bytes);
    if decoded.exif.orientation == 1 && raw_exif.orientation != 1 {
        let rgb = DynamicImage::ImageRgb8(decoded.rgb);
        let mut oriented = rgb;
        if let Some(o) = Orientation::from_exif(raw_exif.orientation as u8) {
            oriented.apply_orientation(o);
        }
        decoded.rgb = oriented.into_rgb8();
    }
    if decoded.exif.date_taken.is_none() {
        decoded.exif = raw_exif;
    }
    Ok(decoded)
}

/// Decodes a photo held in memory; see [`decode_file`].
pub fn decode_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if is_heif(bytes) {
        return crate::media::heif::decode_installed(bytes, limits);
    }
    let format = image::guess_format(bytes).map_err(|_| DecodeError::UnknownFormat)?;
    if is_truncated(format, bytes) {
        return Err(DecodeError::Truncated(format));
    }
    let exif = ExifInfo::read(bytes);
    let decoded = catch_unwind(AssertUnwindSafe(|| decode_pixels(bytes, format, limits)))
        .map_err(|panic| {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            DecodeError::Panicked(msg)
        })??;
    let mut image = decoded;
    if let Some(o) = Orientation::from_exif(exif.orientation as u8) {
        image.apply_orientation(o);
    }
    Ok(DecodedImage {
        rgb: image.into_rgb8(),
        exif,
        format,
    })
}

fn decode_pixels(
    bytes: &[u8],
    format: ImageFormat,
    limits: &DecodeLimits,
) -> Result<DynamicImage, DecodeError> {
    let corrupt = |source| DecodeError::Corrupt { format, source };
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    let mut decoder_limits = Limits::default();
    // RGBA16 is the widest layout a decoder may hand back.
    decoder_limits.max_alloc = Some(limits.max_pixels * 8);
    decoder.set_limits(decoder_limits).map_err(corrupt)?;
    DynamicImage::from_decoder(decoder).map_err(corrupt)
}

/// Lenient decoders fill missing data with grey, so truncation is checked here: a JPEG's last
/// scan (after its last Start Of Scan marker; entropy-coded data cannot contain markers) must be
/// followed by the End Of Image marker; a PNG must contain its IEND chunk near the end.
pub(crate) fn is_truncated(format: ImageFormat, bytes: &[u8]) -> bool {
    match format {
        // Truncated unless an end-of-image marker follows the last start-of-scan, i.e. the
        // last EOI comes after the last SOS. Searched from the end (memchr's SIMD search):
        // a whole file's byte-by-byte scan was 3% of a 12 MP photo's analysis.
        ImageFormat::Jpeg => match memchr::memmem::rfind(bytes, &[0xFF, 0xD9]) {
            Some(eoi) => {
                memchr::memmem::find(&bytes[eoi..], &[0xFF, 0xDA]).is_some()
                    || memchr::memmem::find(&bytes[..eoi], &[0xFF, 0xDA]).is_none()
            }
            None => true,
        },
        ImageFormat::Png => {
            let tail = &bytes[bytes.len().saturating_sub(1 << 16)..];
            !tail.windows(4).any(|w| w == b"IEND")
        }
        _ => false,
    }
}

/// A copy of `rgb` shrunk so that neither side exceeds `max_side` (never enlarged), and the
/// factor from `rgb` pixels to the copy's.
pub fn shrink_to_fit(rgb: &RgbImage, max_side: u32) -> (RgbImage, f32) {
    let (w, h) = rgb.dimensions();
    let scale = (max_side as f32 / w.max(h) as f32).min(1.0);
    if scale >= 1.0 {
        return (rgb.clone(), 1.0);
    }
    let nw = ((w as f32 * scale).round() as u32).max(1);
    let nh = ((h as f32 * scale).round() as u32).max(1);
    (resize_triangle(rgb, nw, nh), nw as f32 / w as f32)
}

/// Taps of the triangle filter for one output coordinate along an axis: the first input index
/// and the normalised weights. The arithmetic is `image::imageops::resize`'s, step for step, so
/// the result is byte-identical to it (detections flip on one-level differences: see
/// docs/PERFORMANCE.md).
fn triangle_taps(len: u32, new_len: u32) -> Vec<(usize, Vec<f32>)> {
    let ratio = len as f32 / new_len as f32;
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let support = sratio; // the triangle kernel's support is 1
    (0..new_len)
        .map(|out| {
            let centre = (out as f32 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, i64::from(len) - 1);
            let right = ((centre + support).ceil() as i64).clamp(left + 1, i64::from(len));
            let centre = centre - 0.5;
            let mut ws: Vec<f32> = (left..right)
                .map(|i| {
                    let x = ((i as f32 - centre) / sratio).abs();
                    if x < 1.0 {
                        1.0 - x
                    } else {
                        0.0
                    }
                })
                .collect();
            let sum = ws.iter().fold(0.0f32, |a, w| a + w);
            for w in &mut ws {
                *w /= sum;
            }
            // The outermost taps often weigh exactly 0 (about one in seven at a 3x shrink):
            // left out, the sums are the same, since every term is >= 0.
            let first = ws.iter().position(|&w| w != 0.0).unwrap_or(0);
            let end = ws
                .iter()
                .rposition(|&w| w != 0.0)
                .map_or(ws.len(), |i| i + 1);
            ws.truncate(end);
            ws.drain(..first);
            (left as usize + first, ws)
        })
        .collect()
}

/// [`resize_triangle_body`], built for AVX2 where the CPU has it ([`crate::util::simd::fastest`]):
/// the same operations on 8 lanes instead of SSE2's 4, byte-identical, 2121x1414 -> 640x427
/// in 2.7 ms instead of 4.1.
pub fn resize_triangle(rgb: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    crate::util::simd::fastest(
        #[inline(always)]
        || resize_triangle_body(rgb, nw, nh),
    )
}

/// Triangle-filter resize with the same result as `image::imageops::resize(.., Triangle)`,
/// about 4x faster: rows are processed as contiguous slices the compiler vectorises, with the
/// same order of operations per output value, and no alpha channel. The vertical pass keeps
/// each run of `CHUNK` sums in registers over all its taps (2121x1414 -> 640x427: 4.8 ->
/// 4.1 ms with SSE2).
#[inline(always)]
fn resize_triangle_body(rgb: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    /// Floats of the vertical pass accumulated in registers across all taps before one store.
    const CHUNK: usize = 32;
    let (w, h) = rgb.dimensions();
    let (w3, nw3) = (w as usize * 3, nw as usize * 3);
    let src = rgb.as_raw();
    let columns = triangle_taps(w, nw);
    let mut out = vec![0u8; nw3 * nh as usize];
    // One output row at a time: a vertical pass into a full-width f32 row, then the
    // horizontal pass from it (the same operations as image's whole-image passes). The row
    // has one float to spare, so that each pixel is read as four lanes.
    let mut line = vec![0.0f32; w3 + 1];
    for (row, (top, ws)) in out.chunks_exact_mut(nw3).zip(triangle_taps(h, nh)) {
        let rows: Vec<&[u8]> = (top..top + ws.len())
            .map(|r| &src[r * w3..(r + 1) * w3])
            .collect();
        let whole = w3 - w3 % CHUNK;
        for (c, acc_out) in line[..whole].chunks_exact_mut(CHUNK).enumerate() {
            let mut acc = [0.0f32; CHUNK];
            for (input, wt) in rows.iter().zip(&ws) {
                let input = &input[c * CHUNK..(c + 1) * CHUNK];
                for (a, v) in acc.iter_mut().zip(input) {
                    *a += f32::from(*v) * wt;
                }
            }
            acc_out.copy_from_slice(&acc);
        }
        for (x, a) in line[whole..w3].iter_mut().enumerate() {
            *a = 0.0;
            for (input, wt) in rows.iter().zip(&ws) {
                *a += f32::from(input[whole + x]) * wt;
            }
        }
        for ((left, ws), px) in columns.iter().zip(row.chunks_exact_mut(3)) {
            let mut t = [0.0f32; 4];
            for (i, wt) in ws.iter().enumerate() {
                let p = &line[(left + i) * 3..(left + i) * 3 + 4];
                for (acc, v) in t.iter_mut().zip(p) {
                    *acc += v * wt;
                }
            }
            for (o, v) in px.iter_mut().zip(t) {
                let v = v.clamp(0.0, 255.0);
                // Rounds half away from zero like f32::round for 0..=255, without a libm call
                // (0.49999997 + 0.5 would round up to 1.0 in f32, hence the first case).
                *o = if v < 0.5 { 0 } else { (v + 0.5) as u8 };
            }
        }
    }
    RgbImage::from_raw(nw, nh, out).expect("buffer sized for nw x nh RGB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops;

    #[test]
    fn a_jpeg_is_truncated_unless_an_end_marker_follows_its_last_scan() {
        let main = jpeg_bytes(64, 48);
        assert!(!is_truncated(ImageFormat::Jpeg, &main));
        assert!(is_truncated(ImageFormat::Jpeg, &main[..main.len() / 2]));
        assert!(is_truncated(ImageFormat::Jpeg, &main[..main.len() - 1]));
        // Trailing bytes after the end marker (a phone's trailer) do not make it truncated.
        let trailer = [&main[..], &[0u8, 1, 2, 3, 0xFF, 0x00][..]].concat();
        assert!(!is_truncated(ImageFormat::Jpeg, &trailer));
        // An EXIF-style thumbnail (a whole JPEG, with its own scan and end marker) in APP1 does
        // not hide a main image cut in its scan.
        let thumb = jpeg_bytes(8, 8);
        let len = (thumb.len() + 2) as u16;
        let with_thumb = [
            &main[..2],
            &[0xFF, 0xE1][..],
            &len.to_be_bytes()[..],
            &thumb[..],
            &main[2..],
        ]
        .concat();
        assert!(!is_truncated(ImageFormat::Jpeg, &with_thumb));
        let cut = &with_thumb[..with_thumb.len() - 40];
        assert!(is_truncated(ImageFormat::Jpeg, cut));
        // Headers only: no scan at all.
        let sos = main.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        assert!(is_truncated(ImageFormat::Jpeg, &main[..sos]));
        let headers_and_end = [&main[..sos], &[0xFF, 0xD9][..]].concat();
        assert!(is_truncated(ImageFormat::Jpeg, &headers_and_end));
    }

    fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_a_jpeg() {
        let d = decode_bytes(&jpeg_bytes(40, 30), &DecodeLimits::default()).unwrap();
        assert_eq!(d.rgb.dimensions(), (40, 30));
        assert_eq!(d.format, ImageFormat::Jpeg);
        assert_eq!(d.exif.orientation, 1);
    }

    #[test]
    fn bad_inputs_give_named_errors() {
        let limits = DecodeLimits::default();
        assert!(matches!(
            decode_bytes(b"", &limits),
            Err(DecodeError::Empty)
        ));
        assert!(matches!(
            decode_bytes(b"this is not an image at all", &limits),
            Err(DecodeError::UnknownFormat)
        ));
        let jpeg = jpeg_bytes(64, 64);
        assert!(matches!(
            decode_bytes(&jpeg[..jpeg.len() / 2], &limits),
            Err(DecodeError::Truncated(ImageFormat::Jpeg))
        ));
    }

    #[test]
    fn raw_files_decode_from_their_largest_embedded_jpeg() {
        // A TIFF-like container holding a small thumbnail and a larger preview.
        let mut raw = b"II*\0\x08\0\0\0".to_vec();
        raw.extend(jpeg_bytes(16, 12));
        raw.extend(b"sensor data");
        raw.extend(jpeg_bytes(64, 48));
        raw.extend(b"more sensor data");
        let d = decode_raw(&raw, &DecodeLimits::default()).unwrap();
        assert_eq!(d.rgb.dimensions(), (64, 48));
        assert!(matches!(
            decode_raw(b"II*\0 no preview here", &DecodeLimits::default()),
            Err(DecodeError::RawWithoutPreview)
        ));
    }

    #[test]
    fn pixel_bomb_is_refused_before_decoding() {
        let limits = DecodeLimits {
            max_file_bytes: 1 << 20,
            max_pixels: 100,
        };
        assert!(matches!(
            decode_bytes(&jpeg_bytes(20, 20), &limits),
            Err(DecodeError::TooManyPixels {
                width: 20,
                height: 20,
                ..
            })
        ));
    }

    #[test]
    fn shrink_keeps_aspect_and_never_enlarges() {
        let img = RgbImage::new(1280, 640);
        let (small, scale) = shrink_to_fit(&img, 640);
        assert_eq!(small.dimensions(), (640, 320));
        assert_eq!(scale, 0.5);
        let (same, scale) = shrink_to_fit(&RgbImage::new(100, 50), 640);
        assert_eq!((same.dimensions(), scale), ((100, 50), 1.0));
    }

    #[test]
    fn fast_shrink_is_byte_identical_to_the_image_crate_triangle_filter() {
        let mut state = 1u32;
        let mut noisy = |w: u32, h: u32| {
            RgbImage::from_fn(w, h, |x, y| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 24) as u8;
                image::Rgb([(x / 4) as u8 ^ noise, (y / 3) as u8, noise])
            })
        };
        for (w, h, nw, nh) in [
            (1000, 700, 640, 448),
            (2121, 1414, 640, 427),
            (2016, 1512, 640, 480),
            (37, 1203, 20, 640),
            // Enlarged, as a small face's crop is for the pet check's 160 px tile.
            (50, 41, 160, 160),
            (300, 90, 160, 160),
        ] {
            let img = noisy(w, h);
            let reference = imageops::resize(&img, nw, nh, imageops::FilterType::Triangle);
            // The build for this CPU (AVX2 where it has it) and the portable one.
            assert!(
                resize_triangle(&img, nw, nh) == reference,
                "{w}x{h} -> {nw}x{nh} differs from image::imageops::resize"
            );
            assert!(
                crate::util::simd::portable(|| resize_triangle_body(&img, nw, nh)) == reference,
                "{w}x{h} -> {nw}x{nh}: the portable build differs from image::imageops::resize"
            );
        }
        let (small, scale) = shrink_to_fit(&noisy(1000, 700), 640);
        assert_eq!(small.dimensions(), (640, 448));
        assert!((scale - 0.64).abs() < 1e-6);
    }
}
