//! Large JPEGs decoded at the scale each stage needs: libjpeg-turbo (the `turbojpeg` crate)
//! scales in the IDCT by 1/2, 1/4 or 1/8, which costs a fraction of a full decode and of its
//! memory. [`decode_file_scaled`] decodes a photo at the smallest such scale whose long side
//! still covers what the detector looks at ([`first_scale`]) and orients it; photos too small to
//! scale, other formats, RAW files and JPEGs that libjpeg-turbo cannot turn into RGB take
//! [`crate::media::decode`]'s path unchanged. [`HiRes`] keeps the file so that the inference thread can
//! decode it again at a larger scale: the whole photo when the detector's tiled pass needs more
//! pixels ([`HiRes::for_tiled_pass`]), and the regions of faces that have fewer pixels than
//! their aligned crop ([`HiRes::regions`]).

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
};

use image::{metadata::Orientation, DynamicImage, ImageFormat, RgbImage};
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use crate::media::decode::{decode_bytes, decode_raw, is_truncated, DecodeError, DecodeLimits};
use crate::media::exif::ExifInfo;

/// The first decode's scale: the smallest whose long side covers the detector's tiled pass
/// ([`crate::media::TILED_MAX_SIDE`]), for a photo that large (1/2 at 12 MP, 1/4 at 48 MP);
/// otherwise 1/2 when that still covers its first pass ([`crate::media::DETECT_MAX_SIDE`]:
/// from about 1.7 MP), and the tiled pass, when it runs, decodes the photo again
/// ([`HiRes::for_tiled_pass`]). Not smaller: 12 MP photos at 1/4 measured no faster, as more
/// faces then need a region decode ([`HiRes::regions`]) and faceless ones the second decode.
pub fn first_scale(width: u32, height: u32) -> Option<ScalingFactor> {
    let half = ScalingFactor::ONE_HALF;
    scale_for(width, height, crate::media::TILED_MAX_SIDE).or_else(|| {
        (half.scale(width.max(height) as usize) >= crate::media::DETECT_MAX_SIDE as usize)
            .then_some(half)
    })
}
/// The second decode for faces with too few pixels is never larger than this (a 12 MP photo
/// at full size, a 48 MP one at 1/2, a 100 MP one at 1/4), so memory does not grow with the
/// photo.
pub const HIRES_MAX_PIXELS: u64 = 16_000_000;
/// Peak bytes per pixel of the scaled image while a photo is decoded and prepared: the
/// decoder's RGB buffer (3), its oriented copy (3), and the detector's copy and the face
/// crops (at most 4 more; see [`crate::media::budget`]).
const SCALED_BYTES_PER_PIXEL: u64 = 10;
/// Bytes per pixel of the first decode held while the photo is analysed: the oriented image
/// (3) and the detector's copy (at most 1 more).
const HELD_BYTES_PER_PIXEL: u64 = 4;
/// Peak bytes per pixel of the tiled pass's decode: the decoder's buffer (3), its oriented
/// copy (3) and the copy shrunk to the tiled pass's size (at most 3).
const TILED_BYTES_PER_PIXEL: u64 = 9;

/// The IDCT scales libjpeg-turbo has SIMD code for, smallest first.
const SCALES: [ScalingFactor; 3] = [
    ScalingFactor::ONE_EIGHTH,
    ScalingFactor::ONE_QUARTER,
    ScalingFactor::ONE_HALF,
];

/// The smallest scale whose long side is at least `min_side`; `None` when only the full size
/// is (the photo then takes the unscaled path).
pub fn scale_for(width: u32, height: u32, min_side: u32) -> Option<ScalingFactor> {
    let long = width.max(height) as usize;
    SCALES
        .into_iter()
        .find(|s| s.scale(long) >= min_side as usize)
}

/// Pixels of `width x height` at `scale`, as libjpeg-turbo rounds them (up).
fn scaled_pixels(width: u32, height: u32, scale: ScalingFactor) -> u64 {
    (scale.scale(width as usize) * scale.scale(height as usize)) as u64
}

