//! `OUT/report.html`: one self-contained page (no network: thumbnails are inlined as data URIs,
//! styles inline) a person can open to see who was found: a card per person with face
//! thumbnails, name or id, counts and links to the copies; the faces that matched nobody; the
//! device that ran, timings and every error.

use std::{io, path::Path};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{Manifest, PhotoStatus};

pub const REPORT_NAME: &str = "report.html";

/// What an href leaves as it is: RFC 3986's unreserved characters and `/`.
const IN_HREF: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a relative path for an href, keeping `/`.
fn href(path: &Path) -> String {
    utf8_percent_encode(&path.to_string_lossy(), IN_HREF).to_string()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f6f6f4;color:#222}\
h1{font-size:1.4rem;margin:0 0 .3rem} .meta{color:#555;margin:.2rem 0}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:1rem;margin:1rem 0}\
.card{background:#fff;border-radius:8px;padding:.8rem;box-shadow:0 1px 3px #0002}\
.card h2{font-size:1.05rem;margin:0 0 .2rem} .count{color:#666;font-size:.85rem}\
.faces{display:flex;flex-wrap:wrap;gap:4px;margin:.5rem 0} img.face{width:56px;height:56px;border-radius:4px;object-fit:cover}\
details{font-size:.85rem} a{color:#1a5fb4} .err{color:#a51d2d} table{border-collapse:collapse}\
td{padding:.1rem .6rem .1rem 0}";

fn faces(thumbs: &[Vec<u8>]) -> Markup {
    html! {
        div.faces {
            @for t in thumbs {
                img.face alt="face" src={ "data:image/jpeg;base64," (STANDARD.encode(t)) };
            }
        }
    }
}

/// Renders the report; `thumbs(person)` gives a few face thumbnails (JPEG) of that person.
/// maud escapes every value spliced in; only the style sheet above goes in as it is.
pub fn render(
    manifest: &Manifest,
    thumbs: &dyn Fn(u32) -> Vec<Vec<u8>>,
    unknown_thumbs: &[Vec<u8>],
) -> String {
    let s = &manifest.summary;
    let device = s.backend.as_ref().map_or_else(
        || "no model ran (everything from the cache)".to_string(),
        |b| {
            format!(
                "{} via {} ({} + {}){}",
                b.device.device,
                b.device.provider,
                b.detector_model,
                b.embedder_model,
                b.device
                    .fallback_reason
                    .as_ref()
                    .map_or(String::new(), |r| format!("; fell back: {r}"))
            )
        },
    );
    let copies = manifest.photos.iter().flat_map(|ph| ph.copied_to.iter());
    let errors: Vec<(&Path, &str)> = manifest
        .photos
        .iter()
        .filter(|p| matches!(p.status, PhotoStatus::Error))
        .map(|p| (p.source.as_path(), p.error.as_deref().unwrap_or("")))
        .chain(
            manifest
                .errors
                .iter()
                .filter(|e| !matches!(e.stage, super::Stage::Decode | super::Stage::Faces))
                .map(|e| (e.path.as_path(), e.cause.as_str())),
        )
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "photo_organizer report" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (s.people) " people in " (s.photos) " photos" }
                p.meta {
                    "Source " (manifest.source.display()) " → " (manifest.output.display())
                }
                table.meta {
                    tr { td { "Faces" } td { (s.faces) } }
                    tr { td { "Photos without faces" } td { (s.no_face_photos) } }
                    tr { td { "Unknown photos" } td { (s.unknown_photos) } }
                    tr { td { "Copied / already present" } td { (s.copied) " / " (s.already_present) } }
                    tr {
                        td { "Time" }
                        td {
                            (format!("{:.1} s ({:.1} photos/s; ", s.elapsed_s, s.photos_per_s))
                            (s.cache_hits) " from cache, " (s.decoded) " decoded)"
                        }
                    }
                    tr { td { "Device" } td { (device) } }
                    tr { td { "Errors" } td { (s.errors) } }
                }
                div.grid {
                    @for p in &manifest.people {
                        section.card {
                            h2 {
                                @if let Some(name) = &p.name { (name) } @else { "Person " (p.id) }
                            }
                            div.count {
                                "id " (p.id) " · " (p.faces) " faces in " (p.photos) " photos · folder "
                                a href={ (href(Path::new(&p.folder))) "/" } { (p.folder) }
                            }
                            (faces(&thumbs(p.id)))
                            details {
                                summary { "Photos" }
                                ul {
                                    @for dst in copies.clone().filter(|dst| dst.starts_with(&p.folder)) {
                                        li { a href=(href(dst)) { (dst.display()) } }
                                    }
                                }
                            }
                        }
                    }
                }
                section.card {
                    h2 { "Unknown faces" }
                    div.count {
                        "faces that match nobody; their photos are in "
                        a href="_unknown/" { "_unknown" }
                        " (or with the people also in them)"
                    }
                    (faces(unknown_thumbs))
                }
                @if !errors.is_empty() {
                    section.card style="margin-top:1rem" {
                        h2 { "Errors" }
                        ul {
                            @for (path, cause) in &errors {
                                li.err { (path.display()) ": " (cause) }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string() + "\n"
}

pub fn write_report(
    out: &Path,
    manifest: &Manifest,
    thumbs: &dyn Fn(u32) -> Vec<Vec<u8>>,
    unknown_thumbs: &[Vec<u8>],
) -> io::Result<()> {
    let path = out.join(REPORT_NAME);
    crate::util::safe_fs::write_atomic(&path, render(manifest, thumbs, unknown_thumbs).as_bytes())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;
    use crate::output::report::{PersonEntry, PhotoEntry, PhotoError, Stage, Summary};

    /// A run with every kind of text the report shows, some of it markup.
    fn manifest() -> Manifest {
        let settings = crate::cli::Cli::try_parse_from(["photo_organizer", "-s", "/l", "-o", "/o"])
            .unwrap()
            .organize;
        let backend = po_backend_api::BackendInfo {
            backend: "onnx".into(),
            detector_model: "yunet".into(),
            embedder_model: "sface".into(),
            embedding_dim: 128,
            device: po_backend_api::ActiveDevice {
                device: "cpu".into(),
                provider: "CPUExecutionProvider".into(),
                fallback_reason: Some("no <cuda> & no 'rocm'".into()),
            },
            runtime_version: None,
        };
        let summary = Summary {
            photos: 3,
            faces: 4,
            people: 2,
            photos_with_people: 2,
            no_face_photos: 0,
            unknown_photos: 1,
            errors: 2,
            copied: 2,
            already_present: 0,
            moved: 0,
            moved_in_out: 0,
            removed_from_out: 0,
            left_in_place: 0,
            duplicates: 0,
            companions: 0,
            orphan_companions: 0,
            dry_run: false,
            elapsed_s: 1.25,
            photos_per_s: 2.4,
            cache_hits: 1,
            decoded: 2,
            detector_calls: 2,
            embedder_calls: 2,
            largest_batch: 1,
            backend: Some(backend),
        };
        let photo = |source: &str, copied_to: &[&str], error: Option<&str>| PhotoEntry {
            source: source.into(),
            status: if error.is_some() {
                PhotoStatus::Error
            } else {
                PhotoStatus::Faces
            },
            width: None,
            height: None,
            date_taken: None,
            faces: Vec::new(),
            copied_to: copied_to.iter().map(PathBuf::from).collect(),
            duplicate_of: None,
            error: error.map(String::from),
            companions: Vec::new(),
        };
        let error = |path: &str, stage, cause: &str| PhotoError {
            path: path.into(),
            stage,
            cause: cause.into(),
        };
        Manifest {
            schema: 2,
            tool: "photo_organizer test".into(),
            source: "/photos/<mine>".into(),
            output: "/sorted & done".into(),
            summary,
            people: vec![
                PersonEntry {
                    id: 1,
                    name: Some("<script>alert('x')</script> & Co".into()),
                    folder: "O'Brien & Co".into(),
                    faces: 3,
                    photos: 2,
                },
                PersonEntry {
                    id: 2,
                    name: None,
                    folder: "person_002".into(),
                    faces: 1,
                    photos: 1,
                },
            ],
            photos: vec![
                photo("a.jpg", &["O'Brien & Co/2009/a#1.jpg"], None),
                photo("b.jpg", &["person_002/b.jpg"], None),
                photo("c<1>.jpg", &[], Some("bad \"<jpeg>\"")),
            ],
            errors: vec![
                error("c<1>.jpg", Stage::Decode, "shown with its photo"),
                error("OUT/x.jpg", Stage::Copy, "cannot copy <x>"),
            ],
            orphan_companions: Vec::new(),
            left_in_place: Vec::new(),
            settings,
        }
    }

    /// Text as a reader sees it: the five escapes undone.
    fn unescape(html: &str) -> String {
        html.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&rarr;", "→")
            .replace("&middot;", "·")
            .replace("&amp;", "&")
    }

    #[test]
    fn the_report_shows_every_name_path_and_error_as_text_with_links_and_thumbnails() {
        let thumbs = |id: u32| vec![format!("face of {id}").into_bytes()];
        let html = render(&manifest(), &thumbs, &[b"foobar".to_vec()]);
        assert!(
            html.to_ascii_lowercase().starts_with("<!doctype html>"),
            "{html}"
        );
        assert!(html.ends_with("</body></html>\n"), "{html}");
        // No markup from the data: every < in a name, path or error is escaped.
        for raw in ["<script", "<cuda>", "<mine>", "<jpeg>", "<x>", "<1>"] {
            assert!(!html.contains(raw), "{raw} unescaped in {html}");
        }
        let text = unescape(&html);
        for shown in [
            "<h1>2 people in 3 photos</h1>",
            "Source /photos/<mine> → /sorted & done",
            "<h2><script>alert('x')</script> & Co</h2>",
            "<h2>Person 2</h2>",
            "id 1 · 3 faces in 2 photos · folder <a href=\"O%27Brien%20%26%20Co/\">O'Brien & Co</a>",
            "<li><a href=\"O%27Brien%20%26%20Co/2009/a%231.jpg\">O'Brien & Co/2009/a#1.jpg</a></li>",
            "<li><a href=\"person_002/b.jpg\">person_002/b.jpg</a></li>",
            "<td>Device</td><td>cpu via CPUExecutionProvider (yunet + sface); fell back: no <cuda> & no 'rocm'</td>",
            "<td>1.2 s (2.4 photos/s; 1 from cache, 2 decoded)</td>",
            "<li class=\"err\">c<1>.jpg: bad \"<jpeg>\"</li>",
            "<li class=\"err\">OUT/x.jpg: cannot copy <x></li>",
        ] {
            assert!(text.contains(shown), "{shown} not in {html}");
        }
        // A decode error is shown once, with its photo.
        assert!(!text.contains("shown with its photo"), "{html}");
        let faces: Vec<&str> = html
            .split("src=\"data:image/jpeg;base64,")
            .skip(1)
            .collect();
        assert_eq!(
            faces.len(),
            3,
            "one thumbnail per person, one unknown: {html}"
        );
        assert!(faces[0].starts_with("ZmFjZSBvZiAx\""), "{html}");
        assert!(faces[2].starts_with("Zm9vYmFy\""), "{html}");
    }

    #[test]
    fn links_are_percent_encoded() {
        assert_eq!(
            href(Path::new("Ada Lovelace/2009/a#1.jpg")),
            "Ada%20Lovelace/2009/a%231.jpg"
        );
        assert_eq!(href(Path::new("Zoë/?x=1.jpg")), "Zo%C3%AB/%3Fx%3D1.jpg");
    }
}
