//! Batches on ONNX Runtime: freed batch dims give each image its single-run outputs; the GPU
//! providers' options and the batch-size defaults.

use super::*;
use ndarray::{concatenate, Array4, Axis};

fn noise(shape: (usize, usize, usize, usize), seed: u32, scale: f32) -> Array4<f32> {
    let mut state = seed;
    Array4::from_shape_simple_fn(shape, || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as f32 * scale
    })
}

/// Every output of `bytes` run on `input`, flattened, in output order.
fn outputs(bytes: &[u8], input: &Array4<f32>) -> Vec<(Vec<i64>, Vec<f32>)> {
    let o = DeviceOptions::default();
    let mut s = session(bytes, 1, true, Provider::Cpu, &o).unwrap();
    let input_name = s.inputs()[0].name().to_string();
    let input_name = input_name.as_str();
    let t = ort::value::TensorRef::from_array_view(input).unwrap();
    let out = s.run(ort::inputs![input_name => t]).unwrap();
    out.iter()
        .map(|(_, v)| {
            let (shape, data) = v.try_extract_tensor::<f32>().unwrap();
            (shape.to_vec(), data.to_vec())
        })
        .collect()
}

/// The largest difference between each single run's outputs, joined image after image, and
/// the batched run's.
fn batched_vs_single(single: &[u8], batched: &[u8], images: &[Array4<f32>]) -> f32 {
    let views: Vec<_> = images.iter().map(|a| a.view()).collect();
    let all = outputs(batched, &concatenate(Axis(0), &views).unwrap());
    let each: Vec<_> = images.iter().map(|a| outputs(single, a)).collect();
    let mut worst = 0.0f32;
    for (o, (shape, data)) in all.iter().enumerate() {
        let joined: Vec<f32> = each.iter().flat_map(|e| e[o].1.clone()).collect();
        assert_eq!(joined.len(), data.len(), "output {o} of shape {shape:?}");
        let d = joined.iter().zip(data).map(|(p, q)| (p - q).abs());
        worst = d.fold(worst, f32::max);
    }
    worst
}

#[test]
fn yunet_with_a_free_batch_gives_each_image_its_single_outputs() {
    super::tests::load_setup_runtime();
    let yunet = super::tests::setup_model("face_detection_yunet_2023mar.onnx");
    let (single, _) = onnx_edit::free_shapes(&yunet, onnx_edit::Dims::Spatial).unwrap();
    let (batched, _) = onnx_edit::free_shapes(&yunet, onnx_edit::Dims::BatchAndSpatial).unwrap();
    let images: Vec<_> = (1..=3).map(|k| noise((1, 3, 448, 640), k, 1.0)).collect();
    assert!(batched_vs_single(&single, &batched, &images) <= 1e-6);
    // As shipped, the batch of one is fixed; freed, the square takes three.
    let three = noise((3, 3, 640, 640), 9, 1.0);
    let o = DeviceOptions::default();
    let (square, _) = onnx_edit::free_shapes(&yunet, onnx_edit::Dims::Batch).unwrap();
    for (bytes, ok) in [(&yunet, false), (&square, true)] {
        let mut s = session(bytes, 1, false, Provider::Cpu, &o).unwrap();
        let t = ort::value::TensorRef::from_array_view(&three).unwrap();
        assert_eq!(s.run(ort::inputs!["input" => t]).is_ok(), ok);
    }
}

