//! Names other photo tools left in a photo's XMP: face regions (MWG `mwg-rs:Regions`, written by
//! digiKam, Picasa, Lightroom, exiftool; Microsoft `MP:RegionInfo`, written by Windows Photo
//! Gallery and digiKam) and photo-level names (`Iptc4xmpExt:PersonInImage`, a Microsoft region
//! without a rectangle). Takes the XMP packet (from a JPEG's APP1 segment or another file's
//! bytes, found here, or a sidecar [`crate::media::companions`] paired with the photo) and the photo's stored size and EXIF orientation; hands on
//! [`XmpPeople`]: regions as boxes in the pixels of the ORIENTED photo (the space of the
//! detector's boxes), so matching them to detected faces is a box overlap.
//!
//! Regions are relative to the image as stored (MWG guidelines 2.0, 5.9), so the orientation
//! is applied here ([`orient_box`]) and undone by the writer ([`unorient_box`]); Immich #12440
//! and pigallery2 #515 are what happens otherwise. Both RDF spellings of a struct occur in the
//! wild (`rdf:li rdf:parseType="Resource"` from exiftool, a nested `rdf:Description` from
//! exiv2/digiKam and Windows) and both are read, as are fields written as attributes.
//!
//! Hostile input is an [`XmpError`] for that photo: a sidecar over [`MAX_SIDECAR_BYTES`] is not
//! read, a DOCTYPE or an entity is refused, nesting and element counts are capped
//! ([`super::xmp_tree`]). A region with a NaN, negative or out-of-image area is left out and
//! listed in [`XmpPeople::skipped`]; the photo's other regions still count.

use std::io::Read;
use std::path::Path;

pub use super::xmp_tree::XmpError;
use super::xmp_tree::{self, Element, RDF};

pub const MWG_RS: &str = "http://www.metadataworkinggroup.com/schemas/regions/";
pub const ST_AREA: &str = "http://ns.adobe.com/xmp/sType/Area#";
pub const ST_DIM: &str = "http://ns.adobe.com/xap/1.0/sType/Dimensions#";
pub const IPTC_EXT: &str = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/";
pub const LR: &str = "http://ns.adobe.com/lightroom/1.0/";
pub const MP: &str = "http://ns.microsoft.com/photo/1.2/";
pub const MP_RI: &str = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#";
pub const MP_REG: &str = "http://ns.microsoft.com/photo/1.2/t/Region#";

/// Sidecars are a few KB; one with thousands of faces is under 1 MB. Larger is refused unread.
pub const MAX_SIDECAR_BYTES: u64 = 4 << 20;
/// What the XMP packet of a non-JPEG file may be at most; a JPEG's is one segment (64 KB).
const MAX_PACKET_BYTES: usize = MAX_SIDECAR_BYTES as usize;
/// How far into a non-JPEG file the packet is looked for (HEIC, PNG, TIFF keep it near the start).
const SCAN_BYTES: usize = 16 << 20;
const JPEG_XMP_ID: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// A photo as stored and how EXIF says to show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoGeometry {
    pub stored_width: u32,
    pub stored_height: u32,
    /// EXIF Orientation 1..=8 (anything else is taken as 1).
    pub orientation: u16,
}

impl PhotoGeometry {
    /// From the oriented size (what the decoder and `manifest.json` report).
    pub fn from_oriented(width: u32, height: u32, orientation: u16) -> Self {
        let (stored_width, stored_height) = if swaps_axes(orientation) {
            (height, width)
        } else {
            (width, height)
        };
        Self {
            stored_width,
            stored_height,
            orientation,
        }
    }

    pub fn oriented_size(&self) -> (u32, u32) {
        if swaps_axes(self.orientation) {
            (self.stored_height, self.stored_width)
        } else {
            (self.stored_width, self.stored_height)
        }
    }
}

fn swaps_axes(orientation: u16) -> bool {
    (5..=8).contains(&orientation)
}

