use super::*;

#[test]
fn keyframes_are_spread_over_a_long_video_and_one_a_second_at_most() {
    let s = Sampling::default();
    assert_eq!(s.keyframe_gap(30.0), 1.0);
    assert_eq!(s.keyframe_gap(150.0), 2.5);
}

#[test]
fn gaps_longer_than_the_floor_are_filled_evenly() {
    let s = Sampling::default();
    // x264's default GOP at 30 fps: keyframes 8.3 s apart need no fill under a 10 s floor.
    let keys: Vec<f64> = (0..8).map(|k| k as f64 * 8.333).collect();
    assert!(s.fill_gaps(&keys, 60.0, 60).is_empty());
    // One keyframe at the start of a 35 s video: fills at 8.75, 17.5 and 26.25.
    let fill = s.fill_gaps(&[0.0], 35.0, 60);
    assert_eq!(fill.len(), 3);
    assert!((fill[0] - 8.75).abs() < 1e-9 && (fill[2] - 26.25).abs() < 1e-9);
    // A budget smaller than the fills keeps them spread.
    let fill = s.fill_gaps(&[0.0], 100.0, 3);
    assert_eq!(fill.len(), 3);
    assert!(fill[0] < 20.0 && fill[2] > 60.0, "{fill:?}");
}

#[test]
fn a_long_video_is_sought_evenly_within_the_cap() {
    let s = Sampling::default();
    let times = s.seek_times(4.0 * 3600.0);
    assert_eq!(times.len(), s.max_frames);
    assert_eq!(times[0], 120.0);
    assert!(*times.last().unwrap() < 4.0 * 3600.0);
}

#[test]
fn frames_are_scaled_to_the_long_side_and_turned_with_the_video() {
    let s = Sampling::default();
    assert_eq!(s.frame_size((1920, 1080)), (1280, 720));
    assert_eq!(s.frame_size((1080, 1920)), (720, 1280));
    assert_eq!(s.frame_size((640, 480)), (640, 480));
    let info = |rotation| VideoInfo {
        duration: Some(1.0),
        width: 1920,
        height: 1080,
        rotation,
        codec: "h264".into(),
        creation_time: None,
    };
    assert_eq!(info(-90).display_size(), (1080, 1920));
    assert_eq!(info(270).display_size(), (1080, 1920));
    assert_eq!(info(180).display_size(), (1920, 1080));
}

#[test]
fn probe_json_gives_duration_size_rotation_and_refuses_cover_art() {
    let json: Value = serde_json::from_str(
        r#"{"streams":[{"codec_type":"audio","codec_name":"aac"},
            {"codec_type":"video","codec_name":"hevc","width":1920,"height":1080,
             "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}],
             "disposition":{"attached_pic":0}}],
            "format":{"duration":"12.500000","tags":{"creation_time":"2024-05-01T10:00:00.000000Z"}}}"#,
    )
    .unwrap();
    let info = parse_probe(&json).unwrap();
    assert_eq!(info.duration, Some(12.5));
    assert_eq!((info.width, info.height, info.rotation), (1920, 1080, -90));
    assert_eq!(info.codec, "hevc");
    assert_eq!(
        info.creation_time.as_deref(),
        Some("2024-05-01T10:00:00.000000Z")
    );
    let audio_with_cover: Value = serde_json::from_str(
        r#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","width":600,"height":600,
             "disposition":{"attached_pic":1}}],"format":{"duration":"200.0"}}"#,
    )
    .unwrap();
    assert!(matches!(
        parse_probe(&audio_with_cover),
        Err(VideoError::NoVideoStream)
    ));
    // Older ffmpeg writes the rotation as a tag.
    let tagged: Value = serde_json::from_str(
        r#"{"streams":[{"codec_type":"video","width":640,"height":360,"tags":{"rotate":"90"}}],
            "format":{}}"#,
    )
    .unwrap();
    let info = parse_probe(&tagged).unwrap();
    assert_eq!((info.rotation, info.duration), (90, None));
}

#[test]
fn showinfo_lines_give_each_frame_time_once() {
    let log = "[Parsed_showinfo_2 @ 0x1] n:   0 pts:  76800 pts_time:5       pos: 1 fmt:rgb24\n\
               [Parsed_showinfo_2 @ 0x1] n:   0 pts:  76800 pts_time:5       pos: 1 config\n\
               [Parsed_showinfo_2 @ 0x1] n:   1 pts: 204800 pts_time:13.3333 pos: 2\n\
               [mov,mp4 @ 0x2] moov atom not found\n";
    let (tx, rx) = mpsc::channel();
    let last = read_log(log.as_bytes(), tx);
    assert_eq!(rx.iter().collect::<Vec<_>>(), vec![5.0, 13.3333]);
    assert_eq!(last, "[mov,mp4 @ 0x2] moov atom not found");
}

#[test]
fn a_missing_ffmpeg_names_the_fix() {
    let empty = tempfile::tempdir().unwrap();
    let path = std::env::join_paths([empty.path()]).unwrap();
    let err = Ffmpeg::locate(Some(&path), empty.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`ffmpeg` was not found"), "{msg}");
    assert!(msg.contains("apt-get install ffmpeg") && msg.contains("photo_organizer setup"));
}

#[test]
fn a_fetched_ffmpeg_in_the_cache_is_found_when_path_has_none() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache_ffmpeg_dir(cache.path());
    std::fs::create_dir_all(&dir).unwrap();
    for tool in ["ffmpeg", "ffprobe"] {
        std::fs::write(dir.join(tool), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join(tool), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
    }
    let found = Ffmpeg::locate(None, cache.path()).unwrap();
    assert_eq!(found.ffprobe, dir.join("ffprobe"));
}

#[test]
fn videos_are_told_by_extension_in_any_case() {
    for name in [
        "a.MP4", "b.mov", "c.M4V", "d.3gp", "e.mkv", "f.AVI", "g.webm",
    ] {
        assert!(is_video_path(Path::new(name)), "{name}");
    }
    assert!(!is_video_path(Path::new("a.jpg")));
    assert!(!is_video_path(Path::new("mp4")));
}