#[test]
fn sface_with_a_free_batch_gives_each_face_its_single_embedding() {
    super::tests::load_setup_runtime();
    let sface = super::tests::setup_model("face_recognition_sface_2021dec_int8bq.onnx");
    let (plain, _) = onnx_edit::strip_weight_inputs(&sface).unwrap();
    for model in [plain.clone(), onnx_edit::expand_prelu(&plain).unwrap().0] {
        let (batched, _) = onnx_edit::free_shapes(&model, onnx_edit::Dims::Batch).unwrap();
        let faces: Vec<_> = (1..=5).map(|k| noise((1, 3, 112, 112), k, 1.0)).collect();
        assert!(batched_vs_single(&model, &batched, &faces) <= 1e-6);
        // And through the embedder, in chunks of two.
        let o = DeviceOptions::default();
        let s = session(&batched, 1, true, Provider::Cpu, &o).unwrap();
        let mut e = sface::Embedder::new(s, sface::EmbedderKind::SFace, sface::MODEL_ID)
            .unwrap()
            .with_max_batch(2);
        let s = session(&model, 1, true, Provider::Cpu, &o).unwrap();
        let mut one = sface::Embedder::new(s, sface::EmbedderKind::SFace, sface::MODEL_ID).unwrap();
        let crops: Vec<AlignedFace> = (0..5u8)
            .map(|k| AlignedFace {
                size: po_backend_api::ALIGNED_SIZE,
                rgb: (0..po_backend_api::ALIGNED_SIZE.pow(2) * 3)
                    .map(|i| (i as u8).wrapping_mul(k + 3))
                    .collect(),
            })
            .collect();
        let (a, b) = (e.embed(&crops).unwrap(), one.embed(&crops).unwrap());
        assert_eq!(a.len(), 5);
        for (x, y) in a.iter().zip(&b) {
            let d = x
                .iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(d <= 1e-6, "{d}");
        }
    }
}

#[test]
fn gpu_provider_options_carry_the_settings() {
    let mut o = DeviceOptions {
        device_id: 1,
        cudnn_conv_algo_search: Some("heuristic".into()),
        arena_extend_strategy: Some("same_as_requested".into()),
        gpu_mem_limit: Some(1 << 30),
        ..DeviceOptions::default()
    };
    let get = |opts: &[(&str, String)], key: &str| {
        opts.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    };
    let cuda = provider_options(Provider::Cuda, &o);
    assert_eq!(get(&cuda, "device_id").as_deref(), Some("1"));
    assert_eq!(
        get(&cuda, "cudnn_conv_algo_search").as_deref(),
        Some("HEURISTIC")
    );
    assert_eq!(
        get(&cuda, "arena_extend_strategy").as_deref(),
        Some("kSameAsRequested")
    );
    assert_eq!(get(&cuda, "gpu_mem_limit").as_deref(), Some("1073741824"));
    o.cudnn_conv_algo_search = Some("exhaustive".into());
    let cuda = provider_options(Provider::Cuda, &o);
    assert_eq!(
        get(&cuda, "cudnn_conv_algo_search").as_deref(),
        Some("EXHAUSTIVE")
    );
    assert!(get(&cuda, "trt_fp16_enable").is_none());

    let trt = provider_options(Provider::TensorRt, &o);
    assert_eq!(get(&trt, "trt_fp16_enable").as_deref(), Some("0"));
    assert!(
        get(&trt, "trt_engine_cache_enable").is_none(),
        "no cache dir, no cache"
    );
    o.fp16 = true;
    o.engine_cache_dir = Some(PathBuf::from("/c/trt"));
    let trt = provider_options(Provider::TensorRt, &o);
    assert_eq!(get(&trt, "trt_fp16_enable").as_deref(), Some("1"));
    assert_eq!(get(&trt, "trt_engine_cache_enable").as_deref(), Some("1"));
    assert_eq!(
        get(&trt, "trt_engine_cache_path").as_deref(),
        Some("/c/trt")
    );
    assert_eq!(
        get(&trt, "trt_timing_cache_path").as_deref(),
        Some("/c/trt")
    );
    assert!(provider_options(Provider::Cpu, &o).is_empty());
}

#[test]
fn batch_sizes_default_per_provider() {
    assert_eq!(batch_size_for(None, Provider::Cpu), 1);
    assert_eq!(batch_size_for(None, Provider::Cuda), 16);
    assert_eq!(batch_size_for(Some(8), Provider::Cpu), 8);
    assert_eq!(batch_size_for(Some(4), Provider::Cuda), 4);
    assert_eq!(batch_size_for(Some(8), Provider::TensorRt), 1);
    assert_eq!(batch_size_for(Some(0), Provider::Cpu), 1);
}