/// Which schema a region came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionFormat {
    Mwg,
    Microsoft,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaceRegion {
    pub name: Option<String>,
    /// `[left, top, right, bottom]` in pixels of the oriented photo.
    pub bbox: [f32; 4],
    pub format: RegionFormat,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct XmpPeople {
    /// Face regions (MWG `Type=Face` or untyped). Microsoft regions only when there is no MWG
    /// region: digiKam writes both for the same faces, and readers prefer MWG.
    pub regions: Vec<FaceRegion>,
    /// Names of people in the photo that no region above has: from `PersonInImage` and
    /// Microsoft regions without a rectangle. Trimmed, deduplicated, in order.
    pub persons: Vec<String>,
    /// Regions left out, each with why ("MWG region 2 (Phoebe): area outside the image").
    pub skipped: Vec<String>,
}

/// The XMP packet inside a photo file: a JPEG's APP1 XMP segment, or for other formats (HEIC,
/// PNG, TIFF, WebP keep it as plain text) the first `<x:xmpmeta>` ... `</x:xmpmeta>` in the
/// first 16 MB. `None` when there is none. JPEG's extended XMP (split over several segments)
/// is not read: MWG regions are in the main packet.
pub fn find_embedded_xmp(file: &[u8]) -> Option<&[u8]> {
    if file.starts_with(&[0xFF, 0xD8]) {
        return jpeg_xmp(file);
    }
    let head = &file[..file.len().min(SCAN_BYTES)];
    let start = memchr::memmem::find(head, b"<x:xmpmeta")?;
    let end_tag = b"</x:xmpmeta>";
    let rest = &head[start..head.len().min(start + MAX_PACKET_BYTES)];
    let end = memchr::memmem::find(rest, end_tag)?;
    Some(&rest[..end + end_tag.len()])
}

fn jpeg_xmp(file: &[u8]) -> Option<&[u8]> {
    let mut at = 2usize;
    while at + 4 <= file.len() {
        if file[at] != 0xFF {
            return None;
        }
        let marker = file[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        // Start of scan or end of image: the metadata segments are all before.
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([file[at + 2], file[at + 3]]));
        let body = file.get(at + 4..(at + 2 + len).max(at + 4))?;
        if marker == 0xE1 && body.starts_with(JPEG_XMP_ID) {
            return Some(&body[JPEG_XMP_ID.len()..]);
        }
        at += 2 + len.max(2);
    }
    None
}

/// A sidecar's bytes, refused unread when over [`MAX_SIDECAR_BYTES`].
pub fn read_sidecar(path: &Path) -> Result<Vec<u8>, XmpError> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_SIDECAR_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SIDECAR_BYTES {
        let bytes = std::fs::metadata(path).map_or(MAX_SIDECAR_BYTES + 1, |m| m.len());
        return Err(XmpError::TooLarge {
            bytes,
            limit: MAX_SIDECAR_BYTES,
        });
    }
    Ok(bytes)
}

/// The regions and names in one XMP packet, boxes in the oriented photo's pixels.
pub fn read_people(xmp: &[u8], photo: PhotoGeometry) -> Result<XmpPeople, XmpError> {
    if xmp.len() > MAX_PACKET_BYTES {
        return Err(XmpError::TooLarge {
            bytes: xmp.len() as u64,
            limit: MAX_SIDECAR_BYTES,
        });
    }
    let doc = xmp_tree::parse(xmp)?;
    let descriptions = descriptions(&doc)?;
    let mut people = XmpPeople::default();
    for (i, region) in properties(&descriptions, MWG_RS, "Regions")
        .flat_map(|p| mwg_regions(p))
        .enumerate()
    {
        match region {
            Ok(Some((name, area))) => people.regions.push(FaceRegion {
                bbox: to_pixels(orient_box(area, photo.orientation), photo),
                name,
                format: RegionFormat::Mwg,
            }),
            Ok(None) => {}
            Err((name, why)) => people.skipped.push(skipped("MWG", i, name, why)),
        }
    }
    let mwg_found = !people.regions.is_empty();
    for (i, region) in properties(&descriptions, MP, "RegionInfo")
        .flat_map(|p| microsoft_regions(p))
        .enumerate()
    {
        match region {
            Ok((Some(name), None)) => people.persons.push(name),
            Ok((_, None)) => {}
            Ok((name, Some(area))) if !mwg_found => people.regions.push(FaceRegion {
                bbox: to_pixels(orient_box(area, photo.orientation), photo),
                name,
                format: RegionFormat::Microsoft,
            }),
            Ok(_) => {}
            Err((name, why)) if !mwg_found => {
                people.skipped.push(skipped("Microsoft", i, name, why))
            }
            Err(_) => {}
        }
    }
    for p in properties(&descriptions, IPTC_EXT, "PersonInImage") {
        people.persons.extend(array_texts(p));
    }
    let mut seen: std::collections::HashSet<String> = people
        .regions
        .iter()
        .filter_map(|r| r.name.clone())
        .collect();
    people.persons.retain(|n| seen.insert(n.clone()));
    Ok(people)
}

fn skipped(schema: &str, index: usize, name: Option<String>, why: &str) -> String {
    match name {
        Some(name) => format!("{schema} region {} ({name}): {why}", index + 1),
        None => format!("{schema} region {}: {why}", index + 1),
    }
}

