//! One rectangle of a JPEG decoded at a given scale, without decoding the rest: libjpeg-turbo's
//! cropping decompression (`tj3SetCroppingRegion`), which the `turbojpeg` crate does not wrap.
//! Rows below the rectangle are not read at all, rows above it are entropy-decoded only, and
//! columns outside it skip the IDCT, upsampling and colour conversion. [`crate::media::jpeg_scaled`]
//! uses it to align small faces from more pixels than the first, scaled decode has, at a
//! fraction of a second full decode's cost and memory.

// The FFI to TurboJPEG 3: each unsafe block says what it relies on. The rest of the crate stays
// free of unsafe code.
#![allow(unsafe_code)]

use image::RgbImage;
use turbojpeg::{raw, ScalingFactor};

/// A decoded rectangle: its pixels (as stored, not oriented) and its top-left corner in the
/// scaled image's pixels. The rectangle can be larger than asked: its left edge is moved down to
/// a multiple of the scaled iMCU width, as libjpeg-turbo requires.
pub struct Crop {
    pub rgb: RgbImage,
    pub x: u32,
    pub y: u32,
}

/// iMCU width per TJSAMP value (4:4:4, 4:2:2, 4:2:0, grey, 4:4:0, 4:1:1, 4:4:1): turbojpeg.h's
/// `tjMCUWidth`, which is a static in the header, not a symbol of the library.
const MCU_WIDTH: [u32; 7] = [8, 16, 16, 8, 8, 32, 8];

/// A TurboJPEG decompressor, destroyed on drop.
struct Handle(raw::tjhandle);

impl Handle {
    fn new() -> Option<Handle> {
        // SAFETY: tj3Init has no preconditions; a null return is an error.
        let h = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as i32) };
        (!h.is_null()).then_some(Handle(h))
    }

    fn get(&self, param: raw::TJPARAM) -> i32 {
        // SAFETY: the handle is a live decompressor; tj3Get only reads a parameter.
        unsafe { raw::tj3Get(self.0, param as i32) }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { raw::tj3Destroy(self.0) }
    }
}

/// `len` at `scale`, rounded up as libjpeg-turbo's TJSCALED does ([`ScalingFactor::scale`]).
fn scaled(len: u32, scale: ScalingFactor) -> u32 {
    scale.scale(len as usize) as u32
}

