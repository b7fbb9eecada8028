//! Fuzzes what a hostile file reaches before any model runs: format sniffing, EXIF parsing,
//! decoding under the size caps, orientation, the detector-sized copy and the detector's
//! letterboxed input tensor. Any panic or crash here is a bug: bad photos must become errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use photo_organizer::decode::{decode_bytes, shrink_to_fit, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    // Small caps keep each run fast while still exercising the bomb checks.
    let limits = DecodeLimits {
        max_file_bytes: 1 << 22,
        max_pixels: 4_000_000,
    };
    let _ = photo_organizer::exif::ExifInfo::read(data);
    if let Ok(decoded) = decode_bytes(data, &limits) {
        let (small, _) = shrink_to_fit(&decoded.rgb, 640);
        let (w, h) = small.dimensions();
        if let Some(view) = po_backend_api::RgbView::new(w, h, small.as_raw()) {
            let _ = po_backend_onnx::yunet::letterbox(view, po_backend_onnx::yunet::Channels::Bgr, 0.0, 1.0);
        }
    }
});
