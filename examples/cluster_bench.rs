//! Clustering benchmark on synthetic face embeddings: prints, per size, kNN and clustering time,
//! peak RSS and cluster count, and agreement with the exact `hdbscan` crate (small sizes) and
//! between approximate and exact neighbour search (medium sizes). Figures, not a test.
//!
//! `cargo run --release --features reference-hdbscan --example cluster_bench -- 10000 100000 1000000 [--json PATH]
//!  [--dim 128] [--exact-max 10000] [--ivf-compare-max 200000]`

use std::time::Instant;

use photo_organizer::people::cluster::{
    cluster_exact, cluster_with, knn_recall, ClusterParams, GraphOptions, KnnMethod, EXACT_KNN_MAX,
};
use rayon::prelude::*;
use serde_json::json;

/// Small deterministic generator so that every run sees the same faces.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gauss(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let (u, v) = (self.uniform(), self.uniform());
                ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
            })
            .collect()
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// About one identity per 20 faces (sizes 1..40), cosine within an identity about 0.6-0.9 and
/// between identities 0-0.4 (identities share one of 64 "family" directions), and 10% loners.
fn synthetic(n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng(0xFACE_5EED);
    let families: Vec<Vec<f32>> = (0..64).map(|_| unit(rng.gauss(dim))).collect();
    let loners = n / 10;
    // Identity sizes and seeds first (cheap, sequential), faces in parallel.
    let mut plan = Vec::new();
    let mut placed = 0;
    while placed < n - loners {
        let size = (1 + (rng.uniform() * 39.0) as usize).min(n - loners - placed);
        plan.push((size, rng.0 ^ placed as u64));
        placed += size;
    }
    let mut data: Vec<Vec<f32>> = plan
        .par_iter()
        .enumerate()
        .flat_map_iter(|(g, &(size, seed))| {
            let mut rng = Rng(seed);
            // Same-family centres have cosine about mix^2 / (1 + mix^2), up to 0.4.
            let mix = (rng.uniform() * 0.8) as f32;
            let family = &families[g % families.len()];
            let centre = unit(
                rng.gauss(dim)
                    .iter()
                    .zip(family)
                    .map(|(b, f)| b / (dim as f32).sqrt() + mix * f)
                    .collect(),
            );
            // Pairwise cosine within the identity is 1 / (1 + spread^2): 0.6..0.9.
            let spread = (0.33 + rng.uniform() * 0.49) as f32;
            (0..size)
                .map(|_| {
                    let noise = unit(rng.gauss(dim));
                    unit(
                        centre
                            .iter()
                            .zip(&noise)
                            .map(|(c, e)| c + spread * e)
                            .collect(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    data.extend((0..loners).map(|_| unit(rng.gauss(dim))));
    // Shuffle so that identities are not contiguous in index order.
    for i in (1..data.len()).rev() {
        let j = (rng.uniform() * (i + 1) as f64) as usize % (i + 1);
        data.swap(i, j);
    }
    data
}

fn count(labels: &[Option<usize>]) -> (usize, usize) {
    let clusters = labels.iter().flatten().max().map_or(0, |m| m + 1);
    (clusters, labels.iter().filter(|l| l.is_none()).count())
}

fn main() -> anyhow::Result<()> {
    let mut sizes = Vec::new();
    let mut json_path = None;
    let mut dim = 128;
    let mut exact_max = 10_000;
    let mut ivf_compare_max = EXACT_KNN_MAX;
    let mut recall_sample = 0;
    let mut probe = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--json" => json_path = Some(value()?),
            "--dim" => dim = value()?.parse()?,
            "--exact-max" => exact_max = value()?.parse()?,
            "--ivf-compare-max" => ivf_compare_max = value()?.parse()?,
            "--recall" => recall_sample = value()?.parse()?,
            "--probe" => probe = Some(value()?.parse::<usize>()?),
            n => sizes.push(n.parse::<usize>()?),
        }
    }
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    let params = ClusterParams::default();
    let mut rows = Vec::new();
    println!("threads: {}, dim: {dim}", rayon::current_num_threads());
    for n in sizes {
        // Reset the peak-RSS mark so each size reports its own peak (Linux: "5" clears VmHWM).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let t = Instant::now();
        let data = synthetic(n, dim);
        let gen_secs = t.elapsed().as_secs_f64();
        let options = GraphOptions::for_size(n);
        let t = Instant::now();
        let (labels, stats) = cluster_with(&data, params, options)?;
        let total = t.elapsed().as_secs_f64();
        let rss = photo_organizer::people::bench::peak_rss_mb();
        let (clusters, noise) = count(&labels);
        println!(
            "n={n}: knn {:?} {:.2}s, cluster {:.2}s (detach {:.2}s), total {total:.2}s, peak RSS {rss:.0} MiB, \
             {clusters} clusters, {noise} noise (generation {gen_secs:.1}s)",
            options.method, stats.knn_secs, stats.cluster_secs, stats.detach_secs
        );
        let recall = if recall_sample > 0 {
            let r = knn_recall(&data, options, recall_sample);
            println!(
                "  kNN recall@{} on {recall_sample} faces: {r:.4}",
                options.k
            );
            Some(r)
        } else {
            None
        };
        let mut row = json!({
            "n": n, "dim": dim, "knn_method": format!("{:?}", options.method), "k": options.k,
            "knn_secs": stats.knn_secs, "cluster_secs": stats.cluster_secs, "total_secs": total,
            "peak_rss_mib": rss, "clusters": clusters, "noise": noise, "knn_recall": recall,
        });
        if n <= exact_max {
            let t = Instant::now();
            let exact = cluster_exact(&data, params)?;
            let secs = t.elapsed().as_secs_f64();
            let ari = photo_organizer::people::eval::adjusted_rand(&labels, &exact);
            let identical = labels == exact;
            let (ec, en) = count(&exact);
            println!(
                "  exact hdbscan crate: {secs:.1}s, {ec} clusters, {en} noise; \
                 identical {identical}, ARI {ari:.5}"
            );
            row["exact"] = json!({"secs": secs, "clusters": ec, "noise": en,
                "identical": identical, "ari": ari});
        }
        if n <= ivf_compare_max && options.method == KnnMethod::Exact {
            let big = GraphOptions::for_size(EXACT_KNN_MAX + 1);
            let sqrt = ((n as f64).sqrt() as usize).max(1);
            let ivf = GraphOptions {
                method: KnnMethod::Ivf {
                    n_lists: sqrt,
                    n_probe: probe.unwrap_or(match big.method {
                        KnnMethod::Ivf { n_probe, .. } => n_probe,
                        KnnMethod::Exact => 32,
                    }),
                },
                ..big
            };
            let t = Instant::now();
            let (approx, st) = cluster_with(&data, params, ivf)?;
            let secs = t.elapsed().as_secs_f64();
            let ari = photo_organizer::people::eval::adjusted_rand(&approx, &labels);
            println!(
                "  IVF {:?}: knn {:.2}s, total {secs:.2}s; vs exact kNN: identical {}, ARI {ari:.5}",
                ivf.method,
                st.knn_secs,
                approx == labels
            );
            row["ivf_vs_exact_knn"] = json!({"method": format!("{:?}", ivf.method),
                "knn_secs": st.knn_secs, "total_secs": secs, "identical": approx == labels,
                "ari": ari});
        }
        rows.push(row);
    }
    if let Some(path) = json_path {
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
        println!("wrote {path}");
    }
    Ok(())
}
