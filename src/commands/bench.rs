//! `photo_organizer bench`: times each stage on a library (decode, detect, align+embed, end to
//! end on an empty cache per `--batch-sizes`, alternated, and a no-change re-run) and
//! clustering on synthetic faces; writes bench.json and bench.svg.

use std::{io::Write, path::Path, path::PathBuf, process::ExitCode, time::Instant};

use anyhow::Context;
use rayon::prelude::*;

use crate::{
    faces::analyse::{analyse, prepare, DETECT_MAX_SIDE},
    media::decode::{shrink_to_fit, DecodeLimits},
    media::scan::scan,
    output::report::print_json,
    pipeline::backend::start_backend,
};

/// A cache directory holding only links to the shared runtime and models: runs in it start cold.
fn cold_cache(shared: &Path, at: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(at)?;
    #[cfg(unix)]
    for sub in ["runtime", "models"] {
        std::os::unix::fs::symlink(shared.join(sub), at.join(sub))
            .with_context(|| format!("cannot link {} into {}", sub, at.display()))?;
    }
    Ok(())
}

pub fn run(b: &crate::config::BenchConfig, cache_dir: &Path) -> anyhow::Result<ExitCode> {
    use crate::people::bench::{cluster_figure, BenchReport, ClusterFigure, StageFigure};
    if let Some(n) = b.cluster_only {
        print_json(&cluster_figure(n)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("cannot find this program to re-run it")?;
    let mut report = BenchReport {
        machine: format!(
            "{} cores, {}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            std::env::consts::ARCH
        ),
        ..BenchReport::default()
    };
    if let Some(c) = &b.organize {
        let photos = scan(&c.source, &c.output, &c.exclude).photos;
        report.threads = c.threads;
        report.library = c.source.display().to_string();
        report.photos = photos.len();
        let provider = "cpu".to_string();
        let figure = |stage: &str, items: usize, seconds: f64| StageFigure {
            provider: provider.clone(),
            stage: stage.into(),
            per_s: items as f64 / seconds.max(1e-9),
            items,
            seconds,
        };
        eprintln!(
            "bench: decoding {} photos on {} threads",
            photos.len(),
            c.threads
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(c.threads)
            .build()?;
        let limits = DecodeLimits::default();
        crate::media::heif::install(&c.heif_libraries);
        let t = Instant::now();
        let decoded = pool.install(|| {
            photos
                .par_iter()
                .filter(|p| prepare(&p.path, &limits).is_ok())
                .count()
        });
        report
            .stages
            .push(figure("decode", decoded, t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let decoded = pool.install(|| {
            photos
                .par_iter()
                .filter(|p| {
                    crate::media::decode::decode_file(&p.path, &limits)
                        .map(|d| shrink_to_fit(&d.rgb, DETECT_MAX_SIDE))
                        .is_ok()
                })
                .count()
        });
        report.stages.push(figure(
            "decode at full size (as before scaled JPEG decoding)",
            decoded,
            t.elapsed().as_secs_f64(),
        ));
        let jpegs: Vec<Vec<u8>> = photos
            .iter()
            .filter_map(|p| std::fs::read(&p.path).ok())
            .filter(|b| image::guess_format(b).ok() == Some(image::ImageFormat::Jpeg))
            .collect();
        for denom in [1, 2, 4, 8] {
            let t = Instant::now();
            let decoded = pool.install(|| {
                jpegs
                    .par_iter()
                    .filter(|b| crate::media::jpeg_scaled::decode_jpeg_at(b, 1, denom).is_some())
                    .count()
            });
            let stage = format!("JPEG pixels alone at 1/{denom} (libjpeg-turbo)");
            report
                .stages
                .push(figure(&stage, decoded, t.elapsed().as_secs_f64()));
        }

        eprintln!("bench: detector and embedder, one inference thread");
        let t = Instant::now();
        let mut backend = start_backend(c, c.threads, &crate::util::progress::Lines::default())?;
        // Paid once per inference worker and run: what a small incremental run mostly costs.
        report.stages.push(figure(
            "start a backend (models read, sessions built)",
            1,
            t.elapsed().as_secs_f64(),
        ));
        let (mut detect_s, mut analyse_s, mut faces, mut analysed) = (0.0, 0.0, 0, 0);
        for p in &photos {
            let Ok(prepared) = prepare(&p.path, &limits) else {
                continue;
            };
            let (w, h) = prepared.detect.dimensions();
            let view = po_backend_api::RgbView::new(w, h, prepared.detect.as_raw())
                .expect("RgbImage is 3 bytes a pixel");
            let t = Instant::now();
            backend.detect(view)?;
            detect_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            faces += analyse(backend.as_mut(), &prepared)?.faces.len();
            analyse_s += t.elapsed().as_secs_f64();
            analysed += 1;
        }
        report.stages.push(figure("detect", analysed, detect_s));
        report.stages.push(figure(
            "align+embed (faces)",
            faces,
            (analyse_s - detect_s).max(1e-9),
        ));

        let work = tempfile_dir()?;
        let run = |label: &str, cache: &Path, batch: usize| -> anyhow::Result<f64> {
            let out = std::process::Command::new(&exe)
                .arg("-s")
                .arg(&c.source)
                .arg("-o")
                .arg(work.join("out"))
                .args(["--json", "-j", &c.threads.to_string()])
                .args(["--batch-size", &batch.to_string()])
                .env("PHOTO_ORGANIZER_CACHE", cache)
                .stderr(std::process::Stdio::null())
                .output()?;
            let s: serde_json::Value = serde_json::from_slice(&out.stdout)
                .with_context(|| format!("the {label} run printed no summary"))?;
            Ok(s["elapsed_s"].as_f64().unwrap_or(f64::NAN))
        };
        // Each batch size on an empty cache, alternated over the rounds so that the machine's
        // drift touches them alike; the best round of each is reported.
        let mut best = vec![f64::INFINITY; b.batch_sizes.len()];
        for round in 0..b.rounds {
            for (k, &batch) in b.batch_sizes.iter().enumerate() {
                eprintln!(
                    "bench: end to end, batch {batch}, empty cache (round {})",
                    round + 1
                );
                let cache = work.join(format!("cache-{round}-{batch}"));
                cold_cache(cache_dir, &cache)?;
                let _ = std::fs::remove_dir_all(work.join("out"));
                let label = format!("end to end, batch {batch}");
                best[k] = best[k].min(run(&label, &cache, batch)?);
                let _ = std::fs::remove_dir_all(&cache);
            }
        }
        for (&batch, &seconds) in b.batch_sizes.iter().zip(&best) {
            let label = format!("end to end, batch {batch}");
            report.stages.push(figure(&label, photos.len(), seconds));
        }
        eprintln!("bench: a no-change re-run");
        let cache = work.join("cache");
        cold_cache(cache_dir, &cache)?;
        let _ = std::fs::remove_dir_all(work.join("out"));
        let first = b.batch_sizes.first().copied().unwrap_or(1);
        run("first", &cache, first)?;
        let seconds = run("no-change re-run", &cache, first)?;
        report
            .stages
            .push(figure("no-change re-run", photos.len(), seconds));
        let _ = std::fs::remove_dir_all(&work);
    }
    for &n in &b.cluster_sizes {
        eprintln!("bench: clustering {n} synthetic faces (own process)");
        let out = std::process::Command::new(&exe)
            .args(["bench", "--cluster-only", &n.to_string()])
            .output()?;
        let figure: ClusterFigure = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "clustering {n} faces failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        report.clustering.push(figure);
    }
    crate::people::bench::write(&report, &b.out)
        .with_context(|| format!("cannot write results into {}", b.out.display()))?;
    let mut out = std::io::stdout().lock();
    // Batches compared with the first batch size measured, in the same run.
    let base = report
        .stages
        .iter()
        .find(|s| s.stage.starts_with("end to end, batch"))
        .map(|s| s.per_s);
    for s in &report.stages {
        write!(
            out,
            "{:<4} {:<22} {:>9.1}/s  ({} in {:.2}s)",
            s.provider, s.stage, s.per_s, s.items, s.seconds
        )?;
        match base {
            Some(base) if s.stage.starts_with("end to end, batch") => {
                writeln!(out, "  {:.2}x the first", s.per_s / base)?
            }
            _ => writeln!(out)?,
        }
    }
    for f in &report.clustering {
        writeln!(
            out,
            "cluster {:>8} faces  {:>8.1}s  peak {:>7.0} MB  {} people, pairwise F {:.3}",
            f.faces, f.seconds, f.peak_rss_mb, f.people_found, f.pairwise_f
        )?;
        writeln!(
            out,
            "  attach {:>7.2}s  {} faces attached, pairwise P {:.3} F {:.3} after",
            f.attach_seconds,
            f.attached,
            f.pairwise_precision_after_attach,
            f.pairwise_f_after_attach
        )?;
    }
    writeln!(out, "wrote {}/bench.json and bench.svg", b.out.display())?;
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("photo_organizer-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
