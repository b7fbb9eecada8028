//! XMP sidecars for placed photos, so digiKam, Immich, PhotoPrism, Lightroom and exiftool see
//! the faces photo_organizer found and the names the user gave. Takes the photo's stored size
//! and EXIF orientation ([`PhotoGeometry`]) and its faces (boxes in the oriented photo's pixels,
//! as the detector gives them, each with its person's name if named); hands on the sidecar's
//! bytes, new ([`new_sidecar`]) or merged into a sidecar that is already there
//! ([`merge_sidecar`]).
//!
//! What is written, in one `rdf:Description` of its own:
//! - `mwg-rs:Regions`: `AppliedToDimensions` (w, h of the STORED image, unit `pixel`: Immich's
//!   import needs it) and a `RegionList` of `Type=Face` regions, `Name` where named, `Area` a
//!   normalised centre box relative to the stored image (MWG 2.0, 5.9): the orientation is
//!   undone here, as [`crate::media::xmp`] applies it when reading;
//! - `Iptc4xmpExt:PersonInImage`: the names, once each, in face order;
//! - `lr:hierarchicalSubject`: `People|Name` for each name (a `|` in a name becomes `/`).
//!
//! A merge keeps every other byte of the existing sidecar as it was (other tags, their
//! attributes, comments, the packet wrapper): only the `mwg-rs:Regions`,
//! `Iptc4xmpExt:PersonInImage` and `lr:hierarchicalSubject` directly under a top-level
//! `rdf:Description` are taken out (with any description that says nothing), and ours, if
//! any, is added before `</rdf:RDF>`. `hierarchicalSubject` entries outside `People|` (a user's
//! `Places|Paris`) are carried over. Merging our own output again gives the same bytes. Other
//! tools' regions in `MP:RegionInfo` are left as they are.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::media::xmp::{
    read_sidecar, unorient_box, PhotoGeometry, XmpError, IPTC_EXT, LR, MAX_SIDECAR_BYTES, MWG_RS,
    ST_AREA, ST_DIM,
};
use crate::media::xmp_tree::{MAX_DEPTH, RDF};

/// One face of the photo: `[left, top, right, bottom]` in the oriented photo's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SidecarFace<'a> {
    pub bbox: [f32; 4],
    pub name: Option<&'a str>,
}

/// The packet a new sidecar starts from; [`new_sidecar`] merges into it, so a new sidecar and
/// a re-run's merge give the same bytes.
const EMPTY_PACKET: &str = concat!(
    "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n",
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"photo_organizer ",
    env!("CARGO_PKG_VERSION"),
    "\">\n",
    " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n",
    " </rdf:RDF>\n",
    "</x:xmpmeta>\n",
    "<?xpacket end=\"w\"?>\n"
);