/// The largest scale, at most full size and at most [`HIRES_MAX_PIXELS`], for the second decode.
fn largest_hires(width: u32, height: u32) -> ScalingFactor {
    [ScalingFactor::ONE]
        .into_iter()
        .chain(SCALES.into_iter().rev())
        .find(|&s| scaled_pixels(width, height, s) <= HIRES_MAX_PIXELS)
        .unwrap_or(ScalingFactor::ONE_EIGHTH)
}

/// The scale of the tiled pass's decode: the smallest that covers
/// [`crate::media::TILED_MAX_SIDE`], at most [`largest_hires`].
fn tiled_scale(width: u32, height: u32) -> ScalingFactor {
    let largest = largest_hires(width, height);
    scale_for(width, height, crate::media::TILED_MAX_SIDE)
        .filter(|s| as_fraction(*s) <= as_fraction(largest))
        .unwrap_or(largest)
}

fn as_fraction(s: ScalingFactor) -> f32 {
    s.num() as f32 / s.denom() as f32
}

/// Peak bytes of preparing and analysing a `width x height` JPEG on the scaled path, or `None`
/// when it takes the unscaled path: the larger of the first decode with its copies and of the
/// held image with the tiled pass's decode (when that pass decodes again), plus a larger
/// decode for small faces when one is possible beyond those.
pub fn scaled_peak_bytes(width: u32, height: u32) -> Option<u64> {
    let scale = first_scale(width, height)?;
    let first = scaled_pixels(width, height, scale);
    let tiled_at = tiled_scale(width, height);
    // The tiled pass decodes again only when it looks at more pixels than the first decode.
    let tiled = if as_fraction(tiled_at) > as_fraction(scale) {
        scaled_pixels(width, height, tiled_at)
    } else {
        0
    };
    let largest = largest_hires(width, height);
    let hires = if as_fraction(largest) > as_fraction(scale).max(as_fraction(tiled_at)) {
        scaled_pixels(width, height, largest)
    } else {
        0
    };
    let held = first * HELD_BYTES_PER_PIXEL;
    Some((first * SCALED_BYTES_PER_PIXEL).max(held + tiled * TILED_BYTES_PER_PIXEL) + hires * 3)
}

/// Bytes of a file read for its header by [`file_header_cost`]: the SOF marker follows the EXIF
/// and ICC segments, well within this in camera files.
const HEADER_BYTES: u64 = 1 << 20;

/// The JPEG at `path` from its header alone: its stored size and, when it takes the scaled
/// path, its [`scaled_peak_bytes`]. `None` when it is not a JPEG libjpeg-turbo can read the
/// header of within the first [`HEADER_BYTES`] (the caller asks a general reader then). Reads
/// at most that much, never the whole file.
pub fn file_header_cost(path: &Path) -> Option<((u32, u32), Option<u64>)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    // The start-of-image marker first: a HEIC or PNG is not read any further here.
    let mut head = vec![0u8; 2];
    file.read_exact(&mut head).ok()?;
    if head != [0xFF, 0xD8] {
        return None;
    }
    file.take(HEADER_BYTES - 2).read_to_end(&mut head).ok()?;
    let header = turbojpeg::read_header(&head).ok()?;
    let size = (header.width as u32, header.height as u32);
    let scaled = matches!(header.colorspace, Colorspace::YCbCr | Colorspace::Gray);
    Some((
        size,
        scaled.then(|| scaled_peak_bytes(size.0, size.1)).flatten(),
    ))
}

/// A photo decoded by [`decode_file_scaled`].
pub struct Decoded {
    /// Oriented as a person would see it, at `scale` of the photo's size.
    pub rgb: RgbImage,
    /// `rgb` pixels per photo pixel (1.0 on the unscaled path).
    pub scale: f32,
    /// The photo's oriented size in pixels.
    pub full: (u32, u32),
    pub exif: ExifInfo,
    /// The file, kept for a larger decode of small faces; `None` on the unscaled path.
    pub hires: Option<HiRes>,
}

/// A scaled JPEG's bytes and the facts needed to decode regions of it at a larger scale.
pub struct HiRes {
    bytes: Vec<u8>,
    /// Stored (unoriented) size.
    stored: (u32, u32),
    orientation: u32,
    /// The scale of the first decode; larger ones are tried for faces.
    scale: ScalingFactor,
}

