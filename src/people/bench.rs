//! `photo_organizer bench`: throughput per stage and end to end on a library, for each available
//! execution provider, and a synthetic clustering benchmark (time and peak memory per size, each
//! size in a child process so peak memory is its own). Writes JSON and an SVG bar chart; prints
//! a table. Figures, never assertions: these machines are noisy.

use std::{fmt::Write as _, path::Path, time::Instant};

use serde::{Deserialize, Serialize};

use crate::util::rng::SplitMix64;

/// One measured stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageFigure {
    pub provider: String,
    pub stage: String,
    /// Items per second (photos, or faces for the embedder).
    pub per_s: f64,
    pub items: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterFigure {
    pub faces: usize,
    pub seconds: f64,
    pub peak_rss_mb: f64,
    pub people_found: usize,
    /// Pairwise F against the identities the synthetic faces were drawn from.
    pub pairwise_f: f64,
    /// The attachment step after clustering ([`crate::people::attach`]): its time (not in `seconds`),
    /// faces it gave a person, and pairwise precision and F after it.
    #[serde(default)]
    pub attach_seconds: f64,
    #[serde(default)]
    pub attached: usize,
    #[serde(default)]
    pub pairwise_precision_after_attach: f64,
    #[serde(default)]
    pub pairwise_f_after_attach: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct BenchReport {
    pub machine: String,
    pub threads: usize,
    pub library: String,
    pub photos: usize,
    pub stages: Vec<StageFigure>,
    pub clustering: Vec<ClusterFigure>,
}

/// Peak resident memory of this process so far, in MB (Linux `VmHWM`).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Roughly normal, from the sum of uniforms.
fn gauss(rng: &mut SplitMix64) -> f32 {
    (0..4).map(|_| rng.next_f32()).sum::<f32>() - 2.0
}

/// `n` unit vectors of dimension `dim`: identities of about 20 faces each (cosine to their own
/// centre about 0.8) plus 10% singletons. Returns the vectors and each one's identity.
pub fn synthetic_faces(n: usize, dim: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = SplitMix64(seed);
    let unit = |rng: &mut SplitMix64| {
        let mut v: Vec<f32> = (0..dim).map(|_| gauss(rng)).collect();
        po_backend_api::l2_normalize(&mut v);
        v
    };
    let identities = (n * 9 / 10 / 20).max(1);
    let centres: Vec<Vec<f32>> = (0..identities).map(|_| unit(&mut rng)).collect();
    let mut vectors = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    for i in 0..n {
        if i % 10 == 9 {
            vectors.push(unit(&mut rng));
            truth.push(identities + i);
            continue;
        }
        let id = (rng.next_u64() % identities as u64) as usize;
        let noise = unit(&mut rng);
        let mut v: Vec<f32> = centres[id]
            .iter()
            .zip(&noise)
            .map(|(c, e)| c + 0.6 * e)
            .collect();
        po_backend_api::l2_normalize(&mut v);
        vectors.push(v);
        truth.push(id);
    }
    (vectors, truth)
}

/// Clusters `n` synthetic faces in this process and reports time and peak memory.
pub fn cluster_figure(n: usize) -> Result<ClusterFigure, crate::people::cluster::ClusterError> {
    let (vectors, truth) = synthetic_faces(n, 128, 42);
    let t = Instant::now();
    let labels = crate::people::cluster::cluster(
        &vectors,
        crate::people::cluster::ClusterParams::default(),
    )?;
    let seconds = t.elapsed().as_secs_f64();
    let scores = crate::people::eval::score(&truth, &labels);
    // Every face its own photo and good enough: the step's cost is the search for each noise
    // face's nearest assigned faces.
    let t = Instant::now();
    let mut people: Vec<Option<u32>> = labels.iter().map(|l| l.map(|l| l as u32)).collect();
    let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
    let photo: Vec<usize> = (0..n).collect();
    let outcomes = crate::people::attach::attach_unknown_faces(
        &mut people,
        crate::people::attach::Faces {
            embeddings: &refs,
            photo: &photo,
            doubtful: &vec![false; n],
        },
        |_, _| false,
        &Default::default(),
        &crate::people::attach::DEFAULT_ATTACH,
    );
    let attach_seconds = t.elapsed().as_secs_f64();
    let after: Vec<Option<usize>> = people.iter().map(|p| p.map(|p| p as usize)).collect();
    let after_scores = crate::people::eval::score(&truth, &after);
    Ok(ClusterFigure {
        faces: n,
        seconds,
        peak_rss_mb: peak_rss_mb(),
        people_found: scores.people_found,
        pairwise_f: scores.pairwise_f,
        attach_seconds,
        attached: outcomes
            .iter()
            .filter(|o| matches!(o, crate::people::attach::Outcome::Attached { .. }))
            .count(),
        pairwise_precision_after_attach: after_scores.pairwise_precision,
        pairwise_f_after_attach: after_scores.pairwise_f,
    })
}

/// A horizontal bar chart of photos/s per stage and provider, self-contained SVG.
pub fn svg_chart(report: &BenchReport) -> String {
    let rows: Vec<(String, f64)> = report
        .stages
        .iter()
        .map(|s| (format!("{} {}", s.provider, s.stage), s.per_s))
        .collect();
    let max = rows.iter().map(|r| r.1).fold(1.0, f64::max);
    let (left, width, row_h) = (230.0, 420.0, 26.0);
    let height = 60.0 + row_h * rows.len() as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"10\" y=\"22\" font-size=\"15\">photo_organizer: items/s per stage ({} photos, {} threads)</text>",
        left + width + 120.0,
        report.photos,
        report.threads
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 40.0 + row_h * i as f64;
        let w = width * v / max;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"#3584e4\"/>\
             <text x=\"{:.1}\" y=\"{}\">{v:.1}/s</text>",
            left - 8.0,
            y + 16.0,
            label,
            row_h - 6.0,
            left + w + 6.0,
            y + 16.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes `bench.json` and `bench.svg` into `dir`.
pub fn write(report: &BenchReport, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("bench.json"),
        serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(dir.join("bench.svg"), svg_chart(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_faces_are_unit_length_and_grouped() {
        let (v, truth) = synthetic_faces(200, 64, 1);
        assert_eq!(v.len(), 200);
        for x in &v {
            let n: f32 = x.iter().map(|a| a * a).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
        assert!(truth.iter().filter(|&&t| t == truth[0]).count() > 1);
        assert_eq!(synthetic_faces(50, 8, 3), synthetic_faces(50, 8, 3));
    }

    #[test]
    fn chart_has_a_bar_per_stage() {
        let report = BenchReport {
            photos: 3,
            threads: 2,
            stages: vec![
                StageFigure {
                    provider: "cpu".into(),
                    stage: "decode".into(),
                    per_s: 100.0,
                    items: 3,
                    seconds: 0.03,
                },
                StageFigure {
                    provider: "cpu".into(),
                    stage: "end to end".into(),
                    per_s: 12.5,
                    items: 3,
                    seconds: 0.24,
                },
            ],
            ..BenchReport::default()
        };
        let svg = svg_chart(&report);
        assert_eq!(svg.matches("fill=\"#3584e4\"").count(), 2);
        assert!(svg.contains("12.5/s") && svg.starts_with("<svg"));
    }
}