/// Every `rdf:Description` directly inside an `rdf:RDF`.
fn descriptions(doc: &Element) -> Result<Vec<&Element>, XmpError> {
    let rdfs: Vec<&Element> = std::iter::once(doc)
        .chain(doc.descendants())
        .filter(|e| e.is(RDF, "RDF"))
        .collect();
    if rdfs.is_empty() {
        return Err(XmpError::NoRdf);
    }
    Ok(rdfs
        .into_iter()
        .flat_map(|r| r.children.iter().filter(|c| c.is(RDF, "Description")))
        .collect())
}

/// A top-level property, written either as an attribute or as an element of a description.
#[derive(Clone, Copy)]
enum Prop<'a> {
    Attr(&'a str),
    Elem(&'a Element),
}

fn properties<'a>(
    descriptions: &[&'a Element],
    ns: &'a str,
    local: &'a str,
) -> impl Iterator<Item = Prop<'a>> + 'a {
    let found: Vec<Prop<'a>> = descriptions
        .iter()
        .flat_map(|d| {
            let attr = d.attr(ns, local).map(Prop::Attr);
            attr.into_iter().chain(
                d.children
                    .iter()
                    .filter(|c| c.is(ns, local))
                    .map(Prop::Elem),
            )
        })
        .collect();
    found.into_iter()
}

/// A field of a struct-valued property, in any of RDF's spellings: `rdf:parseType="Resource"`
/// (fields are child elements), a nested `rdf:Description` (fields are its attributes or child
/// elements), or fields as attributes of the property element itself.
fn field<'a>(prop: &'a Element, ns: &str, local: &str) -> Option<Prop<'a>> {
    let inner = prop
        .children
        .iter()
        .find(|c| c.is(RDF, "Description"))
        .filter(|_| prop.attr(RDF, "parseType") != Some("Resource"));
    for holder in std::iter::once(prop).chain(inner) {
        if let Some(v) = holder.attr(ns, local) {
            return Some(Prop::Attr(v));
        }
        if let Some(c) = holder.children.iter().find(|c| c.is(ns, local)) {
            return Some(Prop::Elem(c));
        }
    }
    None
}

fn text<'a>(prop: Option<Prop<'a>>) -> Option<&'a str> {
    let s = match prop? {
        Prop::Attr(v) => v,
        Prop::Elem(e) => e.attr(RDF, "resource").unwrap_or(e.text.as_str()),
    };
    Some(s.trim()).filter(|s| !s.is_empty())
}

fn elem(prop: Option<Prop<'_>>) -> Option<&Element> {
    match prop? {
        Prop::Elem(e) => Some(e),
        Prop::Attr(_) => None,
    }
}

/// The `rdf:li` items of an array-valued property (`rdf:Bag`, `rdf:Seq` or `rdf:Alt`).
fn array_items(prop: &Element) -> impl Iterator<Item = &Element> {
    prop.children
        .iter()
        .filter(|c| c.ns == RDF && matches!(c.local.as_str(), "Bag" | "Seq" | "Alt"))
        .flat_map(|a| a.children.iter().filter(|li| li.is(RDF, "li")))
}

fn array_texts(prop: Prop<'_>) -> Vec<String> {
    match prop {
        Prop::Attr(v) => text(Some(Prop::Attr(v)))
            .map(clean_name)
            .into_iter()
            .collect(),
        Prop::Elem(e) => array_items(e)
            .filter_map(|li| text(Some(Prop::Elem(li))))
            .map(clean_name)
            .filter(|n| !n.is_empty())
            .collect(),
    }
}

/// A name as a person's name: control characters dropped, spaces trimmed.
fn clean_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