/// A new sidecar for a photo with these faces.
pub fn new_sidecar(photo: PhotoGeometry, faces: &[SidecarFace<'_>]) -> Vec<u8> {
    merge_sidecar(EMPTY_PACKET.as_bytes(), photo, faces)
        .expect("the empty packet is well-formed XMP")
}

/// `existing` with our regions and names replaced by these faces' (see the module's doc).
/// A sidecar that is not well-formed XMP, or is hostile (DOCTYPE, entities, too deep, too
/// large), is an error and should be left alone.
pub fn merge_sidecar(
    existing: &[u8],
    photo: PhotoGeometry,
    faces: &[SidecarFace<'_>],
) -> Result<Vec<u8>, XmpError> {
    if existing.len() as u64 > MAX_SIDECAR_BYTES {
        return Err(XmpError::TooLarge {
            bytes: existing.len() as u64,
            limit: MAX_SIDECAR_BYTES,
        });
    }
    let scan = scan(existing)?;
    let ours = description(photo, faces, &scan.kept_subjects);
    let mut out = Vec::with_capacity(existing.len() + ours.len());
    let mut at = 0;
    for cut in &scan.cuts {
        if cut.start < at {
            continue; // inside a cut already made (a property of a description cut whole)
        }
        copy_until(&mut out, existing, &mut at, cut.start, &scan.insert, &ours);
        at = cut.end;
    }
    copy_until(
        &mut out,
        existing,
        &mut at,
        existing.len(),
        &scan.insert,
        &ours,
    );
    Ok(out)
}

/// Copies `existing[*at..to]`, putting our description in where [`Insert`] says.
fn copy_until(
    out: &mut Vec<u8>,
    existing: &[u8],
    at: &mut usize,
    to: usize,
    insert: &Insert,
    ours: &str,
) {
    match *insert {
        Insert::Before(pos) if !ours.is_empty() && (*at..to).contains(&pos) => {
            out.extend_from_slice(&existing[*at..pos]);
            out.extend_from_slice(b"\n ");
            out.extend_from_slice(ours.as_bytes());
            out.extend_from_slice(&existing[pos..to]);
        }
        Insert::OpenEmpty {
            slash,
            end,
            ref close,
        } if !ours.is_empty() && (*at..to).contains(&slash) => {
            out.extend_from_slice(&existing[*at..slash]);
            out.extend_from_slice(b">\n ");
            out.extend_from_slice(ours.as_bytes());
            out.extend_from_slice(format!("\n </{close}>").as_bytes());
            out.extend_from_slice(&existing[end..to]);
        }
        _ => out.extend_from_slice(&existing[*at..to]),
    }
    *at = to;
}

enum Insert {
    /// At this byte: the start of the whitespace before `</rdf:RDF>` (or of the tag).
    Before(usize),
    /// `<rdf:RDF .../>`: its `/>` (from `slash` to `end`) becomes `>` ours `</close>`.
    OpenEmpty {
        slash: usize,
        end: usize,
        close: String,
    },
}

struct Scan {
    /// Byte ranges of `existing` to leave out, by start.
    cuts: Vec<Range<usize>>,
    insert: Insert,
    /// `lr:hierarchicalSubject` entries that are not `People|...`.
    kept_subjects: Vec<String>,
}

struct Frame {
    ns: String,
    local: String,
    /// Where the element starts, or the whitespace just before it.
    cut_from: usize,
    top_description: bool,
    keeps_something: bool,
}

fn is_ours(ns: &str, local: &str) -> bool {
    (ns == MWG_RS && local == "Regions")
        || (ns == IPTC_EXT && local == "PersonInImage")
        || (ns == LR && local == "hierarchicalSubject")
}

fn ns_string(r: ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => ns.into_inner().to_owned(),
        _ => String::new(),
    }
}

/// One pass over the existing sidecar: what to cut, where to add ours.
fn scan(existing: &[u8]) -> Result<Scan, XmpError> {
    let mut reader = NsReader::from_reader(existing);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Frame> = Vec::new();
    let mut cuts = Vec::new();
    let mut insert = None;
    let mut kept_subjects = Vec::new();
    let mut whitespace_from: Option<Range<usize>> = None;
    // Inside one of our properties being cut: its depth, where it started, whether it is
    // hierarchicalSubject, and the `rdf:li` text being collected.
    let mut skipping: Option<(usize, usize, bool, Option<String>)> = None;
    loop {
        let start = reader.buffer_position() as usize;
        let (ns, event) = match reader.read_resolved_event() {
            Ok((resolved, event)) => (ns_string(resolved), event),
            Err(source) => {
                return Err(XmpError::Malformed {
                    position: reader.error_position(),
                    source,
                })
            }
        };
        let end = reader.buffer_position() as usize;
        let ws_start = whitespace_from
            .take()
            .filter(|ws| ws.end == start)
            .map_or(start, |ws| ws.start);
        if stack.len() >= MAX_DEPTH {
            return Err(XmpError::TooDeep(MAX_DEPTH));
        }
        if let Some((depth, from, subjects, li)) = &mut skipping {
            match &event {
                Event::Start(e) => {
                    *depth += 1;
                    if *subjects && ns == RDF && e.local_name().into_inner() == "li" {
                        *li = Some(String::new());
                    }
                }
                Event::End(_) => {
                    *depth -= 1;
                    if let Some(text) = li.take() {
                        let text = text.trim();
                        if !text.starts_with("People|") && !text.is_empty() {
                            kept_subjects.push(text.to_string());
                        }
                    }
                    if *depth == 0 {
                        cuts.push(*from..end);
                        skipping = None;
                    }
                }
                Event::Text(t) => {
                    if let Some(li) = li {
                        li.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let text = reference(r)?;
                    if let Some(li) = li {
                        li.push_str(&text);
                    }
                }
                Event::DocType(_) => return Err(XmpError::Doctype),
                Event::Eof => return Err(XmpError::Truncated),
                _ => {}
            }
            continue;
        }
        let parent_is_description = stack.last().is_some_and(|f| f.top_description);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().into_inner().to_owned();
                if parent_is_description && is_ours(&ns, &local) {
                    if matches!(event, Event::Start(_)) {
                        let subjects = ns == LR;
                        skipping = Some((1, ws_start, subjects, None));
                    } else {
                        cuts.push(ws_start..end);
                    }
                    continue;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.keeps_something |= parent.top_description;
                }
                let top_description = ns == RDF
                    && local == "Description"
                    && stack
                        .last()
                        .is_some_and(|f| f.ns == RDF && f.local == "RDF");
                let has_property_attrs = e.attributes().flatten().any(|a| {
                    a.key.as_namespace_binding().is_none()
                        && !matches!(
                            reader.resolver().resolve_attribute(a.key).0,
                            ResolveResult::Bound(n) if n.into_inner() == RDF
                        )
                });
                if ns == RDF
                    && local == "RDF"
                    && insert.is_none()
                    && matches!(event, Event::Empty(_))
                {
                    let raw = &existing[start..end];
                    let slash = raw.iter().rposition(|&b| b == b'/').unwrap_or(raw.len());
                    insert = Some(Insert::OpenEmpty {
                        slash: start + slash,
                        end,
                        close: e.name().into_inner().to_owned(),
                    });
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(Frame {
                        ns,
                        local,
                        cut_from: ws_start,
                        top_description,
                        keeps_something: top_description && has_property_attrs,
                    });
                }
            }
            Event::End(_) => {
                let Some(frame) = stack.pop() else {
                    return Err(XmpError::Truncated);
                };
                // A description with nothing in it says nothing: ours from an earlier run, or
                // one another tool left empty, goes (else re-runs would pile them up).
                if frame.top_description && !frame.keeps_something {
                    cuts.push(frame.cut_from..end);
                }
                if frame.ns == RDF && frame.local == "RDF" && insert.is_none() {
                    insert = Some(Insert::Before(ws_start));
                }
            }
            Event::Text(t) => {
                if t.xml10_content().trim().is_empty() {
                    whitespace_from = Some(start..end);
                } else if let Some(parent) = stack.last_mut() {
                    parent.keeps_something |= parent.top_description;
                }
            }
            Event::GeneralRef(ref r) => {
                reference(r)?;
                if let Some(parent) = stack.last_mut() {
                    parent.keeps_something |= parent.top_description;
                }
            }
            Event::DocType(_) => return Err(XmpError::Doctype),
            Event::Eof => break,
            Event::CData(_) | Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {
                if let Some(parent) = stack.last_mut() {
                    parent.keeps_something |= parent.top_description;
                }
            }
        }
    }
    if !stack.is_empty() {
        return Err(XmpError::Truncated);
    }
    let insert = insert.ok_or(XmpError::NoRdf)?;
    cuts.sort_by_key(|c| c.start);
    Ok(Scan {
        cuts,
        insert,
        kept_subjects,
    })
}