/// Reads and decodes one photo, scaled when it is a JPEG large enough; see the module docs.
pub fn decode_file_scaled(path: &Path, limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let (bytes, is_raw) = crate::media::decode::read_photo(path, limits)?;
    let unscaled = |decoded: crate::media::decode::DecodedImage| Decoded {
        full: decoded.rgb.dimensions(),
        rgb: decoded.rgb,
        scale: 1.0,
        exif: decoded.exif,
        hires: None,
    };
    if is_raw {
        return decode_raw(&bytes, limits).map(unscaled);
    }
    match scaled(bytes, limits)? {
        Ok(decoded) => Ok(decoded),
        Err(bytes) => decode_bytes(&bytes, limits).map(unscaled),
    }
}

/// The scaled decode, or the bytes back when the photo should take the unscaled path (not a
/// JPEG, too small, a colour space libjpeg-turbo cannot turn into RGB, or a decode error: the
/// unscaled decoder then names the cause).
fn scaled(bytes: Vec<u8>, limits: &DecodeLimits) -> Result<Result<Decoded, Vec<u8>>, DecodeError> {
    if image::guess_format(&bytes).ok() != Some(ImageFormat::Jpeg)
        || is_truncated(ImageFormat::Jpeg, &bytes)
    {
        return Ok(Err(bytes));
    }
    let Ok(header) = turbojpeg::read_header(&bytes) else {
        return Ok(Err(bytes));
    };
    let (w, h) = (header.width as u32, header.height as u32);
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(DecodeError::TooManyPixels {
            width: w,
            height: h,
            max: limits.max_pixels,
        });
    }
    let rgb_colourspace = matches!(header.colorspace, Colorspace::YCbCr | Colorspace::Gray);
    let Some(scale) = first_scale(w, h).filter(|_| rgb_colourspace) else {
        return Ok(Err(bytes));
    };
    let Some(stored) = decode_at(&bytes, scale) else {
        return Ok(Err(bytes));
    };
    let exif = ExifInfo::read(&bytes);
    let rgb = orient(stored, u32::from(exif.orientation));
    let full = oriented_size((w, h), u32::from(exif.orientation));
    Ok(Ok(Decoded {
        scale: rgb.width() as f32 / full.0 as f32,
        rgb,
        full,
        hires: Some(HiRes {
            bytes,
            stored: (w, h),
            orientation: u32::from(exif.orientation),
            scale,
        }),
        exif,
    }))
}

/// The JPEG at `scale`, as stored (not oriented); `None` on any decoder error or panic.
fn decode_at(bytes: &[u8], scale: ScalingFactor) -> Option<RgbImage> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut decompressor = Decompressor::new().ok()?;
        let header = decompressor.read_header(bytes).ok()?.scaled(scale);
        decompressor.set_scaling_factor(scale).ok()?;
        let mut image = turbojpeg::Image {
            pixels: vec![0u8; header.width * header.height * 3],
            width: header.width,
            pitch: header.width * 3,
            height: header.height,
            format: PixelFormat::RGB,
        };
        decompressor.decompress(bytes, image.as_deref_mut()).ok()?;
        RgbImage::from_raw(header.width as u32, header.height as u32, image.pixels)
    }))
    .ok()
    .flatten()
}

/// The JPEG `bytes` decoded at `num/denom` of its size (1/1, 1/2, 1/4 or 1/8), as stored; for
/// `photo_organizer bench`'s decode time per scale.
pub fn decode_jpeg_at(bytes: &[u8], num: usize, denom: usize) -> Option<RgbImage> {
    decode_at(bytes, ScalingFactor::new(num, denom))
}

/// The size of a `stored` image once EXIF orientation `o` is applied (5-8 turn it).
fn oriented_size(stored: (u32, u32), o: u32) -> (u32, u32) {
    if matches!(o, 5..=8) {
        (stored.1, stored.0)
    } else {
        stored
    }
}