/// Decodes `[x0, y0, x1, y1]` (scaled pixels, end exclusive) of the JPEG `bytes` at `scale` as
/// RGB. `None` on any decoder error, an empty rectangle, or a JPEG that cannot be cropped (a
/// lossless one, or one with an unusual chroma subsampling): the caller then decodes the whole
/// image.
pub fn decode_crop(bytes: &[u8], scale: ScalingFactor, rect: [u32; 4]) -> Option<Crop> {
    let handle = Handle::new()?;
    // SAFETY: `bytes` is a live slice of the given length; the header is only read from it.
    if unsafe { raw::tj3DecompressHeader(handle.0, bytes.as_ptr(), bytes.len() as raw::size_t) }
        != 0
    {
        return None;
    }
    if handle.get(raw::TJPARAM_TJPARAM_LOSSLESS) != 0 {
        return None;
    }
    let subsamp = usize::try_from(handle.get(raw::TJPARAM_TJPARAM_SUBSAMP)).ok()?;
    let mcu_w = *MCU_WIDTH.get(subsamp)?;
    let width = scaled(
        u32::try_from(handle.get(raw::TJPARAM_TJPARAM_JPEGWIDTH)).ok()?,
        scale,
    );
    let height = scaled(
        u32::try_from(handle.get(raw::TJPARAM_TJPARAM_JPEGHEIGHT)).ok()?,
        scale,
    );
    let step = scaled(mcu_w, scale).max(1);
    let [x0, y0, x1, y1] = rect;
    let (x1, y1) = (x1.min(width), y1.min(height));
    let x0 = x0 / step * step;
    if x0 >= x1 || y0 >= y1 {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let factor = raw::tjscalingfactor {
        num: scale.num() as i32,
        denom: scale.denom() as i32,
    };
    let region = raw::tjregion {
        x: x0 as i32,
        y: y0 as i32,
        w: w as i32,
        h: h as i32,
    };
    // SAFETY: the handle is live and its header was read; the region lies inside the scaled
    // image with its left edge on the scaled iMCU grid, as tj3SetCroppingRegion requires (it
    // checks this too and returns -1 otherwise).
    if unsafe { raw::tj3SetScalingFactor(handle.0, factor) } != 0
        || unsafe { raw::tj3SetCroppingRegion(handle.0, region) } != 0
    {
        return None;
    }
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    // SAFETY: with this scaling factor and cropping region the library writes `h` rows of
    // `w` RGB pixels at a pitch of `w * 3` bytes: exactly `pixels`' length. `bytes` is only read.
    let status = unsafe {
        raw::tj3Decompress8(
            handle.0,
            bytes.as_ptr(),
            bytes.len() as raw::size_t,
            pixels.as_mut_ptr(),
            (w * 3) as i32,
            raw::TJPF_TJPF_RGB,
        )
    };
    if status != 0 {
        return None;
    }
    Some(Crop {
        rgb: RgbImage::from_raw(w, h, pixels)?,
        x: x0,
        y: y0,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 12-bit-noise test JPEG of `w x h` with 4:2:0 chroma, so that upsampling at the crop's
    /// edges would show if it differed from a full decode.
    pub(crate) fn noisy_jpeg(w: u32, h: u32) -> Vec<u8> {
        encoded(w, h, false)
    }

    fn encoded(w: u32, h: u32, progressive: bool) -> Vec<u8> {
        let mut state = 12345u32;
        let img = RgbImage::from_fn(w, h, |x, y| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = (state >> 16) as u8 % 40;
            image::Rgb([
                (x * 255 / w) as u8 / 2 + n,
                (y * 255 / h) as u8 / 2 + n,
                ((x + y) % 200) as u8 + n / 2,
            ])
        });
        let mut c = turbojpeg::Compressor::new().unwrap();
        c.set_quality(90).unwrap();
        c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap();
        c.set_progressive(progressive).unwrap();
        let pixels = turbojpeg::Image {
            pixels: img.as_raw().as_slice(),
            width: w as usize,
            pitch: w as usize * 3,
            height: h as usize,
            format: turbojpeg::PixelFormat::RGB,
        };
        c.compress_to_vec(pixels).unwrap()
    }

    fn full(bytes: &[u8], scale: ScalingFactor) -> RgbImage {
        crate::media::jpeg_scaled::decode_jpeg_at(bytes, scale.num(), scale.denom()).unwrap()
    }

    #[test]
    fn a_crop_has_the_full_decodes_pixels_away_from_its_edges() {
        for (bytes, scale) in [
            (noisy_jpeg(640, 480), ScalingFactor::ONE),
            (noisy_jpeg(640, 480), ScalingFactor::ONE_HALF),
            (encoded(640, 480, true), ScalingFactor::ONE),
        ] {
            let whole = full(&bytes, scale);
            let rect = [
                scaled(203, scale),
                scaled(117, scale),
                scaled(451, scale),
                scaled(390, scale),
            ];
            let crop = decode_crop(&bytes, scale, rect).expect("croppable");
            // 4:2:0's iMCU is 16 px wide, 8 at 1/2.
            let step = scaled(16, scale);
            assert!(
                crop.x <= rect[0] && rect[0] - crop.x < step && crop.x.is_multiple_of(step),
                "left edge {}",
                crop.x
            );
            assert_eq!(crop.y, rect[1]);
            assert_eq!(crop.x + crop.rgb.width(), rect[2]);
            assert_eq!(crop.y + crop.rgb.height(), rect[3]);
            // Chroma upsampling may treat the crop's border as the image's: 2 px of margin.
            let mut worst = 0i32;
            for y in 2..crop.rgb.height() - 2 {
                for x in 2..crop.rgb.width() - 2 {
                    let a = crop.rgb.get_pixel(x, y).0;
                    let b = whole.get_pixel(crop.x + x, crop.y + y).0;
                    for c in 0..3 {
                        worst = worst.max((a[c] as i32 - b[c] as i32).abs());
                    }
                }
            }
            assert_eq!(worst, 0, "scale {}/{}", scale.num(), scale.denom());
        }
    }

    #[test]
    fn rectangles_are_clamped_to_the_image_and_empty_ones_refused() {
        let bytes = noisy_jpeg(200, 100);
        let crop = decode_crop(&bytes, ScalingFactor::ONE, [150, 50, 900, 900]).unwrap();
        assert_eq!(
            (crop.x + crop.rgb.width(), crop.y + crop.rgb.height()),
            (200, 100)
        );
        assert!(decode_crop(&bytes, ScalingFactor::ONE, [300, 0, 400, 50]).is_none());
        assert!(decode_crop(&bytes, ScalingFactor::ONE, [10, 60, 50, 60]).is_none());
        assert!(decode_crop(b"not a jpeg", ScalingFactor::ONE, [0, 0, 8, 8]).is_none());
        let cut = &bytes[..bytes.len() / 2];
        // A cut file decodes what it has or fails; it never reads past its end.
        let _ = decode_crop(cut, ScalingFactor::ONE, [0, 0, 200, 100]);
    }
}
