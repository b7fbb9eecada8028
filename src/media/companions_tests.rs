use std::path::{Path, PathBuf};

use super::*;

/// Pairs `photos` with `others` and names each photo's companions, and the orphans.
fn paired(photos: &[&str], others: &[&str]) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let photo_paths: Vec<PathBuf> = photos.iter().map(PathBuf::from).collect();
    let other_paths: Vec<PathBuf> = others.iter().map(PathBuf::from).collect();
    let p: Vec<&Path> = photo_paths.iter().map(PathBuf::as_path).collect();
    let o: Vec<&Path> = other_paths.iter().map(PathBuf::as_path).collect();
    let pairing = pair(&p, &o);
    let of_photo = pairing
        .of_photo
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_empty())
        .map(|(i, c)| {
            let names = c.iter().map(|c| others[c.file].to_string()).collect();
            (photos[i].to_string(), names)
        })
        .collect();
    let orphans = pairing
        .orphans
        .iter()
        .map(|&j| others[j].to_string())
        .collect();
    (of_photo, orphans)
}

fn owner(photos: &[&str], others: &[&str], companion: &str) -> Option<String> {
    paired(photos, others)
        .0
        .into_iter()
        .find(|(_, c)| c.iter().any(|c| c == companion))
        .map(|(p, _)| p)
}

fn form_of(photos: &[&str], others: &[&str], companion: &str) -> (Kind, NameForm) {
    let photo_paths: Vec<&Path> = photos.iter().map(Path::new).collect();
    let other_paths: Vec<&Path> = others.iter().map(Path::new).collect();
    let j = others.iter().position(|o| *o == companion).unwrap();
    pair(&photo_paths, &other_paths)
        .of_photo
        .into_iter()
        .flatten()
        .find(|c| c.file == j)
        .map(|c| (c.kind, c.form))
        .unwrap_or_else(|| panic!("{companion} is no photo's"))
}

#[test]
fn an_iphone_folder_pairs_live_videos_and_edits_in_any_case() {
    let photos = ["iPhone/IMG_0001.HEIC", "iPhone/IMG_0002.JPG"];
    let others = [
        "iPhone/IMG_0001.MOV",
        "iPhone/IMG_0001.AAE",
        "iPhone/img_0002.mov",
        "iPhone/IMG_O0002.aae",
        "iPhone/IMG_0002.AAE",
    ];
    let (of_photo, orphans) = paired(&photos, &others);
    assert_eq!(
        of_photo,
        vec![
            (
                "iPhone/IMG_0001.HEIC".into(),
                vec!["iPhone/IMG_0001.MOV".into(), "iPhone/IMG_0001.AAE".into()]
            ),
            (
                "iPhone/IMG_0002.JPG".into(),
                vec![
                    "iPhone/img_0002.mov".into(),
                    "iPhone/IMG_O0002.aae".into(),
                    "iPhone/IMG_0002.AAE".into()
                ]
            ),
        ]
    );
    assert!(orphans.is_empty(), "{orphans:?}");
    assert_eq!(
        form_of(&photos, &others, "iPhone/IMG_0001.MOV"),
        (Kind::LiveVideo, NameForm::AfterStem(".MOV".into()))
    );
    assert_eq!(
        form_of(&photos, &others, "iPhone/IMG_O0002.aae"),
        (Kind::Aae, NameForm::AppleOriginal(".aae".into()))
    );
}