fn orient(stored: RgbImage, orientation: u32) -> RgbImage {
    match Orientation::from_exif(orientation as u8) {
        Some(Orientation::NoTransforms) | None => stored,
        Some(o) => {
            let mut image = DynamicImage::ImageRgb8(stored);
            image.apply_orientation(o);
            image.into_rgb8()
        }
    }
}

/// `[x0, y0, x1, y1]` in oriented pixels of an image `oriented` in size, as the same region of
/// the stored image (before orientation `o` is applied).
pub fn oriented_to_stored(rect: [u32; 4], oriented: (u32, u32), o: u32) -> [u32; 4] {
    let [x0, y0, x1, y1] = rect;
    let (w, h) = oriented;
    // Each orientation's stored rectangle, from the oriented one's edges.
    match o {
        2 => [w - x1, y0, w - x0, y1],
        3 => [w - x1, h - y1, w - x0, h - y0],
        4 => [x0, h - y1, x1, h - y0],
        5 => [y0, x0, y1, x1],
        6 => [y0, w - x1, y1, w - x0],
        7 => [h - y1, w - x1, h - y0, w - x0],
        8 => [h - y1, x0, h - y0, x1],
        _ => rect,
    }
}

/// An oriented region of the photo at a larger scale, for one face's alignment.
pub struct Region {
    pub rgb: RgbImage,
    /// Region pixels per photo pixel.
    pub scale: f32,
    /// The region's top-left corner in photo pixels.
    pub origin: [f32; 2],
}

impl HiRes {
    /// The scale of the first decode.
    pub fn scale(&self) -> ScalingFactor {
        self.scale
    }

    /// The whole photo decoded again, oriented, at the scale the detector's tiled pass looks
    /// at ([`crate::media::TILED_MAX_SIDE`]) when that is larger than the first decode: the
    /// image, its pixels per photo pixel, and that scale (for [`HiRes::scale_needed`]). `None`
    /// when the first decode is as large, or the decode fails (the tiled pass then looks at the
    /// first decode).
    pub fn for_tiled_pass(&self) -> Option<(RgbImage, f32, ScalingFactor)> {
        let (w, h) = self.stored;
        let scale = tiled_scale(w, h);
        if as_fraction(scale) <= as_fraction(self.scale) {
            return None;
        }
        let rgb = orient(decode_at(&self.bytes, scale)?, self.orientation);
        let pixels_per_photo_pixel =
            rgb.width() as f32 / oriented_size(self.stored, self.orientation).0 as f32;
        Some((rgb, pixels_per_photo_pixel, scale))
    }

    /// The scale (region pixels per photo pixel) a face needs when, in the photo decoded at
    /// `decoded_at`, it has `pixels_per_crop_pixel` of its aligned crop's pixels; `None` when
    /// that decode already suffices or nothing larger is allowed.
    pub fn scale_needed(
        &self,
        decoded_at: ScalingFactor,
        pixels_per_crop_pixel: f32,
    ) -> Option<ScalingFactor> {
        if pixels_per_crop_pixel >= 1.0 || !pixels_per_crop_pixel.is_finite() {
            return None;
        }
        let (w, h) = self.stored;
        let have = as_fraction(decoded_at);
        let want = have / pixels_per_crop_pixel.max(1e-3);
        let largest = largest_hires(w, h);
        let pick = SCALES
            .into_iter()
            .chain([ScalingFactor::ONE])
            .filter(|&s| as_fraction(s) > have && as_fraction(s) <= as_fraction(largest))
            .find(|&s| as_fraction(s) >= want)
            .or(Some(largest).filter(|&s| as_fraction(s) > have))?;
        Some(pick)
    }

