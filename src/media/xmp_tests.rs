use super::*;

/// What exiftool writes (`-RegionInfo<=...`): structs as `rdf:parseType='Resource'`, fields as
/// elements, in alphabetical order.
pub const EXIFTOOL_STYLE: &str = r#"<?xpacket begin='﻿' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <rdf:Description rdf:about=''
  xmlns:mwg-rs='http://www.metadataworkinggroup.com/schemas/regions/'
  xmlns:stArea='http://ns.adobe.com/xmp/sType/Area#'
  xmlns:stDim='http://ns.adobe.com/xap/1.0/sType/Dimensions#'>
  <mwg-rs:Regions rdf:parseType='Resource'>
   <mwg-rs:AppliedToDimensions rdf:parseType='Resource'>
    <stDim:h>3000</stDim:h>
    <stDim:unit>pixel</stDim:unit>
    <stDim:w>4000</stDim:w>
   </mwg-rs:AppliedToDimensions>
   <mwg-rs:RegionList>
    <rdf:Bag>
     <rdf:li rdf:parseType='Resource'>
      <mwg-rs:Area rdf:parseType='Resource'>
       <stArea:h>0.1</stArea:h>
       <stArea:unit>normalized</stArea:unit>
       <stArea:w>0.05</stArea:w>
       <stArea:x>0.25</stArea:x>
       <stArea:y>0.4</stArea:y>
      </mwg-rs:Area>
      <mwg-rs:Name>Phoebe &amp; Co</mwg-rs:Name>
      <mwg-rs:Type>Face</mwg-rs:Type>
     </rdf:li>
     <rdf:li rdf:parseType='Resource'>
      <mwg-rs:Area rdf:parseType='Resource'>
       <stArea:h>0.2</stArea:h>
       <stArea:unit>normalized</stArea:unit>
       <stArea:w>0.1</stArea:w>
       <stArea:x>0.75</stArea:x>
       <stArea:y>0.5</stArea:y>
      </mwg-rs:Area>
      <mwg-rs:Type>Face</mwg-rs:Type>
     </rdf:li>
     <rdf:li rdf:parseType='Resource'>
      <mwg-rs:Area rdf:parseType='Resource'>
       <stArea:h>0.2</stArea:h><stArea:w>0.2</stArea:w>
       <stArea:x>0.5</stArea:x><stArea:y>0.5</stArea:y>
      </mwg-rs:Area>
      <mwg-rs:Name>Rex</mwg-rs:Name>
      <mwg-rs:Type>Pet</mwg-rs:Type>
     </rdf:li>
    </rdf:Bag>
   </mwg-rs:RegionList>
  </mwg-rs:Regions>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>"#;

/// What digiKam writes through exiv2: structs as nested `rdf:Description`s with simple fields
/// as attributes, the Area as an empty element with attributes; the Microsoft regions beside
/// the MWG ones (Microsoft's rectangle is top-left based), plus its own tags.
pub const DIGIKAM_STYLE: &str = r#"<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:MP="http://ns.microsoft.com/photo/1.2/"
    xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
    xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exif:PixelXDimension="4000"
    exif:PixelYDimension="3000"
    tiff:Orientation="1">
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>People/Phoebe</rdf:li>
     <rdf:li>Places/Paris</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>People|Phoebe</rdf:li>
     <rdf:li>Places|Paris</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Phoebe" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.25" stArea:y="0.4" stArea:w="0.05" stArea:h="0.1" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Joey" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="NaN" stArea:y="0.4" stArea:w="0.05" stArea:h="0.1" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
   <MP:RegionInfo rdf:parseType="Resource">
    <MPRI:Regions>
     <rdf:Bag>
      <rdf:li MPReg:Rectangle="0.225, 0.35, 0.05, 0.1" MPReg:PersonDisplayName="Phoebe"/>
     </rdf:Bag>
    </MPRI:Regions>
   </MP:RegionInfo>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Phoebe</rdf:li>
     <rdf:li>Paris</rdf:li>
    </rdf:Bag>
   </dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#;

