//! The memory budget for decoded photos: a decoder reserves what a photo will cost (from its
//! header: width x height, before any pixel is decoded) before decoding it, and the
//! reservation is returned when the inference worker is done with the photo. So photos in
//! flight stay under the budget whatever their size, and one photo that alone would exceed it
//! is refused with the fix, not decoded.

use std::{
    path::Path,
    sync::{Condvar, Mutex, PoisonError},
};

/// Default budget for decoded photos in flight: fits a 4 GB machine with the models loaded.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 2048;

/// Peak bytes per pixel while one photo is decoded and prepared: the decoder's buffer (up to
/// RGBA, 4 bytes), the RGB copy (3) and the EXIF-rotated copy (3).
const PEAK_BYTES_PER_PIXEL: u64 = 10;

/// What decoding `path` will hold at its peak, from the header alone; `None` when the header
/// cannot be read or has more pixels than the decoder accepts (the decoder then reports why),
/// or the format needs a preview scan (RAW). A large JPEG is decoded scaled
/// ([`crate::media::jpeg_scaled`]): its cost stays about that of a 12 MP photo whatever its size.
pub fn decode_cost(path: &Path, max_pixels: u64) -> Option<u64> {
    let file_bytes = std::fs::metadata(path).ok()?.len();
    let within = |(w, h): (u32, u32)| u64::from(w) * u64::from(h) <= max_pixels;
    // A JPEG from libjpeg-turbo's reading of its first megabyte: `image`'s reader would read
    // the whole file (2-5 MB for a phone photo) for its size.
    if let Some((size, peak)) = crate::media::jpeg_scaled::file_header_cost(path) {
        let full = u64::from(size.0) * u64::from(size.1) * PEAK_BYTES_PER_PIXEL;
        return within(size).then(|| file_bytes + peak.unwrap_or(full));
    }
    let (w, h) = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
        // HEIC/HEIF: the size its `ispe` properties declare (libheif's peak is below the
        // same 10 bytes a pixel: YCbCr planes, then the RGB copy).
        .or_else(|| crate::media::heif::header_dimensions(path))?;
    within((w, h)).then(|| file_bytes + u64::from(w) * u64::from(h) * PEAK_BYTES_PER_PIXEL)
}

/// A byte semaphore.
pub struct Budget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Bytes reserved from a [`Budget`], returned when dropped.
pub struct Reservation<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut used = self
            .budget
            .used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *used -= self.bytes;
        self.budget.freed.notify_all();
    }
}

impl Budget {
    pub fn new(total: u64) -> Self {
        Self {
            total,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Waits until `bytes` fit beside what is reserved, then reserves them; `None` when
    /// `bytes` alone exceed the whole budget.
    pub fn reserve(&self, bytes: u64) -> Option<Reservation<'_>> {
        if bytes > self.total {
            return None;
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used + bytes > self.total {
            used = self
                .freed
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used += bytes;
        Some(Reservation {
            budget: self,
            bytes,
        })
    }

    #[cfg(test)]
    fn used(&self) -> u64 {
        *self.used.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::Arc, time::Duration};

    #[test]
    fn reservations_wait_for_room_and_return_it_when_dropped() {
        let budget = Arc::new(Budget::new(100));
        let a = budget.reserve(60).unwrap();
        assert!(budget.reserve(101).is_none(), "over the whole budget");
        let b2 = Arc::clone(&budget);
        let waiter = std::thread::spawn(move || {
            let _r = b2.reserve(50).unwrap();
            b2.used()
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(budget.used(), 60, "the second reservation must wait");
        drop(a);
        assert_eq!(waiter.join().unwrap(), 50);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn cost_comes_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        image::RgbImage::new(300, 200).save(&p).unwrap();
        let cost = decode_cost(&p, u64::MAX).unwrap();
        assert!(cost >= 300 * 200 * PEAK_BYTES_PER_PIXEL, "{cost}");
        assert_eq!(
            decode_cost(&p, 300 * 200 - 1),
            None,
            "left to the decoder's limit"
        );
        std::fs::write(dir.path().join("b.jpg"), b"not an image").unwrap();
        assert_eq!(decode_cost(&dir.path().join("b.jpg"), u64::MAX), None);
    }

    /// A JPEG of `w x h` as far as any header reader can tell: a small real JPEG whose frame
    /// header (SOF0) says `w x h`. Its pixels are never decoded here.
    fn jpeg_header_of_size(w: u16, h: u16) -> Vec<u8> {
        let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 9, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        let mut bytes = out.into_inner();
        let sof = bytes.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
        bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        bytes
    }

    #[test]
    fn a_48_or_100_mp_jpeg_reserves_about_what_a_12_mp_one_does() {
        let dir = tempfile::tempdir().unwrap();
        let cost = |w: u16, h: u16| {
            let p = dir.path().join(format!("{w}x{h}.jpg"));
            std::fs::write(&p, jpeg_header_of_size(w, h)).unwrap();
            decode_cost(&p, u64::MAX).unwrap()
        };
        let twelve = cost(4032, 3024);
        let full_decode = 4032 * 3024 * PEAK_BYTES_PER_PIXEL;
        assert!(
            twelve < full_decode * 6 / 10,
            "12 MP: {twelve} vs {full_decode}"
        );
        for (w, h) in [(8000, 6000), (12240, 8160), (16000, 12000)] {
            let c = cost(w, h);
            assert!(c <= twelve * 13 / 10, "{w}x{h}: {c} vs 12 MP {twelve}");
        }
        // Too small to scale: the full decode's cost, as before.
        let small = cost(3000, 2000);
        assert!(small >= 3000 * 2000 * PEAK_BYTES_PER_PIXEL, "{small}");
    }
}
