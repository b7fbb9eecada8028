//! [`ExifInfo`] read from a photo's bytes with kamadak-exif: orientation (applied by
//! [`crate::media::decode`]), date taken, camera. Malformed EXIF never fails a photo: the fields that
//! cannot be read are left empty.

use std::io::Cursor;

use exif::{In, Tag, Value};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExifInfo {
    /// EXIF Orientation 1..=8; 1 (as stored) when absent or out of range.
    pub orientation: u16,
    /// DateTimeOriginal as `YYYY-MM-DDTHH:MM:SS`, when present and well formed.
    pub date_taken: Option<String>,
    pub camera: Option<String>,
}

impl ExifInfo {
    pub fn read(bytes: &[u8]) -> Self {
        Self::from_parsed(exif::Reader::new().read_from_container(&mut Cursor::new(bytes)))
    }

    /// From a bare TIFF-structured EXIF block (what a HEIF file's `Exif` item holds after its
    /// offset, [`crate::media::heif`]).
    pub fn read_tiff(tiff: Vec<u8>) -> Self {
        Self::from_parsed(exif::Reader::new().read_raw(tiff))
    }

    fn from_parsed(parsed: Result<exif::Exif, exif::Error>) -> Self {
        let Ok(exif) = parsed else {
            return Self {
                orientation: 1,
                ..Self::default()
            };
        };
        let orientation = exif
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| (1..=8).contains(v))
            .unwrap_or(1);
        let ascii = |tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
            Some(Value::Ascii(parts)) => parts
                .first()
                .map(|p| {
                    String::from_utf8_lossy(p)
                        .trim()
                        .trim_end_matches('\0')
                        .to_string()
                })
                .filter(|s| !s.is_empty()),
            _ => None,
        };
        let date_taken = ascii(Tag::DateTimeOriginal)
            .or_else(|| ascii(Tag::DateTime))
            .and_then(|s| parse_exif_date(&s));
        let camera = match (ascii(Tag::Make), ascii(Tag::Model)) {
            (Some(make), Some(model)) if model.starts_with(&make) => Some(model),
            (Some(make), Some(model)) => Some(format!("{make} {model}")),
            (make, model) => make.or(model),
        };
        Self {
            orientation,
            date_taken,
            camera,
        }
    }
}

/// `YYYY:MM:DD HH:MM:SS` (anything after the seconds ignored) -> `YYYY-MM-DDTHH:MM:SS`.
pub fn parse_exif_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let separators_ok = [b[4], b[7]].iter().all(|&c| c == b':' || c == b'-')
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && b[16] == b':';
    let in_range = (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    (separators_ok && in_range)
        .then(|| format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_dates_parse_and_malformed_ones_are_tolerated() {
        assert_eq!(
            parse_exif_date("2009:09:09 20:27:09").as_deref(),
            Some("2009-09-09T20:27:09")
        );
        // obama2.jpg in face_recognition's tests carries this malformed value.
        assert_eq!(
            parse_exif_date("2009:09:09 20:27:09.60:04:00").as_deref(),
            Some("2009-09-09T20:27:09")
        );
        assert_eq!(parse_exif_date("0000:00:00 00:00:00"), None);
        assert_eq!(parse_exif_date("    :  :     :  :  "), None);
        assert_eq!(parse_exif_date("2009:13:09 20:27:09"), None);
        assert_eq!(parse_exif_date("garbage"), None);
    }

    #[test]
    fn no_exif_means_orientation_one() {
        assert_eq!(ExifInfo::read(b"not an image").orientation, 1);
    }
}