#[test]
fn xmp_sidecars_by_whole_name_or_stem_and_a_raw_keeps_its_own() {
    let photos = [
        "dt/a.jpg",
        "lr/IMG_5.CR2",
        "lr/IMG_5.JPG",
        "lr/my.trip.jpg",
        "other/x.png",
    ];
    let others = [
        "dt/a.JPG.XMP",
        "lr/IMG_5.xmp",
        "lr/my.trip.xmp",
        "lr/my.xmp",
        "other/y.xmp",
        "dt/a.xmp",
    ];
    assert_eq!(owner(&photos, &others, "dt/a.JPG.XMP").unwrap(), "dt/a.jpg");
    assert_eq!(
        form_of(&photos, &others, "dt/a.JPG.XMP").1,
        NameForm::AfterName(".XMP".into())
    );
    // Lightroom writes `IMG_5.xmp` for the RAW file, not for the JPEG beside it.
    assert_eq!(
        owner(&photos, &others, "lr/IMG_5.xmp").unwrap(),
        "lr/IMG_5.CR2"
    );
    assert_eq!(
        owner(&photos, &others, "lr/my.trip.xmp").unwrap(),
        "lr/my.trip.jpg"
    );
    // Both of a photo's sidecars go with it.
    assert_eq!(owner(&photos, &others, "dt/a.xmp").unwrap(), "dt/a.jpg");
    let (_, orphans) = paired(&photos, &others);
    assert_eq!(orphans, vec!["lr/my.xmp", "other/y.xmp"]);
}

#[test]
fn takeout_json_whole_supplemental_and_cut_short_names() {
    let long = "PXL_20210101_123456789_a_rather_long_title_here.jpg"; // 51 characters
    let photos = [
        "t/IMG_1234.jpg".to_string(),
        "t/IMG_1235.jpg".to_string(),
        "t/PXL_20210101_123456789.jpg".to_string(),
        "t/photo.jpg".to_string(),
        format!("t/{long}"),
        "t/Beach.JPG".to_string(),
    ];
    let cut = &long[..46];
    let others = [
        "t/IMG_1234.jpg.json".to_string(),
        "t/IMG_1235.jpg.supplemental-metadata.json".to_string(),
        "t/PXL_20210101_123456789.jpg.supplemental-metad.json".to_string(),
        "t/photo.jpg.suppl.json".to_string(),
        format!("t/{cut}.json"),
        "t/metadata.json".to_string(),
        "t/gone.jpg.supplemental-metadata.json".to_string(),
        "t/beach.jpg.JSON".to_string(),
    ];
    let photos: Vec<&str> = photos.iter().map(String::as_str).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    for (json, photo) in [
        (others[0], photos[0]),
        (others[1], photos[1]),
        (others[2], photos[2]),
        (others[3], photos[3]),
        (others[4], photos[4]),
        (others[7], photos[5]),
    ] {
        assert_eq!(
            owner(&photos, &others, json).as_deref(),
            Some(photo),
            "{json}"
        );
        assert_eq!(form_of(&photos, &others, json).0, Kind::TakeoutJson);
    }
    assert_eq!(
        form_of(&photos, &others, others[1]).1,
        NameForm::AfterName(".supplemental-metadata.json".into())
    );
    // A cut name takes the whole suffix when its photo is renamed.
    assert_eq!(
        form_of(&photos, &others, others[2]).1,
        NameForm::AfterName(".supplemental-metadata.json".into())
    );
    // An album's metadata.json is no photo's and not an orphan either.
    let (_, orphans) = paired(&photos, &others);
    assert_eq!(orphans, vec!["t/gone.jpg.supplemental-metadata.json"]);
}

#[test]
fn takeout_counter_quirk_and_cut_names_that_two_photos_could_own() {
    let photos = [
        "t/photo.jpg",
        "t/photo(1).jpg",
        "t/IMG(2).HEIC",
        "t/Screenshot_20200101-101010_a_long_app_name_here_1.png",
        "t/Screenshot_20200101-101010_a_long_app_name_here_2.png",
        "t/Screenshot_20200202-101010_another_long_app_name.jpg",
        "t/Screenshot_20200202-101010_another_long_app_name-edited.jpg",
    ];
    let others = [
        "t/photo.jpg.json",
        "t/photo.jpg(1).json",
        "t/IMG.HEIC.supplemental-metadata(2).json",
        "t/Screenshot_20200101-101010_a_long_app_name_her.json",
        "t/Screenshot_20200202-101010_another_long_app_na.json",
    ];
    assert_eq!(owner(&photos, &others, others[0]).unwrap(), "t/photo.jpg");
    assert_eq!(
        owner(&photos, &others, others[1]).unwrap(),
        "t/photo(1).jpg"
    );
    assert_eq!(
        form_of(&photos, &others, others[1]).1,
        NameForm::AfterName(".json".into())
    );
    assert_eq!(owner(&photos, &others, others[2]).unwrap(), "t/IMG(2).HEIC");
    // The original, not its edited copy (which Takeout gives no JSON of its own).
    assert_eq!(
        owner(&photos, &others, others[4]).unwrap(),
        "t/Screenshot_20200202-101010_another_long_app_name.jpg"
    );
    // Cut where two photos' names are alike: either could own it, so it stays.
    let (_, orphans) = paired(&photos, &others);
    assert_eq!(orphans, vec![others[3]]);
}

