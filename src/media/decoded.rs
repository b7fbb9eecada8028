//! The types every decoder shares: the limits a decode runs under, what it gives
//! ([`DecodedImage`]) and why it failed ([`DecodeError`], [`HeifError`]), and the sniffing that
//! picks the decoder. Below [`super::decode`] and [`super::heif`], so that neither imports the
//! other's types.

use std::path::PathBuf;

use image::{ImageFormat, RgbImage};

use crate::media::exif::ExifInfo;

/// Caps that keep one photo from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_file_bytes: u64,
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 << 20,
            // 200 megapixels: beyond any camera, below what would exhaust memory.
            max_pixels: 200_000_000,
        }
    }
}

pub struct DecodedImage {
    /// Oriented as a person would see it.
    pub rgb: RgbImage,
    pub exif: ExifInfo,
    pub format: ImageFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot read file: {0}")]
    Io(#[source] std::io::Error),
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("file is {size} bytes, over the {max}-byte limit")]
    FileTooLarge { size: u64, max: u64 },
    #[error("not a recognised image format")]
    UnknownFormat,
    #[error("truncated {0:?} file: it ends before the image data does")]
    Truncated(ImageFormat),
    #[error("{width}x{height} pixels is over the {max}-pixel limit (a decompression bomb?)")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("corrupt {format:?} data: {source}")]
    Corrupt {
        format: ImageFormat,
        #[source]
        source: image::ImageError,
    },
    #[error("decoding this photo needs about {needs_mb} MB, more than the memory budget of {budget_mb} MB; re-run with --max-memory {needs_mb} or more")]
    OverMemoryBudget { needs_mb: u64, budget_mb: u64 },
    #[error("the decoder crashed on this file: {0}")]
    Panicked(String),
    #[error(transparent)]
    Heif(#[from] HeifError),
    #[error("camera RAW file without an embedded JPEG preview; export it to JPEG and re-run")]
    RawWithoutPreview,
}

/// Why a HEIF photo could not be decoded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HeifError {
    #[error("HEIC/HEIF photos need libheif, which is not installed ({} is missing); run `photo_organizer setup`", path.display())]
    Missing { path: PathBuf },
    #[error("cannot load libheif ({}): {cause}; run `photo_organizer setup` to fetch it again", path.display())]
    LoadFailed { path: PathBuf, cause: String },
    #[error("HEIC/HEIF photos need libheif, and none was configured; run `photo_organizer setup`")]
    NotConfigured,
    #[error("{message}: libheif {version} here decodes HEVC (HEIC) only, not this codec (AVIF needs an AV1 decoder); convert the photo to JPEG and re-run")]
    NoDecoder { message: String, version: String },
    #[error("corrupt or truncated HEIF file: {message}")]
    Corrupt { message: String },
}

/// ISO base media files (HEIC, HEIF, AVIF) start with an `ftyp` box naming their brand.
pub fn is_heif(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(b"ftyp")
        && bytes.get(8..12).is_some_and(|brand| {
            [
                b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis",
            ]
            .iter()
            .any(|b| brand == *b)
        })
}