/// A reference's text: a character reference or one of XML's five; anything else is refused.
fn reference(r: &quick_xml::events::BytesRef<'_>) -> Result<String, XmpError> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => Ok(c.to_string()),
        Ok(None) => {
            let name = r.xml10_content();
            resolve_predefined_entity(&name)
                .map(str::to_string)
                .ok_or_else(|| XmpError::Entity(name.into_owned()))
        }
        Err(source) => Err(XmpError::Malformed {
            position: 0,
            source,
        }),
    }
}

/// A name as XML text: control characters (which XML 1.0 cannot hold) dropped, escaped.
fn xml_text(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    escape(clean.trim()).into_owned()
}

/// Our `rdf:Description`, on lines indented to sit one level inside `rdf:RDF`.
fn description(photo: PhotoGeometry, faces: &[SidecarFace<'_>], kept: &[String]) -> String {
    let (ow, oh) = photo.oriented_size();
    let (ow, oh) = (f64::from(ow.max(1)), f64::from(oh.max(1)));
    let mut names: Vec<&str> = Vec::new();
    for name in faces.iter().filter_map(|f| f.name) {
        let name = name.trim();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "<rdf:Description rdf:about=\"\"\n    xmlns:mwg-rs=\"{MWG_RS}\"\n    \
         xmlns:stDim=\"{ST_DIM}\"\n    xmlns:stArea=\"{ST_AREA}\"\n    \
         xmlns:Iptc4xmpExt=\"{IPTC_EXT}\"\n    xmlns:lr=\"{LR}\">\n"
    );
    let mut regions = String::new();
    for face in faces {
        let [l, t, r, b] = face.bbox.map(f64::from);
        let oriented = [l / ow, t / oh, r / ow, b / oh].map(|v| v.clamp(0.0, 1.0));
        let [l, t, r, b] = unorient_box(oriented, photo.orientation);
        let (w, h) = (r - l, b - t);
        if !(w > 0.0 && h > 0.0) {
            continue;
        }
        let name = face
            .name
            .map(xml_text)
            .filter(|n| !n.is_empty())
            .map(|n| format!("      <mwg-rs:Name>{n}</mwg-rs:Name>\n"))
            .unwrap_or_default();
        let _ = write!(
            regions,
            "     <rdf:li rdf:parseType=\"Resource\">\n      <mwg-rs:Type>Face</mwg-rs:Type>\n\
             {name}      <mwg-rs:Area rdf:parseType=\"Resource\">\n       \
             <stArea:x>{:.6}</stArea:x>\n       <stArea:y>{:.6}</stArea:y>\n       \
             <stArea:w>{w:.6}</stArea:w>\n       <stArea:h>{h:.6}</stArea:h>\n       \
             <stArea:unit>normalized</stArea:unit>\n      </mwg-rs:Area>\n     </rdf:li>\n",
            (l + r) / 2.0,
            (t + b) / 2.0,
        );
    }
    if !regions.is_empty() {
        let _ = write!(
            s,
            "  <mwg-rs:Regions rdf:parseType=\"Resource\">\n   \
             <mwg-rs:AppliedToDimensions rdf:parseType=\"Resource\">\n    \
             <stDim:w>{}</stDim:w>\n    <stDim:h>{}</stDim:h>\n    \
             <stDim:unit>pixel</stDim:unit>\n   </mwg-rs:AppliedToDimensions>\n   \
             <mwg-rs:RegionList>\n    <rdf:Bag>\n{regions}    </rdf:Bag>\n   \
             </mwg-rs:RegionList>\n  </mwg-rs:Regions>\n",
            photo.stored_width, photo.stored_height
        );
    }
    let bag = |items: Vec<String>| -> String {
        items
            .iter()
            .map(|i| format!("    <rdf:li>{i}</rdf:li>\n"))
            .collect()
    };
    if !names.is_empty() {
        let _ = write!(
            s,
            "  <Iptc4xmpExt:PersonInImage>\n   <rdf:Bag>\n{}   </rdf:Bag>\n  \
             </Iptc4xmpExt:PersonInImage>\n",
            bag(names.iter().map(|n| xml_text(n)).collect())
        );
    }
    let mut subjects: Vec<String> = kept.iter().map(|k| xml_text(k)).collect();
    for name in &names {
        let entry = xml_text(&format!("People|{}", name.replace('|', "/")));
        if !subjects.contains(&entry) {
            subjects.push(entry);
        }
    }
    let says_something = !regions.is_empty() || !subjects.is_empty();
    if !subjects.is_empty() {
        let _ = write!(
            s,
            "  <lr:hierarchicalSubject>\n   <rdf:Bag>\n{}   </rdf:Bag>\n  \
             </lr:hierarchicalSubject>\n",
            bag(subjects)
        );
    }
    if !says_something {
        return String::new(); // nothing to say: no description at all
    }
    s.push_str(" </rdf:Description>");
    s
}

/// What [`write_beside`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarOutcome {
    Written,
    Merged,
    /// The sidecar there already says exactly this.
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error("the XMP sidecar there cannot be merged into, so it was left as it was")]
    Existing(#[source] XmpError),
    #[error("cannot write the XMP sidecar")]
    Io(#[from] std::io::Error),
}

/// `IMG_1.jpg` -> `IMG_1.jpg.xmp` (the name digiKam, darktable and Immich look for first).
pub fn sidecar_path(placed: &Path) -> PathBuf {
    let mut name = placed.as_os_str().to_owned();
    name.push(".xmp");
    PathBuf::from(name)
}

/// Writes the sidecar of the photo placed at `placed` (a path in OUT), merged into the one
/// already there. The file is replaced atomically, so a link there (a companion sidecar that
/// `--symlink` or `--hardlink` placed) is replaced by a new file, never written through: the
/// library is never written.
pub fn write_beside(
    placed: &Path,
    photo: PhotoGeometry,
    faces: &[SidecarFace<'_>],
) -> Result<SidecarOutcome, SidecarError> {
    let path = sidecar_path(placed);
    let existing = match read_sidecar(&path) {
        Ok(bytes) => Some(bytes),
        Err(XmpError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(SidecarError::Existing(e)),
    };
    let bytes = match &existing {
        Some(old) => merge_sidecar(old, photo, faces).map_err(SidecarError::Existing)?,
        None => new_sidecar(photo, faces),
    };
    let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| !m.file_type().is_file());
    if existing.as_deref() == Some(&bytes[..]) && !is_link {
        return Ok(SidecarOutcome::Unchanged);
    }
    crate::util::safe_fs::write_atomic(&path, &bytes)?;
    Ok(if existing.is_some() {
        SidecarOutcome::Merged
    } else {
        SidecarOutcome::Written
    })
}

#[cfg(test)]
#[path = "xmp_write_tests.rs"]
mod tests;
