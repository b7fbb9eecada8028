//! HEIC/HEIF photos decoded by libheif, loaded at run time: [`install`] is given the files
//! `photo_organizer setup` fetched (models/manifest.toml, role `heif`: libde265, then libheif,
//! from pi-heif's wheel) and the first HEIF photo loads them with dlopen by full path, in that
//! order; [`decode_installed`] hands [`crate::media::decode`] the primary image as 8-bit RGB with the
//! file's irot/imir/clap transformations applied by libheif, and its EXIF read from the `Exif`
//! item. The EXIF Orientation tag is not applied again: in HEIF it only describes what irot/imir
//! already do (the spec calls it informational), so `exif.orientation` is the stored value and
//! the pixels are already upright. [`header_dimensions`] reads the size from the `ispe`
//! properties for the memory budget, without libheif.
//!
//! The libraries are loaded once per process and never unloaded (libheif keeps decoder plugins
//! and worker threads of its own); each decode uses its own `heif_context`, so decoders on
//! several threads do not share state. The C API is declared here by hand, for libheif 1.23's
//! headers (heif_context.h, heif_decoding.h, heif_image.h, heif_metadata.h, heif_error.h).

// The FFI to libheif: every unsafe block says what it relies on. The rest of the crate stays
// free of unsafe code.
#![allow(unsafe_code)]

use std::{
    ffi::{c_char, c_int, c_void, CStr},
    io::Read,
    path::{Path, PathBuf},
    ptr,
    sync::OnceLock,
};

use image::{ImageFormat, RgbImage};

use crate::{
    media::decoded::{DecodeError, DecodeLimits, DecodedImage},
    media::exif::ExifInfo,
};

pub use super::decoded::HeifError;

/// A libheif error with its message copied out (libheif's messages may belong to the context
/// or image that failed).
struct Failure {
    code: c_int,
    subcode: c_int,
    message: String,
}

