//! Decodes photos as the pipeline does (libheif from `photo_organizer setup`'s cache for HEIF)
//! and prints the time of each decode; with `--png DIR`, writes each result as a PNG there.
//! scripts/bench-heic.sh runs it on a 12 MP HEIC and the same photo as a JPEG, side by side.
//!
//! cargo run --release --example heif_decode -- [--reps N] [--png DIR] PHOTO...

use std::{path::PathBuf, time::Instant};

use photo_organizer::{
    media::decode::{decode_file, DecodeLimits},
    media::heif,
    setup::models::Manifest,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut reps, mut png, mut photos) = (5usize, None::<PathBuf>, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--png" => png = Some(args.next().expect("--png DIR").into()),
            _ => photos.push(PathBuf::from(a)),
        }
    }
    let cache = po_backend_api::setup_cache_dir();
    let files: Vec<PathBuf> = Manifest::builtin()
        .heif_libraries()
        .map(|a| a.path_in(&cache))
        .collect();
    heif::install(&files);
    let limits = DecodeLimits::default();
    for photo in &photos {
        let mut best = f64::INFINITY;
        let mut last = None;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            let decoded =
                decode_file(photo, &limits).unwrap_or_else(|e| panic!("{}: {e}", photo.display()));
            best = best.min(t.elapsed().as_secs_f64());
            last = Some(decoded);
        }
        let decoded = last.expect("at least one decode");
        let (w, h) = decoded.rgb.dimensions();
        println!(
            "{}: {w}x{h}, best of {reps}: {:.1} ms",
            photo.display(),
            best * 1e3
        );
        if let Some(dir) = &png {
            let name = photo.file_name().expect("a file").to_string_lossy();
            decoded
                .rgb
                .save(dir.join(format!("{name}.png")))
                .expect("write the PNG");
        }
    }
}