/// What Windows (Live) Photo Gallery writes: every struct a nested `rdf:Description` declaring
/// its own namespace, a person without a rectangle, a region with a broken rectangle.
pub const MICROSOFT_STYLE: &str = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="uuid:faf5bdd5-ba3d-11da-ad31-d33d75182f1b" xmlns:MP="http://ns.microsoft.com/photo/1.2/">
 <MP:RegionInfo>
  <rdf:Description xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#">
   <MPRI:Regions>
    <rdf:Bag xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
     <rdf:li>
      <rdf:Description xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
       <MPReg:Rectangle>0.368217, 0.100775, 0.189922, 0.252907</MPReg:Rectangle>
       <MPReg:PersonDisplayName>Ken Smith</MPReg:PersonDisplayName>
       <MPReg:PersonEmailDigest>6E36D2C9DDE6E3A5D5B3A7AC3F8A4AD20E0D1A3E</MPReg:PersonEmailDigest>
      </rdf:Description>
     </rdf:li>
     <rdf:li>
      <rdf:Description xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
       <MPReg:PersonDisplayName>Anna</MPReg:PersonDisplayName>
      </rdf:Description>
     </rdf:li>
     <rdf:li>
      <rdf:Description xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
       <MPReg:Rectangle>0.5, 0.5</MPReg:Rectangle>
       <MPReg:PersonDisplayName>Broken</MPReg:PersonDisplayName>
      </rdf:Description>
     </rdf:li>
    </rdf:Bag>
   </MPRI:Regions>
  </rdf:Description>
 </MP:RegionInfo>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
 <Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Anna</rdf:li><rdf:li> Bob </rdf:li></rdf:Bag></Iptc4xmpExt:PersonInImage>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>"#;

const LANDSCAPE: PhotoGeometry = PhotoGeometry {
    stored_width: 4000,
    stored_height: 3000,
    orientation: 1,
};

fn close(a: [f32; 4], b: [f32; 4]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.5)
}

#[test]
fn exiftool_style_regions_are_read_faces_only() {
    let p = read_people(EXIFTOOL_STYLE.as_bytes(), LANDSCAPE).unwrap();
    assert_eq!(p.regions.len(), 2, "{p:?}");
    assert_eq!(p.regions[0].name.as_deref(), Some("Phoebe & Co"));
    assert!(
        close(p.regions[0].bbox, [900.0, 1050.0, 1100.0, 1350.0]),
        "{p:?}"
    );
    assert_eq!(p.regions[1].name, None);
    assert!(close(p.regions[1].bbox, [2800.0, 1200.0, 3200.0, 1800.0]));
    assert!(p.regions.iter().all(|r| r.format == RegionFormat::Mwg));
    assert!(p.skipped.is_empty(), "the pet is not a face, not a problem");
}

#[test]
fn digikam_style_sidecar_reads_mwg_and_reports_the_nan_region() {
    let p = read_people(DIGIKAM_STYLE.as_bytes(), LANDSCAPE).unwrap();
    assert_eq!(p.regions.len(), 1, "{p:?}");
    assert_eq!(p.regions[0].name.as_deref(), Some("Phoebe"));
    assert_eq!(p.regions[0].format, RegionFormat::Mwg, "MWG wins over MP");
    assert!(close(p.regions[0].bbox, [900.0, 1050.0, 1100.0, 1350.0]));
    assert_eq!(p.skipped, ["MWG region 2 (Joey): area is not a number"]);
    assert!(p.persons.is_empty());
}

#[test]
fn microsoft_style_regions_and_names_without_rectangles() {
    let photo = PhotoGeometry {
        stored_width: 1000,
        stored_height: 1000,
        orientation: 1,
    };
    let p = read_people(MICROSOFT_STYLE.as_bytes(), photo).unwrap();
    assert_eq!(p.regions.len(), 1, "{p:?}");
    assert_eq!(p.regions[0].name.as_deref(), Some("Ken Smith"));
    assert_eq!(p.regions[0].format, RegionFormat::Microsoft);
    assert!(close(
        p.regions[0].bbox,
        [368.217, 100.775, 558.139, 353.682]
    ));
    assert_eq!(p.persons, ["Anna", "Bob"]);
    assert_eq!(
        p.skipped,
        ["Microsoft region 3 (Broken): rectangle is not four numbers"]
    );
}