    /// Decodes the photo once at `scale`, only the rectangle around all of `rects` (photo
    /// pixels, oriented; [`crate::media::jpeg_crop`]), and keeps each of them: the regions, oriented,
    /// in order; `None` when the decode fails (the faces are then aligned from the first
    /// decode).
    pub fn regions(&self, scale: ScalingFactor, rects: &[[f32; 4]]) -> Option<Vec<Region>> {
        let scaled = (
            scale.scale(self.stored.0 as usize) as u32,
            scale.scale(self.stored.1 as usize) as u32,
        );
        let oriented = oriented_size(scaled, self.orientation);
        let s = oriented.0 as f32 / oriented_size(self.stored, self.orientation).0 as f32;
        let wanted: Vec<([u32; 4], [u32; 4])> = rects
            .iter()
            .map(|r| {
                let clamp = |v: f32, max: u32| ((v * s).max(0.0) as u32).min(max);
                let (x0, y0) = (
                    clamp(r[0].floor(), oriented.0),
                    clamp(r[1].floor(), oriented.1),
                );
                let rect = [
                    x0,
                    y0,
                    clamp(r[2].ceil(), oriented.0).max(x0 + 1),
                    clamp(r[3].ceil(), oriented.1).max(y0 + 1),
                ];
                (rect, oriented_to_stored(rect, oriented, self.orientation))
            })
            .collect();
        let union = wanted.iter().fold([u32::MAX, u32::MAX, 0, 0], |u, (_, r)| {
            [
                u[0].min(r[0]),
                u[1].min(r[1]),
                u[2].max(r[2]),
                u[3].max(r[3]),
            ]
        });
        // Chroma upsampling treats a crop's border as the image's: a margin keeps it away.
        let m = CROP_MARGIN;
        let around = [
            union[0].saturating_sub(m),
            union[1].saturating_sub(m),
            union[2] + m,
            union[3] + m,
        ];
        let crop =
            crate::media::jpeg_crop::decode_crop(&self.bytes, scale, around).or_else(|| {
                decode_at(&self.bytes, scale).map(|rgb| crate::media::jpeg_crop::Crop {
                    rgb,
                    x: 0,
                    y: 0,
                })
            })?;
        let (cw, ch) = crop.rgb.dimensions();
        Some(
            wanted
                .into_iter()
                .map(|(rect, [x0, y0, x1, y1])| {
                    let (x0, y0) = (
                        x0.saturating_sub(crop.x).min(cw),
                        y0.saturating_sub(crop.y).min(ch),
                    );
                    let (x1, y1) = (
                        (x1 - crop.x.min(x1)).min(cw).max(x0),
                        (y1 - crop.y.min(y1)).min(ch).max(y0),
                    );
                    let part =
                        image::imageops::crop_imm(&crop.rgb, x0, y0, x1 - x0, y1 - y0).to_image();
                    Region {
                        rgb: orient(part, self.orientation),
                        scale: s,
                        origin: [rect[0] as f32 / s, rect[1] as f32 / s],
                    }
                })
                .collect(),
        )
    }
}

