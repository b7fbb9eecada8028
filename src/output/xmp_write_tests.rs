use super::*;
use crate::media::xmp::tests::{DIGIKAM_STYLE, EXIFTOOL_STYLE};
use crate::media::xmp::{read_people, RegionFormat};

const STORED: (u32, u32) = (4000, 3000);

fn photo(orientation: u16) -> PhotoGeometry {
    PhotoGeometry {
        stored_width: STORED.0,
        stored_height: STORED.1,
        orientation,
    }
}

/// Three faces in the oriented photo: named, named with characters XML must escape, unnamed.
fn faces(orientation: u16) -> Vec<SidecarFace<'static>> {
    let (w, h) = photo(orientation).oriented_size();
    let (w, h) = (w as f32, h as f32);
    vec![
        SidecarFace {
            bbox: [0.10 * w, 0.20 * h, 0.25 * w, 0.40 * h],
            name: Some("Phoebe"),
        },
        SidecarFace {
            bbox: [0.60 * w, 0.05 * h, 0.70 * w, 0.15 * h],
            name: Some("Tom & Jerry <3>"),
        },
        SidecarFace {
            bbox: [0.40 * w, 0.70 * h, 0.55 * w, 0.95 * h],
            name: None,
        },
    ]
}

fn assert_same_faces(xmp: &[u8], orientation: u16, want: &[SidecarFace<'_>]) {
    let read = read_people(xmp, photo(orientation)).unwrap();
    assert!(read.skipped.is_empty(), "{:?}", read.skipped);
    assert_eq!(read.regions.len(), want.len(), "orientation {orientation}");
    for (got, want) in read.regions.iter().zip(want) {
        assert_eq!(got.name.as_deref(), want.name, "orientation {orientation}");
        assert_eq!(got.format, RegionFormat::Mwg);
        for (a, b) in got.bbox.iter().zip(want.bbox) {
            assert!(
                (a - b).abs() < 0.5,
                "orientation {orientation}: {got:?} vs {want:?}"
            );
        }
    }
    assert!(read.persons.is_empty());
}

#[test]
fn what_is_written_is_read_back_the_same_in_every_orientation() {
    for orientation in 1..=8 {
        let faces = faces(orientation);
        let xmp = new_sidecar(photo(orientation), &faces);
        assert_same_faces(&xmp, orientation, &faces);
        let text = String::from_utf8(xmp.clone()).unwrap();
        // Immich's import: AppliedToDimensions of the stored image, a RegionList, a Name.
        assert!(text.contains("<stDim:w>4000</stDim:w>\n    <stDim:h>3000</stDim:h>"));
        assert!(text.contains("<stDim:unit>pixel</stDim:unit>"));
        assert!(text.contains("<mwg-rs:Name>Tom &amp; Jerry &lt;3&gt;</mwg-rs:Name>"));
        assert!(text.contains("<rdf:li>Phoebe</rdf:li>\n    <rdf:li>Tom &amp; Jerry"));
        assert!(text.contains("<rdf:li>People|Phoebe</rdf:li>"));
        // A re-run's merge gives the same bytes.
        assert_eq!(
            merge_sidecar(&xmp, photo(orientation), &faces).unwrap(),
            xmp
        );
    }
}

#[test]
fn areas_are_relative_to_the_stored_image() {
    // Orientation 6: a face at the shown top-right is at the stored top-left.
    let (w, h) = photo(6).oriented_size();
    assert_eq!((w, h), (3000, 4000));
    let face = SidecarFace {
        bbox: [2700.0, 0.0, 3000.0, 400.0],
        name: None,
    };
    let text = String::from_utf8(new_sidecar(photo(6), &[face])).unwrap();
    assert!(text.contains("<stArea:x>0.050000</stArea:x>"), "{text}");
    assert!(text.contains("<stArea:y>0.050000</stArea:y>"), "{text}");
    assert!(text.contains("<stArea:w>0.100000</stArea:w>"), "{text}");
    assert!(text.contains("<stArea:h>0.100000</stArea:h>"), "{text}");
    assert!(!text.contains("PersonInImage") && !text.contains("hierarchicalSubject"));
}

/// The part of `text` from the line holding `from` to the line holding `to`, both included.
fn block<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text[..text.find(from).unwrap()].rfind('\n').unwrap_or(0);
    let end = start + text[start..].find(to).unwrap() + to.len();
    &text[start..end]
}