type RegionRead = Result<Option<(Option<String>, [f64; 4])>, (Option<String>, &'static str)>;

/// Each MWG region: `Ok(None)` for a region that is not a face (a pet, a focus point).
fn mwg_regions(regions: Prop<'_>) -> Vec<RegionRead> {
    let Some(regions) = elem(Some(regions)) else {
        return Vec::new();
    };
    let Some(list) = elem(field(regions, MWG_RS, "RegionList")) else {
        return Vec::new();
    };
    array_items(list)
        .map(|li| {
            let name = text(field(li, MWG_RS, "Name"))
                .map(clean_name)
                .filter(|n| !n.is_empty());
            match text(field(li, MWG_RS, "Type")) {
                None | Some("Face") => {}
                Some(_) => return Ok(None),
            }
            let Some(area) = elem(field(li, MWG_RS, "Area")) else {
                return Err((name, "no area"));
            };
            if text(field(area, ST_AREA, "unit")).is_some_and(|u| u != "normalized") {
                return Err((name, "area unit is not `normalized`"));
            }
            let num = |k| text(field(area, ST_AREA, k)).and_then(|s| s.parse::<f64>().ok());
            let (Some(x), Some(y)) = (num("x"), num("y")) else {
                return Err((name, "area has no x or y"));
            };
            let (Some(w), Some(h)) = (num("w"), num("h")) else {
                return Err((name, "area is a point or a circle, not a box"));
            };
            match normalised_box(x - w / 2.0, y - h / 2.0, w, h, x, y) {
                Ok(area) => Ok(Some((name, area))),
                Err(why) => Err((name, why)),
            }
        })
        .collect()
}

type MsRead = Result<(Option<String>, Option<[f64; 4]>), (Option<String>, &'static str)>;

fn microsoft_regions(info: Prop<'_>) -> Vec<MsRead> {
    let Some(info) = elem(Some(info)) else {
        return Vec::new();
    };
    let Some(list) = elem(field(info, MP_RI, "Regions")) else {
        return Vec::new();
    };
    array_items(list)
        .map(|li| {
            let name = text(field(li, MP_REG, "PersonDisplayName"))
                .map(clean_name)
                .filter(|n| !n.is_empty());
            let Some(rect) = text(field(li, MP_REG, "Rectangle")) else {
                return Ok((name, None));
            };
            let v: Vec<f64> = rect
                .split(',')
                .map(|p| p.trim().parse::<f64>().unwrap_or(f64::NAN))
                .collect();
            let [x, y, w, h] = v[..] else {
                return Err((name, "rectangle is not four numbers"));
            };
            match normalised_box(x, y, w, h, x + w / 2.0, y + h / 2.0) {
                Ok(area) => Ok((name, Some(area))),
                Err(why) => Err((name, why)),
            }
        })
        .collect()
}

/// A box from its top-left corner and size (all normalised), checked: finite, a positive size
/// of at most the image, its centre `(cx, cy)` inside the image; clamped to the image.
fn normalised_box(
    left: f64,
    top: f64,
    w: f64,
    h: f64,
    cx: f64,
    cy: f64,
) -> Result<[f64; 4], &'static str> {
    if ![left, top, w, h, cx, cy].iter().all(|v| v.is_finite()) {
        return Err("area is not a number");
    }
    if w <= 0.0 || h <= 0.0 || w > 1.0 || h > 1.0 {
        return Err("area's size is not within (0, 1]");
    }
    if !(0.0..=1.0).contains(&cx) || !(0.0..=1.0).contains(&cy) {
        return Err("area is outside the image");
    }
    Ok([
        left.clamp(0.0, 1.0),
        top.clamp(0.0, 1.0),
        (left + w).clamp(0.0, 1.0),
        (top + h).clamp(0.0, 1.0),
    ])
}

/// Where the point `(u, v)` of the stored image (normalised) is shown once `orientation` is
/// applied, as `image`'s `apply_orientation` and every viewer applies it.
fn orient_point(u: f64, v: f64, orientation: u16) -> (f64, f64) {
    match orientation {
        2 => (1.0 - u, v),
        3 => (1.0 - u, 1.0 - v),
        4 => (u, 1.0 - v),
        5 => (v, u),
        6 => (1.0 - v, u),
        7 => (1.0 - v, 1.0 - u),
        8 => (v, 1.0 - u),
        _ => (u, v),
    }
}

fn inverse(orientation: u16) -> u16 {
    match orientation {
        6 => 8,
        8 => 6,
        o => o,
    }
}

fn map_box(b: [f64; 4], orientation: u16) -> [f64; 4] {
    let (x0, y0) = orient_point(b[0], b[1], orientation);
    let (x1, y1) = orient_point(b[2], b[3], orientation);
    [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)]
}

/// A normalised `[l, t, r, b]` box of the stored image -> the same box in the oriented image.
pub fn orient_box(stored: [f64; 4], orientation: u16) -> [f64; 4] {
    map_box(stored, orientation)
}

/// A normalised box of the oriented image -> the same box in the image as stored.
pub fn unorient_box(oriented: [f64; 4], orientation: u16) -> [f64; 4] {
    map_box(oriented, inverse(orientation))
}

fn to_pixels(b: [f64; 4], photo: PhotoGeometry) -> [f32; 4] {
    let (w, h) = photo.oriented_size();
    let (w, h) = (f64::from(w), f64::from(h));
    [
        (b[0] * w) as f32,
        (b[1] * h) as f32,
        (b[2] * w) as f32,
        (b[3] * h) as f32,
    ]
}

#[cfg(test)]
#[path = "xmp_tests.rs"]
pub(crate) mod tests;
