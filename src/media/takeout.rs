//! The names Google Photos knew, from a Google Takeout export: beside each photo a JSON file
//! (`IMG_1.jpg.json`, since 2024 `IMG_1.jpg.supplemental-metadata.json`, names cut to 51
//! characters) whose `people` lists who is in the photo: `[{"name": "Phoebe"}, ...]`. Takes
//! the JSON's path (as [`crate::media::companions`] paired it with the photo) or its bytes; hands on the names (photo-level: Takeout gives no
//! boxes), for the naming stage to give to the photo's one unnamed person or to offer for review.
//!
//! A JSON over [`MAX_JSON_BYTES`] is refused unread, a malformed one (not JSON, `people` not a
//! list of objects, nesting past serde_json's 128 levels) is a [`TakeoutError`] for that photo.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

/// Takeout's JSONs are 1-3 KB; anything near this is not one.
pub const MAX_JSON_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TakeoutError {
    #[error("Takeout JSON of {bytes} bytes is over the {limit}-byte limit")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("cannot read the Takeout JSON")]
    Io(#[from] std::io::Error),
    #[error("Takeout JSON is malformed")]
    Malformed(#[source] serde_json::Error),
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    people: Option<Vec<Person>>,
}

#[derive(Deserialize)]
struct Person {
    #[serde(default)]
    name: Option<String>,
}

/// The names in a Takeout JSON's `people`, cleaned (control characters dropped, trimmed),
/// without empty ones or repeats, in order. A JSON without `people` has none.
pub fn parse_people(json: &[u8]) -> Result<Vec<String>, TakeoutError> {
    if json.len() as u64 > MAX_JSON_BYTES {
        return Err(TakeoutError::TooLarge {
            bytes: json.len() as u64,
            limit: MAX_JSON_BYTES,
        });
    }
    let meta: Metadata = serde_json::from_slice(json).map_err(TakeoutError::Malformed)?;
    let mut names: Vec<String> = Vec::new();
    for person in meta.people.unwrap_or_default() {
        let Some(name) = person.name else { continue };
        let name: String = name.chars().filter(|c| !c.is_control()).collect();
        let name = name.trim();
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// [`parse_people`] of a file, refused unread when over [`MAX_JSON_BYTES`].
pub fn read_people(path: &Path) -> Result<Vec<String>, TakeoutError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_JSON_BYTES {
        let bytes = std::fs::metadata(path).map_or(MAX_JSON_BYTES + 1, |m| m.len());
        return Err(TakeoutError::TooLarge {
            bytes,
            limit: MAX_JSON_BYTES,
        });
    }
    parse_people(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Takeout JSON as Google Photos exports it (2024 layout, values shortened).
    const SUPPLEMENTAL: &str = r#"{
  "title": "IMG_20190714_152047.jpg",
  "description": "",
  "imageViews": "3",
  "creationTime": { "timestamp": "1563120000", "formatted": "14 Jul 2019, 16:00:00 UTC" },
  "photoTakenTime": { "timestamp": "1563114047", "formatted": "14 Jul 2019, 14:20:47 UTC" },
  "geoData": { "latitude": 48.85, "longitude": 2.35, "altitude": 35.0, "latitudeSpan": 0.0, "longitudeSpan": 0.0 },
  "people": [ { "name": "Phoebe Buffay" }, { "name": " Joey\u0007 " }, { "name": "Phoebe Buffay" }, { "name": "" }, {} ],
  "url": "https://photos.google.com/photo/AF1Qip",
  "googlePhotosOrigin": { "mobileUpload": { "deviceType": "ANDROID_PHONE" } }
}"#;

    #[test]
    fn people_names_are_read_cleaned_and_deduplicated() {
        assert_eq!(
            parse_people(SUPPLEMENTAL.as_bytes()).unwrap(),
            ["Phoebe Buffay", "Joey"]
        );
        assert!(parse_people(br#"{"title": "x.jpg"}"#).unwrap().is_empty());
        assert!(parse_people(br#"{"people": null}"#).unwrap().is_empty());
    }

    #[test]
    fn malformed_json_is_an_error_for_that_photo() {
        for bad in [
            &b""[..],
            b"{",
            b"not json",
            br#"{"people": "Phoebe"}"#,
            br#"{"people": [{"name": 7}]}"#,
            br#"[1, 2]"#,
        ] {
            assert!(
                matches!(parse_people(bad), Err(TakeoutError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse_people(deep.as_bytes()),
            Err(TakeoutError::Malformed(_))
        ));
        let cut = &SUPPLEMENTAL[..SUPPLEMENTAL.len() / 2];
        assert!(parse_people(cut.as_bytes()).is_err());
    }

    #[test]
    fn a_huge_json_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("IMG_1.jpg.json");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(100 << 20)
            .unwrap();
        assert!(matches!(
            read_people(&path),
            Err(TakeoutError::TooLarge { bytes, .. }) if bytes == 100 << 20
        ));
        std::fs::write(&path, SUPPLEMENTAL).unwrap();
        assert_eq!(read_people(&path).unwrap().len(), 2);
        assert!(matches!(
            read_people(&dir.path().join("none.json")),
            Err(TakeoutError::Io(_))
        ));
    }
}