#[test]
fn a_digikam_sidecar_is_merged_keeping_its_other_tags_byte_for_byte() {
    let faces = faces(1);
    let merged = merge_sidecar(DIGIKAM_STYLE.as_bytes(), photo(1), &faces).unwrap();
    let text = String::from_utf8(merged.clone()).unwrap();
    for kept in [
        block(DIGIKAM_STYLE, "<?xpacket begin", "<digiKam:TagsList>"),
        block(DIGIKAM_STYLE, "<digiKam:TagsList>", "</digiKam:TagsList>"),
        block(DIGIKAM_STYLE, "<MP:RegionInfo", "</MP:RegionInfo>"),
        block(DIGIKAM_STYLE, "<dc:subject>", "</rdf:Description>"),
        block(DIGIKAM_STYLE, " </rdf:RDF>", "<?xpacket end=\"w\"?>"),
    ] {
        assert!(text.contains(kept), "lost:\n{kept}\nin:\n{text}");
    }
    assert!(!text.contains("mwg-rs:Name=\"Phoebe\""), "old regions go");
    assert_eq!(text.matches("<mwg-rs:Regions").count(), 1);
    assert_eq!(text.matches("<lr:hierarchicalSubject>").count(), 1);
    // The user's keyword outside People| stays, the people are ours.
    assert!(text.contains("<rdf:li>Places|Paris</rdf:li>\n    <rdf:li>People|Phoebe</rdf:li>"));
    assert_same_faces(&merged, 1, &faces);
    assert_eq!(merge_sidecar(&merged, photo(1), &faces).unwrap(), merged);
    // A rename: the old name goes everywhere.
    let renamed: Vec<_> = faces
        .iter()
        .map(|f| SidecarFace {
            name: f.name.map(|n| if n == "Phoebe" { "Ursula" } else { n }),
            ..*f
        })
        .collect();
    let again = merge_sidecar(&merged, photo(1), &renamed).unwrap();
    let again = String::from_utf8(again).unwrap();
    assert!(!again.contains("People|Phoebe") && again.contains("People|Ursula"));
    assert!(!again.contains("<mwg-rs:Name>Phoebe") && again.contains("<mwg-rs:Name>Ursula"));
    // digiKam's own tags are not ours: they stay as the user left them.
    assert!(again.contains("<rdf:li>People/Phoebe</rdf:li>"));
    assert!(again.contains("Places|Paris"));
}

#[test]
fn a_description_left_empty_goes_and_odd_layouts_are_handled() {
    let merged = merge_sidecar(EXIFTOOL_STYLE.as_bytes(), photo(1), &faces(1)).unwrap();
    let text = String::from_utf8(merged.clone()).unwrap();
    assert_eq!(text.matches("<rdf:Description").count(), 1, "{text}");
    assert!(
        text.starts_with("<?xpacket begin='\u{feff}'") && text.ends_with("<?xpacket end='w'?>")
    );
    assert_same_faces(&merged, 1, &faces(1));
    // rdf:RDF written as an empty element.
    let empty =
        format!("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"{RDF}\"/></x:xmpmeta>");
    let merged = merge_sidecar(empty.as_bytes(), photo(3), &faces(3)).unwrap();
    assert_same_faces(&merged, 3, &faces(3));
    // No faces: no regions, and nothing else lost.
    let none = merge_sidecar(DIGIKAM_STYLE.as_bytes(), photo(1), &[]).unwrap();
    let none = String::from_utf8(none).unwrap();
    assert!(!none.contains("mwg-rs:Regions") && none.contains("Places|Paris"));
}