impl From<RawError> for Failure {
    fn from(e: RawError) -> Self {
        Self {
            code: e.code,
            subcode: e.subcode,
            message: message_of(e),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct RawError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

type Context = c_void;
type Handle = c_void;
type Image = c_void;

const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHANNEL_INTERLEAVED: c_int = 10;
const COMPRESSION_HEVC: c_int = 1;
const COMPRESSION_AV1: c_int = 4;
const ERROR_UNSUPPORTED_FEATURE: c_int = 4;
const SUBERROR_NO_MATCHING_DECODER: c_int = 6003;
// `DecodedImage::format` for HEIF photos: the image crate has no HEIF variant, and AVIF is
// the member of the HEIF family it knows.
const HEIF_FORMAT: ImageFormat = ImageFormat::Avif;

/// The entry points used, copied out of the loaded library.
struct Api {
    get_version: unsafe extern "C" fn() -> *const c_char,
    init: unsafe extern "C" fn(*mut c_void) -> RawError,
    have_decoder_for_format: unsafe extern "C" fn(c_int) -> c_int,
    context_alloc: unsafe extern "C" fn() -> *mut Context,
    context_free: unsafe extern "C" fn(*mut Context),
    read_from_memory_without_copy:
        unsafe extern "C" fn(*mut Context, *const c_void, usize, *const c_void) -> RawError,
    get_primary_image_handle: unsafe extern "C" fn(*mut Context, *mut *mut Handle) -> RawError,
    handle_get_width: unsafe extern "C" fn(*const Handle) -> c_int,
    handle_get_height: unsafe extern "C" fn(*const Handle) -> c_int,
    handle_release: unsafe extern "C" fn(*const Handle),
    decode_image: unsafe extern "C" fn(
        *const Handle,
        *mut *mut Image,
        c_int,
        c_int,
        *const c_void,
    ) -> RawError,
    image_get_width: unsafe extern "C" fn(*const Image, c_int) -> c_int,
    image_get_height: unsafe extern "C" fn(*const Image, c_int) -> c_int,
    image_get_plane_readonly2: unsafe extern "C" fn(*const Image, c_int, *mut usize) -> *const u8,
    image_release: unsafe extern "C" fn(*const Image),
    image_get_decoding_warnings:
        unsafe extern "C" fn(*mut Image, c_int, *mut RawError, c_int) -> c_int,
    number_of_metadata_blocks: unsafe extern "C" fn(*const Handle, *const c_char) -> c_int,
    list_of_metadata_block_ids:
        unsafe extern "C" fn(*const Handle, *const c_char, *mut u32, c_int) -> c_int,
    metadata_size: unsafe extern "C" fn(*const Handle, u32) -> usize,
    get_metadata: unsafe extern "C" fn(*const Handle, u32, *mut c_void) -> RawError,
}

/// libheif, loaded.
pub struct Libheif {
    api: Api,
    version: String,
    /// Kept loaded for the life of the process (see the module docs).
    _libraries: Vec<std::mem::ManuallyDrop<libloading::Library>>,
}

impl std::fmt::Debug for Libheif {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Libheif {}", self.version)
    }
}

impl Libheif {
    /// Loads `files` by full path, in order (libheif last); each must exist.
    pub fn load(files: &[PathBuf]) -> Result<Self, HeifError> {
        let Some(heif_path) = files.last() else {
            return Err(HeifError::NotConfigured);
        };
        let mut libraries = Vec::new();
        for path in files {
            if !path.is_file() {
                return Err(HeifError::Missing { path: path.clone() });
            }
            // SAFETY: these are the manifest's files (sha256-checked by `setup`), whose
            // initialisers only set up libheif's and libde265's own state.
            let lib =
                unsafe { libloading::Library::new(path) }.map_err(|e| HeifError::LoadFailed {
                    path: path.clone(),
                    cause: e.to_string(),
                })?;
            libraries.push(std::mem::ManuallyDrop::new(lib));
        }
        let heif = &libraries[libraries.len() - 1];
        let missing = |e: libloading::Error| HeifError::LoadFailed {
            path: heif_path.clone(),
            cause: format!("{e} (not the libheif >= 1.20 C API)"),
        };
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the declared type is the one in libheif 1.23's header.
                *unsafe { heif.get(concat!($name, "\0").as_bytes()) }.map_err(missing)?
            };
        }
        let api = Api {
            get_version: sym!("heif_get_version"),
            init: sym!("heif_init"),
            have_decoder_for_format: sym!("heif_have_decoder_for_format"),
            context_alloc: sym!("heif_context_alloc"),
            context_free: sym!("heif_context_free"),
            read_from_memory_without_copy: sym!("heif_context_read_from_memory_without_copy"),
            get_primary_image_handle: sym!("heif_context_get_primary_image_handle"),
            handle_get_width: sym!("heif_image_handle_get_width"),
            handle_get_height: sym!("heif_image_handle_get_height"),
            handle_release: sym!("heif_image_handle_release"),
            decode_image: sym!("heif_decode_image"),
            image_get_width: sym!("heif_image_get_width"),
            image_get_height: sym!("heif_image_get_height"),
            image_get_plane_readonly2: sym!("heif_image_get_plane_readonly2"),
            image_release: sym!("heif_image_release"),
            image_get_decoding_warnings: sym!("heif_image_get_decoding_warnings"),
            number_of_metadata_blocks: sym!("heif_image_handle_get_number_of_metadata_blocks"),
            list_of_metadata_block_ids: sym!("heif_image_handle_get_list_of_metadata_block_IDs"),
            metadata_size: sym!("heif_image_handle_get_metadata_size"),
            get_metadata: sym!("heif_image_handle_get_metadata"),
        };
        // SAFETY: heif_init accepts NULL parameters; heif_get_version returns a static string.
        let (init, version) = unsafe {
            (
                (api.init)(ptr::null_mut()),
                CStr::from_ptr((api.get_version)())
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        if init.code != 0 {
            return Err(HeifError::LoadFailed {
                path: heif_path.clone(),
                cause: format!("heif_init: {}", message_of(init)),
            });
        }
        Ok(Self {
            api,
            version,
            _libraries: libraries,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether HEVC (HEIC) and AV1 (AVIF) photos can be decoded.
    pub fn decoders(&self) -> (bool, bool) {
        // SAFETY: a query on libheif's registered decoders.
        unsafe {
            (
                (self.api.have_decoder_for_format)(COMPRESSION_HEVC) != 0,
                (self.api.have_decoder_for_format)(COMPRESSION_AV1) != 0,
            )
        }
    }

    /// The primary image of a HEIF file as upright 8-bit RGB, with its EXIF.
    pub fn decode(&self, bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, DecodeError> {
        let ctx = Ctx::new(&self.api);
        let handle = ctx.primary(bytes).map_err(|e| self.error(e))?;
        // After irot/imir/clap: the size of the image handed back.
        // SAFETY: `handle` is a live handle of `ctx`.
        let (width, height) = unsafe {
            (
                (self.api.handle_get_width)(handle.0),
                (self.api.handle_get_height)(handle.0),
            )
        };
        let (width, height) = (width.max(0) as u32, height.max(0) as u32);
        if u64::from(width) * u64::from(height) > limits.max_pixels {
            return Err(DecodeError::TooManyPixels {
                width,
                height,
                max: limits.max_pixels,
            });
        }
        let exif = self.exif(&handle);
        let rgb = self.pixels(&handle).map_err(|e| self.error(e))?;
        Ok(DecodedImage {
            rgb,
            exif,
            format: HEIF_FORMAT,
        })
    }

    fn pixels(&self, handle: &HandleGuard<'_>) -> Result<RgbImage, Failure> {
        let mut img: *mut Image = ptr::null_mut();
        // SAFETY: NULL decoding options are libheif's defaults, which apply the transformations.
        let err = unsafe {
            (self.api.decode_image)(
                handle.0,
                &mut img,
                COLORSPACE_RGB,
                CHROMA_INTERLEAVED_RGB,
                ptr::null(),
            )
        };
        if err.code != 0 {
            return Err(err.into());
        }
        let img = ImageGuard(&self.api, img);
        // A grid image whose tiles cannot all be decoded (a cut or damaged file) comes back
        // with the missing tiles blank and a warning each; such a photo is refused, as a
        // truncated JPEG is.
        let mut warning = RawError {
            code: 0,
            subcode: 0,
            message: ptr::null(),
        };
        // SAFETY: room for the one warning asked for.
        if unsafe { (self.api.image_get_decoding_warnings)(img.1, 0, &mut warning, 1) } > 0 {
            return Err(warning.into());
        }
        let mut stride = 0usize;
        // SAFETY: `img` is a live interleaved-RGB image; the plane holds `height` rows of
        // `stride` bytes, each with at least `width * 3` bytes of pixels.
        unsafe {
            let w = (self.api.image_get_width)(img.1, CHANNEL_INTERLEAVED);
            let h = (self.api.image_get_height)(img.1, CHANNEL_INTERLEAVED);
            let plane =
                (self.api.image_get_plane_readonly2)(img.1, CHANNEL_INTERLEAVED, &mut stride);
            let row = w.max(0) as usize * 3;
            if plane.is_null() || w <= 0 || h <= 0 || stride < row {
                return Err(Failure {
                    code: 2,
                    subcode: 0,
                    message: "libheif returned no RGB plane".into(),
                });
            }
            let mut out = Vec::with_capacity(row * h as usize);
            for y in 0..h as usize {
                out.extend_from_slice(std::slice::from_raw_parts(plane.add(y * stride), row));
            }
            Ok(RgbImage::from_raw(w as u32, h as u32, out).expect("sized for w x h RGB"))
        }
    }

    /// The first `Exif` item of the image: a 4-byte big-endian offset, then the TIFF header
    /// that many bytes further (some writers put `Exif\0\0` there).
    fn exif(&self, handle: &HandleGuard<'_>) -> ExifInfo {
        let filter = c"Exif";
        let mut id = 0u32;
        // SAFETY: `id` has room for the one ID asked for; the buffer is sized by libheif.
        let block = unsafe {
            if (self.api.number_of_metadata_blocks)(handle.0, filter.as_ptr()) < 1
                || (self.api.list_of_metadata_block_ids)(handle.0, filter.as_ptr(), &mut id, 1) < 1
            {
                return ExifInfo::read(&[]);
            }
            let size = (self.api.metadata_size)(handle.0, id);
            let mut data = vec![0u8; size];
            let err = (self.api.get_metadata)(handle.0, id, data.as_mut_ptr().cast());
            if err.code != 0 {
                return ExifInfo::read(&[]);
            }
            data
        };
        ExifInfo::read_tiff(tiff_of_exif_item(&block).unwrap_or_default())
    }

    fn error(&self, e: Failure) -> DecodeError {
        let message = e.message;
        DecodeError::Heif(
            if e.code == ERROR_UNSUPPORTED_FEATURE || e.subcode == SUBERROR_NO_MATCHING_DECODER {
                HeifError::NoDecoder {
                    message,
                    version: self.version.clone(),
                }
            } else {
                HeifError::Corrupt { message }
            },
        )
    }
}

/// The TIFF data in a HEIF `Exif` item.
fn tiff_of_exif_item(block: &[u8]) -> Option<Vec<u8>> {
    let offset = u32::from_be_bytes(block.get(..4)?.try_into().ok()?) as usize;
    let mut tiff = block.get(4usize.checked_add(offset)?..)?;
    if tiff.starts_with(b"Exif\0\0") {
        tiff = &tiff[6..];
    }
    Some(tiff.to_vec())
}

fn message_of(e: RawError) -> String {
    if e.message.is_null() {
        return format!("libheif error {}.{}", e.code, e.subcode);
    }
    // SAFETY: libheif's messages are NUL-terminated and live as long as what failed, which is
    // still alive here.
    unsafe { CStr::from_ptr(e.message) }
        .to_string_lossy()
        .into_owned()
}

/// One decode's `heif_context`, freed when dropped.
struct Ctx<'a>(&'a Api, *mut Context);

struct HandleGuard<'a>(*mut Handle, &'a Api);

struct ImageGuard<'a>(&'a Api, *mut Image);

impl<'a> Ctx<'a> {
    fn new(api: &'a Api) -> Self {
        // SAFETY: no preconditions.
        Self(api, unsafe { (api.context_alloc)() })
    }

    /// Reads the file's boxes (not copying `bytes`, which outlive the context) and returns the
    /// primary image.
    fn primary(&self, bytes: &[u8]) -> Result<HandleGuard<'a>, Failure> {
        // SAFETY: `bytes` outlives the context (both live in `decode`); NULL options are the
        // defaults (libheif's own security limits).
        let err = unsafe {
            (self.0.read_from_memory_without_copy)(
                self.1,
                bytes.as_ptr().cast(),
                bytes.len(),
                ptr::null(),
            )
        };
        if err.code != 0 {
            return Err(err.into());
        }
        let mut handle: *mut Handle = ptr::null_mut();
        // SAFETY: the context holds a parsed file.
        let err = unsafe { (self.0.get_primary_image_handle)(self.1, &mut handle) };
        if err.code != 0 {
            return Err(err.into());
        }
        Ok(HandleGuard(handle, self.0))
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by heif_context_alloc; handles and images are released first
        // (they are dropped before the context in `decode`) and libheif counts references.
        unsafe { (self.0.context_free)(self.1) }
    }
}

impl Drop for HandleGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: returned by heif_context_get_primary_image_handle.
        unsafe { (self.1.handle_release)(self.0) }
    }
}