#[test]
fn videos_are_live_photos_only_beside_a_photo_of_their_stem() {
    let photos = ["v/IMG_0001.HEIC", "v/beach.jpg"];
    let others = [
        "v/IMG_0001.mp4",
        "v/IMG_0001.mp4.json",
        "v/IMG_0001.MP4.xmp",
        "v/IMG_0003.MOV",
        "v/IMG_0003.AAE",
        "v/IMG_0003.MOV.json",
        "v/IMG_O0003.AAE",
        "v/clip.mkv",
        "v/clip.xmp",
        "w/IMG_0002.AAE",
    ];
    let (of_photo, orphans) = paired(&photos, &others);
    assert_eq!(
        of_photo,
        vec![(
            "v/IMG_0001.HEIC".into(),
            vec![
                "v/IMG_0001.mp4".into(),
                "v/IMG_0001.mp4.json".into(),
                "v/IMG_0001.MP4.xmp".into()
            ]
        )]
    );
    // The Live Photo video's own sidecars follow the video's name.
    assert_eq!(
        form_of(&photos, &others, "v/IMG_0001.mp4.json").1,
        NameForm::AfterStem(".mp4.json".into())
    );
    // A video no photo has, and the sidecars of such a video, are neither paired nor orphans;
    // an AAE in another folder than its photo is an orphan.
    assert_eq!(orphans, vec!["w/IMG_0002.AAE"]);
}

#[test]
fn companions_follow_a_renamed_photo() {
    let renamed = |form: NameForm, own: &str| {
        name_beside(&form, own, "IMG_0001.HEIC", "IMG_0001-1a2b3c4d.HEIC")
    };
    assert_eq!(
        renamed(NameForm::AfterStem(".MOV".into()), "IMG_0001.MOV"),
        "IMG_0001-1a2b3c4d.MOV"
    );
    assert_eq!(
        renamed(NameForm::AfterName(".xmp".into()), "IMG_0001.HEIC.xmp"),
        "IMG_0001-1a2b3c4d.HEIC.xmp"
    );
    assert_eq!(
        renamed(NameForm::AppleOriginal(".AAE".into()), "IMG_O0001.AAE"),
        "IMG_O0001-1a2b3c4d.AAE"
    );
    assert_eq!(
        renamed(
            NameForm::AfterName(".supplemental-metadata.json".into()),
            "IMG_0001.HEIC.supplemental-me.json"
        ),
        "IMG_0001-1a2b3c4d.HEIC.supplemental-metadata.json"
    );
    // Unchanged while the photo keeps its name, cut or quirky as it was.
    assert_eq!(
        name_beside(
            &NameForm::AfterName(".json".into()),
            "photo.jpg(1).json",
            "photo(1).jpg",
            "photo(1).jpg"
        ),
        "photo.jpg(1).json"
    );
}

#[test]
fn apple_original_and_counter_names() {
    assert_eq!(apple_original_of("IMG_O0001").as_deref(), Some("IMG_0001"));
    assert_eq!(apple_original_of("img_o12").as_deref(), Some("img_12"));
    assert_eq!(apple_original_of("IMG_0001"), None);
    assert_eq!(apple_original_of("IMG_O"), None);
    assert_eq!(split_counter("photo.jpg(12)"), Some(("photo.jpg", "(12)")));
    assert_eq!(split_counter("photo.jpg()"), None);
    assert_eq!(split_counter("photo.jpg"), None);
}