/// A stored image with a white box, turned by `image` as the decoder turns it: the box read
/// back from the oriented pixels is where [`orient_box`] says, and [`unorient_box`] returns it.
#[test]
fn every_orientation_maps_a_stored_box_to_where_the_decoder_shows_it() {
    use image::metadata::Orientation;
    let (w, h) = (40u32, 30u32);
    let stored = [4u32, 3, 12, 9]; // l, t, r, b (exclusive)
    for orientation in 1..=8u16 {
        let mut img = image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| {
            let inside = (stored[0]..stored[2]).contains(&x) && (stored[1]..stored[3]).contains(&y);
            image::Luma([if inside { 255 } else { 0 }])
        }));
        img.apply_orientation(Orientation::from_exif(orientation as u8).unwrap());
        let img = img.to_luma8();
        let lit: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|p| p.2 .0[0] > 128)
            .map(|p| (p.0, p.1))
            .collect();
        let seen = [
            lit.iter().map(|p| p.0).min().unwrap() as f32,
            lit.iter().map(|p| p.1).min().unwrap() as f32,
            lit.iter().map(|p| p.0).max().unwrap() as f32 + 1.0,
            lit.iter().map(|p| p.1).max().unwrap() as f32 + 1.0,
        ];
        let photo = PhotoGeometry {
            stored_width: w,
            stored_height: h,
            orientation,
        };
        assert_eq!(photo.oriented_size(), img.dimensions());
        assert_eq!(
            PhotoGeometry::from_oriented(img.width(), img.height(), orientation),
            photo
        );
        let norm = [4.0 / 40.0, 3.0 / 30.0, 12.0 / 40.0, 9.0 / 30.0];
        let oriented = orient_box(norm, orientation);
        assert_eq!(
            to_pixels(oriented, photo),
            seen,
            "orientation {orientation}"
        );
        let back = unorient_box(oriented, orientation);
        assert!(
            back.iter().zip(norm).all(|(a, b)| (a - b).abs() < 1e-12),
            "orientation {orientation}: {back:?}"
        );
    }
}

#[test]
fn regions_in_a_rotated_photo_come_out_in_the_oriented_pixels() {
    // Orientation 6 (the phone turned right): stored 4000x3000, shown 3000x4000. A face at the
    // stored top-left is shown at the top-right.
    let photo = PhotoGeometry {
        orientation: 6,
        ..LANDSCAPE
    };
    let p = read_people(EXIFTOOL_STYLE.as_bytes(), photo).unwrap();
    // Stored box x 0.225..0.275, y 0.35..0.45 -> shown x 1-0.45..1-0.35, y 0.225..0.275.
    assert!(
        close(p.regions[0].bbox, [1650.0, 900.0, 1950.0, 1100.0]),
        "{:?}",
        p.regions[0].bbox
    );
}

fn mwg_with_area(area: &str) -> String {
    DIGIKAM_STYLE.replace(
        r#"stArea:x="NaN" stArea:y="0.4" stArea:w="0.05" stArea:h="0.1""#,
        area,
    )
}