impl Drop for ImageGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: returned by heif_decode_image.
        unsafe { (self.0.image_release)(self.1) }
    }
}

static CONFIGURED: OnceLock<Vec<PathBuf>> = OnceLock::new();
static LOADED: OnceLock<Result<Libheif, HeifError>> = OnceLock::new();

/// Says where libheif's files are (from the configuration; the first call wins). Nothing is
/// loaded until a HEIF photo is decoded.
pub fn install(files: &[PathBuf]) {
    let _ = CONFIGURED.set(files.to_vec());
}

/// The installed libheif, loaded on first use.
pub fn installed() -> Result<&'static Libheif, HeifError> {
    LOADED
        .get_or_init(|| Libheif::load(CONFIGURED.get().map_or(&[], Vec::as_slice)))
        .as_ref()
        .map_err(Clone::clone)
}

/// [`Libheif::decode`] with the installed library; without it, the error names the fix.
pub fn decode_installed(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, DecodeError> {
    installed()?.decode(bytes, limits)
}

/// Width and height of the largest image a HEIF file declares (its `ispe` properties), read
/// from the file's first few MiB; `None` when it is not a HEIF file or declares none.
pub fn header_dimensions(path: &Path) -> Option<(u32, u32)> {
    /// The `meta` box comes first in HEIC files from phones; this bounds the read.
    const HEAD: u64 = 4 << 20;
    let mut file = std::fs::File::open(path).ok()?;
    // The brand first, so that other files (RAW previews, broken headers) cost 12 bytes.
    let mut head = vec![0u8; 12];
    file.read_exact(&mut head).ok()?;
    if !crate::media::decoded::is_heif(&head) {
        return None;
    }
    file.take(HEAD).read_to_end(&mut head).ok()?;
    let meta = child(&head, b"meta")?;
    // `meta` is a full box: version and flags before its children.
    let ipco = child(child(meta.get(4..)?, b"iprp")?, b"ipco")?;
    boxes(ipco)
        .filter(|(kind, _)| kind == b"ispe")
        .filter_map(|(_, body)| {
            let w = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
            let h = u32::from_be_bytes(body.get(8..12)?.try_into().ok()?);
            Some((w, h))
        })
        .max_by_key(|(w, h)| u64::from(*w) * u64::from(*h))
}

/// The body of the first box of type `kind` in `data`.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, body)| body)
}

/// The (type, body) of each ISO BMFF box in `data`, stopping at the first malformed or cut one.
fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let size = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as u64;
        let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, data.len() as u64),
            1 => (16, u64::from_be_bytes(data.get(8..16)?.try_into().ok()?)),
            n => (8, n),
        };
        let size = usize::try_from(size).ok()?;
        if size < header || size > data.len() {
            return None;
        }
        let body = &data[header..size];
        data = &data[size..];
        Some((kind, body))
    })
}

#[cfg(test)]
#[path = "heif_tests.rs"]
mod tests;