#[test]
fn a_hostile_or_broken_sidecar_is_an_error_and_left_alone() {
    let f = faces(1);
    let doctype = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{EXIFTOOL_STYLE}");
    assert!(matches!(
        merge_sidecar(doctype.as_bytes(), photo(1), &f),
        Err(XmpError::Doctype)
    ));
    let entity = DIGIKAM_STYLE.replace("Places|Paris", "&a;");
    assert!(matches!(
        merge_sidecar(entity.as_bytes(), photo(1), &f),
        Err(XmpError::Entity(_))
    ));
    let cut = &DIGIKAM_STYLE[..DIGIKAM_STYLE.find("<dc:subject>").unwrap()];
    assert!(matches!(
        merge_sidecar(cut.as_bytes(), photo(1), &f),
        Err(XmpError::Truncated)
    ));
    assert!(matches!(
        merge_sidecar(b"<a><b/></a>", photo(1), &f),
        Err(XmpError::NoRdf)
    ));
    assert!(merge_sidecar(b"\xFF\xFE garbage <<", photo(1), &f).is_err());
    let deep = format!(
        "<rdf:RDF xmlns:rdf=\"{RDF}\">{}{}</rdf:RDF>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    assert!(matches!(
        merge_sidecar(deep.as_bytes(), photo(1), &f),
        Err(XmpError::TooDeep(_))
    ));
    let huge = vec![b' '; MAX_SIDECAR_BYTES as usize + 1];
    assert!(matches!(
        merge_sidecar(&huge, photo(1), &f),
        Err(XmpError::TooLarge { .. })
    ));
}