#[test]
fn hostile_areas_are_skipped_with_the_reason_and_the_rest_kept() {
    for (area, why) in [
        (
            r#"stArea:x="-0.2" stArea:y="0.4" stArea:w="0.05" stArea:h="0.1""#,
            "outside",
        ),
        (
            r#"stArea:x="1.5" stArea:y="0.4" stArea:w="0.05" stArea:h="0.1""#,
            "outside",
        ),
        (
            r#"stArea:x="0.5" stArea:y="0.4" stArea:w="-0.05" stArea:h="0.1""#,
            "size",
        ),
        (
            r#"stArea:x="0.5" stArea:y="0.4" stArea:w="1.5" stArea:h="0.1""#,
            "size",
        ),
        (
            r#"stArea:x="0.5" stArea:y="inf" stArea:w="0.5" stArea:h="0.1""#,
            "number",
        ),
        (r#"stArea:x="0.5" stArea:y="0.4" stArea:d="0.1""#, "point"),
        (
            r#"stArea:x="zero" stArea:y="0.4" stArea:w="0.1" stArea:h="0.1""#,
            "no x",
        ),
    ] {
        let p = read_people(mwg_with_area(area).as_bytes(), LANDSCAPE).unwrap();
        assert_eq!(p.regions.len(), 1, "{area}");
        assert_eq!(p.skipped.len(), 1, "{area}");
        assert!(p.skipped[0].contains(why), "{area}: {:?}", p.skipped);
    }
    // A box whose centre is inside but which sticks out is clamped to the image.
    let area = r#"stArea:x="0.99" stArea:y="0.5" stArea:w="0.1" stArea:h="0.1""#;
    let p = read_people(mwg_with_area(area).as_bytes(), LANDSCAPE).unwrap();
    assert_eq!(p.regions[1].bbox[2], 4000.0);
}

#[test]
fn hostile_documents_are_errors_naming_the_cause() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&lol2;</x:xmpmeta>"#;
    assert!(matches!(
        read_people(laughs.as_bytes(), LANDSCAPE),
        Err(XmpError::Doctype)
    ));
    let entity = DIGIKAM_STYLE.replace("Phoebe\" mwg-rs:Type", "&lol;\" mwg-rs:Type");
    assert!(matches!(
        read_people(entity.as_bytes(), LANDSCAPE),
        Err(XmpError::Entity(e)) if e == "lol"
    ));
    let text_entity = EXIFTOOL_STYLE.replace("&amp;", "&ext;");
    assert!(matches!(
        read_people(text_entity.as_bytes(), LANDSCAPE),
        Err(XmpError::Entity(_))
    ));
    let deep = format!(
        "<rdf:RDF xmlns:rdf=\"{RDF}\">{}{}</rdf:RDF>",
        "<a>".repeat(200),
        "</a>".repeat(200)
    );
    assert!(matches!(
        read_people(deep.as_bytes(), LANDSCAPE),
        Err(XmpError::TooDeep(64))
    ));
    let cut = &EXIFTOOL_STYLE[..EXIFTOOL_STYLE.find("</mwg-rs:RegionList>").unwrap()];
    let err = read_people(cut.as_bytes(), LANDSCAPE).unwrap_err();
    assert!(matches!(err, XmpError::Truncated), "{err:?}");
    let mid_tag = &EXIFTOOL_STYLE[..EXIFTOOL_STYLE.find("Regions rdf").unwrap()];
    let err = read_people(mid_tag.as_bytes(), LANDSCAPE).unwrap_err();
    assert!(matches!(err, XmpError::Malformed { .. }), "{err:?}");
    let mismatched = EXIFTOOL_STYLE.replace("</mwg-rs:RegionList>", "</mwg-rs:Regions>");
    assert!(matches!(
        read_people(mismatched.as_bytes(), LANDSCAPE),
        Err(XmpError::Malformed { .. })
    ));
    let mut not_utf8 = EXIFTOOL_STYLE.as_bytes().to_vec();
    let at = EXIFTOOL_STYLE.find("Phoebe").unwrap();
    not_utf8[at] = 0xFF;
    assert!(read_people(&not_utf8, LANDSCAPE).is_err());
    assert!(matches!(
        read_people(b"<html><body>hi</body></html>", LANDSCAPE),
        Err(XmpError::NoRdf)
    ));
    let many = format!(
        "<rdf:RDF xmlns:rdf=\"{RDF}\">{}</rdf:RDF>",
        "<a/>".repeat(xmp_tree::MAX_ELEMENTS + 1)
    );
    assert!(matches!(
        read_people(many.as_bytes(), LANDSCAPE),
        Err(XmpError::TooManyElements(_))
    ));
    // Every error says what is wrong in one line.
    assert_eq!(
        XmpError::Doctype.to_string(),
        "XMP has a DOCTYPE (DTDs and their entities are refused)"
    );
}

#[test]
fn a_huge_sidecar_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("IMG_1.jpg.xmp");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(100 << 20).unwrap(); // 100 MB, sparse
    let t = std::time::Instant::now();
    match read_sidecar(&path) {
        Err(XmpError::TooLarge { bytes, limit }) => {
            assert_eq!(bytes, 100 << 20);
            assert_eq!(limit, MAX_SIDECAR_BYTES);
        }
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed().as_secs_f64() < 2.0);
    std::fs::write(&path, DIGIKAM_STYLE).unwrap();
    assert_eq!(read_sidecar(&path).unwrap(), DIGIKAM_STYLE.as_bytes());
    assert!(matches!(
        read_sidecar(&dir.path().join("missing.xmp")),
        Err(XmpError::Io(_))
    ));
}