/// Scaled pixels decoded around the faces' regions beyond what they need (two iMCU rows of
/// 4:2:0 at full size).
const CROP_MARGIN: u32 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_the_smallest_that_covers_the_tiled_pass() {
        assert_eq!(scale_for(4032, 3024, 1920), Some(ScalingFactor::ONE_HALF));
        assert_eq!(
            scale_for(8000, 6000, 1920),
            Some(ScalingFactor::ONE_QUARTER)
        );
        assert_eq!(
            scale_for(16000, 12000, 1920),
            Some(ScalingFactor::ONE_EIGHTH)
        );
        assert_eq!(scale_for(3000, 2000, 1920), None, "1/2 would be 1500 px");
        assert_eq!(scale_for(1024, 768, 1920), None);
    }

    #[test]
    fn the_first_decode_covers_the_detector_and_the_tiled_pass_decodes_small_photos_again() {
        assert_eq!(first_scale(4032, 3024), Some(ScalingFactor::ONE_HALF));
        assert_eq!(first_scale(8000, 6000), Some(ScalingFactor::ONE_QUARTER));
        assert_eq!(
            first_scale(3264, 2448),
            Some(ScalingFactor::ONE_HALF),
            "not 1/4"
        );
        assert_eq!(first_scale(3000, 2000), Some(ScalingFactor::ONE_HALF));
        assert_eq!(first_scale(2121, 1414), Some(ScalingFactor::ONE_HALF));
        assert_eq!(first_scale(1200, 900), None, "1/2 would be 600 px");
        assert_eq!(tiled_scale(4032, 3024), ScalingFactor::ONE_HALF);
        assert_eq!(tiled_scale(2121, 1414), ScalingFactor::ONE);
        assert_eq!(tiled_scale(8000, 6000), ScalingFactor::ONE_QUARTER);
        assert_eq!(tiled_scale(16000, 12000), ScalingFactor::ONE_EIGHTH);
    }

    #[test]
    fn peak_memory_does_not_grow_with_the_photo() {
        let peak = |w, h| scaled_peak_bytes(w, h).unwrap();
        let twelve = peak(4032, 3024);
        // The unscaled path held 10 bytes a pixel of the full photo (crate::media::budget).
        assert!(twelve < 4032 * 3024 * 10 * 6 / 10, "{twelve}");
        // A 3 MP photo decoded at 1/2, then again at full size for the tiled pass: no more
        // than the unscaled path's 10 bytes a pixel, and at least its full-size decode.
        let three = peak(2000, 1500);
        assert!(
            (2000 * 1500 * 3..=2000 * 1500 * 10).contains(&three),
            "{three}"
        );
        for (w, h) in [(8000, 6000), (8192, 6144), (12000, 8000), (16000, 12000)] {
            let p = peak(w, h);
            assert!(p <= twelve * 13 / 10, "{w}x{h}: {p} vs 12 MP {twelve}");
        }
        assert_eq!(largest_hires(4032, 3024), ScalingFactor::ONE);
        assert_eq!(largest_hires(8000, 6000), ScalingFactor::ONE_HALF);
        assert_eq!(largest_hires(12000, 8000), ScalingFactor::ONE_QUARTER);
    }

    #[test]
    fn stored_rectangles_match_orienting_the_whole_image() {
        // A 7x5 stored image of distinct pixels: cropping the mapped rectangle and orienting
        // the crop must give the same pixels as orienting the whole image and cropping.
        let stored = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8, y as u8, 0]));
        for o in 1..=8 {
            let whole = orient(stored.clone(), o);
            let dims = whole.dimensions();
            let rect = [1, 2, dims.0 - 1, dims.1 - 1];
            let [x0, y0, x1, y1] = oriented_to_stored(rect, dims, o);
            let crop = image::imageops::crop_imm(&stored, x0, y0, x1 - x0, y1 - y0).to_image();
            let expected = image::imageops::crop_imm(
                &whole,
                rect[0],
                rect[1],
                rect[2] - rect[0],
                rect[3] - rect[1],
            )
            .to_image();
            assert!(orient(crop, o) == expected, "orientation {o}");
        }
    }

    #[test]
    fn face_regions_match_a_whole_decode_in_every_orientation() {
        let bytes = crate::media::jpeg_crop::tests::noisy_jpeg(640, 480);
        let whole = decode_at(&bytes, ScalingFactor::ONE).unwrap();
        for o in 1..=8 {
            let hires = HiRes {
                bytes: bytes.clone(),
                stored: (640, 480),
                orientation: o,
                scale: ScalingFactor::ONE_QUARTER,
            };
            let oriented = orient(whole.clone(), o);
            // Two inside the photo, one over its top-left corner, one past its far edges.
            let rects = [
                [30.2, 41.7, 130.9, 160.1],
                [300.0, 200.5, 420.0, 330.0],
                [-12.0, -7.5, 60.0, 50.0],
                [400.0, 380.0, 900.0, 900.0],
            ];
            let regions = hires.regions(ScalingFactor::ONE, &rects).unwrap();
            let (ow, oh) = oriented.dimensions();
            for (r, region) in rects.iter().zip(&regions) {
                let [x0, y0] = region.origin.map(|v| v as u32);
                let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
                assert_eq!(
                    [x0, y0],
                    [clamp(r[0], ow), clamp(r[1], oh)],
                    "orientation {o}"
                );
                let (w, h) = region.rgb.dimensions();
                let expected = image::imageops::crop_imm(&oriented, x0, y0, w, h).to_image();
                assert!(region.rgb == expected, "orientation {o}, rect {r:?}");
                let (x1, y1) = (clamp(r[2].ceil(), ow), clamp(r[3].ceil(), oh));
                assert_eq!((w, h), (x1 - x0, y1 - y0), "orientation {o}, rect {r:?}");
            }
        }
    }
}