/// exiftool, which digiKam, Immich and PhotoPrism lean on, reads our sidecar: the names, the
/// stored dimensions and, turned by the orientation the photo has, each region on its face.
#[test]
fn exiftool_reads_the_names_and_regions_back() {
    let dir = tempfile::tempdir().unwrap();
    for orientation in [1u16, 6, 8] {
        let faces = faces(orientation);
        let path = dir.path().join(format!("IMG_{orientation}.jpg.xmp"));
        std::fs::write(&path, new_sidecar(photo(orientation), &faces)).unwrap();
        let out = std::process::Command::new("exiftool")
            .args([
                "-j",
                "-struct",
                "-RegionInfo",
                "-PersonInImage",
                "-HierarchicalSubject",
            ])
            .arg(&path)
            .output()
            .expect(
                "exiftool is needed (Debian: libimage-exiftool-perl; scripts/test.sh installs it)",
            );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tags = &json[0];
        assert_eq!(
            tags["PersonInImage"],
            serde_json::json!(["Phoebe", "Tom & Jerry <3>"])
        );
        assert_eq!(
            tags["HierarchicalSubject"],
            serde_json::json!(["People|Phoebe", "People|Tom & Jerry <3>"])
        );
        let info = &tags["RegionInfo"];
        assert_eq!(info["AppliedToDimensions"]["W"], 4000);
        assert_eq!(info["AppliedToDimensions"]["H"], 3000);
        assert_eq!(info["AppliedToDimensions"]["Unit"], "pixel");
        let list = info["RegionList"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        let (ow, oh) = photo(orientation).oriented_size();
        for (region, face) in list.iter().zip(&faces) {
            assert_eq!(region["Type"], "Face");
            assert_eq!(region["Name"].as_str(), face.name);
            let area = &region["Area"];
            let (x, y) = (area["X"].as_f64().unwrap(), area["Y"].as_f64().unwrap());
            // The stored centre, turned as a viewer turns the photo, is the face's centre.
            let [ox, oy, _, _] = orient_centre(x, y, orientation);
            let cx = (face.bbox[0] + face.bbox[2]) as f64 / 2.0 / f64::from(ow);
            let cy = (face.bbox[1] + face.bbox[3]) as f64 / 2.0 / f64::from(oh);
            assert!((ox - cx).abs() < 1e-4 && (oy - cy).abs() < 1e-4, "{region}");
        }
    }
}

fn orient_centre(x: f64, y: f64, orientation: u16) -> [f64; 4] {
    crate::media::xmp::orient_box([x, y, x, y], orientation)
}

/// A sidecar beside a placed photo: written, then merged, then left alone when it already says
/// the same; a link there (a companion `--symlink` or `--hardlink` placed) is replaced by a new
/// file and the library's sidecar is never written; one that cannot be merged is left as it was.
#[test]
fn a_sidecar_beside_a_placed_photo_never_writes_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let (library, out) = (dir.path().join("library"), dir.path().join("out"));
    std::fs::create_dir_all(&library).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let faces = faces(1);
    let placed = out.join("IMG_1.jpg");
    assert_eq!(sidecar_path(&placed), out.join("IMG_1.jpg.xmp"));
    assert_eq!(
        write_beside(&placed, photo(1), &faces).unwrap(),
        SidecarOutcome::Written
    );
    assert_eq!(
        write_beside(&placed, photo(1), &faces).unwrap(),
        SidecarOutcome::Unchanged
    );
    assert_eq!(
        write_beside(&placed, photo(1), &faces[..1]).unwrap(),
        SidecarOutcome::Merged
    );
    assert_same_faces(
        &std::fs::read(sidecar_path(&placed)).unwrap(),
        1,
        &faces[..1],
    );

    let theirs = library.join("IMG_2.jpg.xmp");
    std::fs::write(&theirs, DIGIKAM_STYLE).unwrap();
    let by_symlink = out.join("IMG_2.jpg");
    std::os::unix::fs::symlink(&theirs, sidecar_path(&by_symlink)).unwrap();
    let by_hardlink = out.join("IMG_3.jpg");
    std::fs::hard_link(&theirs, sidecar_path(&by_hardlink)).unwrap();
    for placed in [&by_symlink, &by_hardlink] {
        assert_eq!(
            write_beside(placed, photo(1), &faces).unwrap(),
            SidecarOutcome::Merged
        );
        let path = sidecar_path(placed);
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_file());
        let merged = std::fs::read(&path).unwrap();
        assert!(String::from_utf8_lossy(&merged).contains("<digiKam:TagsList>"));
        assert_same_faces(&merged, 1, &faces);
    }
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), DIGIKAM_STYLE);

    let broken = out.join("IMG_4.jpg");
    std::fs::write(sidecar_path(&broken), "<x:xmpmeta><rdf:RDF").unwrap();
    assert!(matches!(
        write_beside(&broken, photo(1), &faces),
        Err(SidecarError::Existing(_))
    ));
    assert_eq!(
        std::fs::read_to_string(sidecar_path(&broken)).unwrap(),
        "<x:xmpmeta><rdf:RDF"
    );
}

#[test]
fn a_photo_without_faces_gets_no_description_and_reruns_add_none() {
    let xmp = new_sidecar(photo(1), &[]);
    assert_eq!(xmp, EMPTY_PACKET.as_bytes());
    assert_eq!(merge_sidecar(&xmp, photo(1), &[]).unwrap(), xmp);
    // Faces, then none: back to the empty packet.
    let with = new_sidecar(photo(1), &faces(1));
    assert_eq!(merge_sidecar(&with, photo(1), &[]).unwrap(), xmp);
    // Another tool's empty description goes too; one with a property stays.
    let theirs = EMPTY_PACKET.replace(
        " </rdf:RDF>",
        "  <rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\">\n  </rdf:Description>\n  <rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmp:Rating=\"5\"/>\n </rdf:RDF>",
    );
    let merged =
        String::from_utf8(merge_sidecar(theirs.as_bytes(), photo(1), &[]).unwrap()).unwrap();
    assert_eq!(merged.matches("<rdf:Description").count(), 1, "{merged}");
    assert!(merged.contains("xmp:Rating=\"5\"/>"));
}