/// A JPEG with an EXIF APP1 before the XMP APP1, as cameras and exiftool lay them out.
pub fn jpeg_with_xmp(xmp: &[u8]) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(16, 8, image::Rgb([200, 100, 50]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
        .encode(img.as_raw(), 16, 8, image::ExtendedColorType::Rgb8)
        .unwrap();
    let mut segments = Vec::new();
    for body in [b"Exif\0\0II*\0".to_vec(), [JPEG_XMP_ID, xmp].concat()] {
        segments.extend([0xFF, 0xE1]);
        segments.extend(u16::try_from(body.len() + 2).unwrap().to_be_bytes());
        segments.extend(body);
    }
    jpeg.splice(2..2, segments);
    jpeg
}

#[test]
fn xmp_is_found_in_a_jpeg_and_in_other_files() {
    let jpeg = jpeg_with_xmp(DIGIKAM_STYLE.as_bytes());
    assert_eq!(find_embedded_xmp(&jpeg), Some(DIGIKAM_STYLE.as_bytes()));
    assert!(image::load_from_memory(&jpeg).is_ok());
    let p = read_people(find_embedded_xmp(&jpeg).unwrap(), LANDSCAPE).unwrap();
    assert_eq!(p.regions[0].name.as_deref(), Some("Phoebe"));
    // No XMP, a truncated segment, a segment length past the end: none, no panic.
    assert_eq!(find_embedded_xmp(&jpeg_with_xmp(b"")), Some(&b""[..]));
    let plain = &jpeg[..2];
    assert_eq!(find_embedded_xmp(plain), None);
    assert_eq!(find_embedded_xmp(&jpeg[..30]), None);
    // HEIC, PNG, TIFF: the packet as plain text somewhere in the file.
    let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic.extend(b"junk");
    heic.extend(MICROSOFT_STYLE.as_bytes());
    heic.extend(b"more junk");
    assert_eq!(find_embedded_xmp(&heic), Some(MICROSOFT_STYLE.as_bytes()));
    assert_eq!(find_embedded_xmp(b"<x:xmpmeta unterminated"), None);
}

/// exiftool (which digiKam, Immich and PhotoPrism lean on) writes MWG and Microsoft regions
/// into a JPEG turned by its EXIF orientation, as a camera or a tagging tool leaves it: they
/// are found in the file and come out in the oriented photo's pixels.
#[test]
fn regions_exiftool_writes_into_a_rotated_jpeg_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("IMG_6.jpg");
    let img = image::RgbImage::from_pixel(40, 30, image::Rgb([90, 120, 150]));
    img.save(&path).unwrap();
    let status = std::process::Command::new("exiftool")
        .args([
            "-q",
            "-overwrite_original",
            "-n",
            "-Orientation=6",
            "-RegionInfo={AppliedToDimensions={W=40,H=30,Unit=pixel},RegionList=[\
             {Area={X=0.25,Y=0.4,W=0.05,H=0.1,Unit=normalized},Name=Phoebe,Type=Face},\
             {Area={X=0.75,Y=0.5,W=0.1,H=0.2,Unit=normalized},Type=Face}]}",
            "-RegionInfoMP={Regions=[{PersonDisplayName=Ken,Rectangle=0.1|, 0.2|, 0.3|, 0.4}]}",
        ])
        .arg(&path)
        .status()
        .expect("exiftool is needed (Debian: libimage-exiftool-perl; scripts/test.sh installs it)");
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    let orientation = crate::media::exif::ExifInfo::read(&bytes).orientation;
    assert_eq!(orientation, 6);
    let photo = PhotoGeometry {
        stored_width: 40,
        stored_height: 30,
        orientation,
    };
    let p = read_people(find_embedded_xmp(&bytes).expect("XMP in the JPEG"), photo).unwrap();
    assert_eq!(p.regions.len(), 2, "MWG only: {p:?}");
    assert_eq!(p.regions[0].name.as_deref(), Some("Phoebe"));
    // Stored x 0.225..0.275, y 0.35..0.45 -> shown (30 x 40) x 1-0.45..1-0.35, y 0.225..0.275.
    assert!(close(p.regions[0].bbox, [16.5, 9.0, 19.5, 11.0]), "{p:?}");
    assert_eq!(p.persons, Vec::<String>::new());
    // Without the MWG regions, the Microsoft one is read (top-left box).
    let status = std::process::Command::new("exiftool")
        .args(["-q", "-overwrite_original", "-RegionInfo="])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    let p = read_people(find_embedded_xmp(&bytes).unwrap(), photo).unwrap();
    assert_eq!(p.regions.len(), 1, "{p:?}");
    assert_eq!(p.regions[0].name.as_deref(), Some("Ken"));
    assert_eq!(p.regions[0].format, RegionFormat::Microsoft);
    // Stored x 0.1..0.4, y 0.2..0.6 -> shown x 0.4..0.8 of 30, y 0.1..0.4 of 40.
    assert!(close(p.regions[0].bbox, [12.0, 4.0, 24.0, 16.0]), "{p:?}");
}
