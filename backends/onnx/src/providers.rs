//! Execution providers: which ones the loaded runtime offers, the order `--gpu` tries them in,
//! their options (CUDA, TensorRT) and registration, a failed registration explained, and the
//! default batch per provider.

use ort::ep;
use po_backend_api::{DeviceOptions, DeviceRequest, Provider};

/// Which providers the loaded runtime was built with (offered is not the same as usable: the
/// CUDA provider still needs the CUDA libraries when a session registers it).
pub fn offered_providers() -> Vec<(Provider, bool)> {
    use ep::ExecutionProvider;
    let offered = |r: ort::Result<bool>| r.unwrap_or(false);
    vec![
        (Provider::Cpu, offered(ep::CPU::is_available())),
        (Provider::Cuda, offered(ep::CUDA::is_available())),
        (Provider::TensorRt, offered(ep::TensorRT::is_available())),
        (Provider::Rocm, offered(ep::ROCm::is_available())),
        (Provider::OpenVino, offered(ep::OpenVINO::is_available())),
        (Provider::CoreMl, offered(ep::CoreML::is_available())),
        (Provider::DirectMl, offered(ep::DirectML::is_available())),
    ]
}

/// ONNX Runtime's own name of a provider.
pub fn runtime_name(p: Provider) -> &'static str {
    match p {
        Provider::Cpu => "CPUExecutionProvider",
        Provider::Cuda => "CUDAExecutionProvider",
        Provider::TensorRt => "TensorrtExecutionProvider",
        Provider::Rocm => "ROCMExecutionProvider",
        Provider::OpenVino => "OpenVINOExecutionProvider",
        Provider::CoreMl => "CoreMLExecutionProvider",
        Provider::DirectMl => "DmlExecutionProvider",
    }
}

/// The device label shown to users for a provider.
pub(crate) fn device_label(p: Provider, id: u32) -> String {
    match p {
        Provider::Cpu => "cpu".into(),
        Provider::Cuda | Provider::TensorRt => format!("cuda:{id}"),
        Provider::Rocm => format!("rocm:{id}"),
        Provider::OpenVino => "openvino".into(),
        Provider::CoreMl => "apple".into(),
        Provider::DirectMl => format!("directml:{id}"),
    }
}

/// The providers to try, in order, for a request.
pub fn provider_plan(request: DeviceRequest) -> Vec<Provider> {
    match request {
        DeviceRequest::Cpu => vec![Provider::Cpu],
        DeviceRequest::Exactly(p) => vec![p],
        DeviceRequest::Auto if cfg!(target_vendor = "apple") => {
            vec![Provider::CoreMl, Provider::Cpu]
        }
        DeviceRequest::Auto => vec![Provider::Cuda, Provider::Cpu],
    }
}

/// The cause and fix when the NVIDIA driver's library is what is missing: the only part of the
/// CUDA path `setup --gpu` cannot fetch.
pub const DRIVER_MISSING: &str = "libcuda.so.1 (the NVIDIA driver) is missing: it comes with your GPU's driver, not from PyPI (`photo_organizer setup --gpu` fetches the rest): install the NVIDIA driver for your GPU; `nvidia-smi` must then list the GPU";

/// Turns a runtime's refusal into the cause and the command that fixes it.
pub fn explain_provider_error(p: Provider, error: &str) -> String {
    let missing_lib = error
        .split(|c: char| c.is_whitespace() || c == ':' || c == '\'' || c == '"')
        // "Failed to load library libonnxruntime_providers_cuda.so with error: libcuda.so.1:
        // cannot open ...": the provider's own library is not what is missing.
        .find(|w| w.starts_with("lib") && w.contains(".so") && !w.starts_with("libonnxruntime"));
    let fix = if error.contains("not enabled in this build") || error.contains("not available") {
        match p {
            Provider::Cuda | Provider::TensorRt => "this libonnxruntime was built without it: `photo_organizer setup --gpu` fetches onnxruntime-gpu 1.31.1 and its CUDA libraries, and `--gpu` then loads that build (unless ORT_DYLIB_PATH names another)".to_string(),
            Provider::CoreMl => "CoreML exists only on macOS builds of ONNX Runtime".to_string(),
            Provider::DirectMl => "DirectML exists only on Windows builds of ONNX Runtime".to_string(),
            _ => format!("use a libonnxruntime built with the {} provider (ORT_DYLIB_PATH)", p.name()),
        }
    } else if missing_lib == Some("libcuda.so.1") {
        DRIVER_MISSING.to_string()
    } else if let Some(lib) =
        missing_lib.filter(|l| l.starts_with("libnvinfer") || l.starts_with("libnvonnxparser"))
    {
        format!("{lib} is TensorRT 10, which `setup --gpu` does not fetch (over 1 GB): `pip install tensorrt-cu13` and put its lib directory on LD_LIBRARY_PATH, or use `--execution-provider cuda`")
    } else if let Some(lib) = missing_lib {
        format!("{lib} is missing: `photo_organizer setup --gpu` fetches the CUDA 13 and cuDNN 9 libraries and loads them by itself (`photo_organizer doctor` lists which copy of each is found)")
    } else {
        "`photo_organizer doctor` checks the runtime, the GPU and its libraries".to_string()
    };
    format!("{error}; {fix}")
}

/// ONNX Runtime's options for provider `p`, under its own key names: a pure function, so what
/// the GPU paths ask for is tested without a GPU. CUDA: device, memory limit, arena strategy,
/// `cudnn_conv_algo_search`; TensorRT: device, fp16, and its engine and timing caches in
/// `engine_cache_dir` (`<cache>/trt/`), so an engine is built once, not on every run.
pub fn provider_options(p: Provider, o: &DeviceOptions) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let flag = |on: bool| if on { "1" } else { "0" }.to_string();
    match p {
        Provider::Cuda => {
            out.push(("device_id", o.device_id.to_string()));
            if let Some(limit) = o.gpu_mem_limit {
                out.push(("gpu_mem_limit", limit.to_string()));
            }
            if let Some(s) = &o.arena_extend_strategy {
                let s = if s == "same_as_requested" {
                    "kSameAsRequested"
                } else {
                    "kNextPowerOfTwo"
                };
                out.push(("arena_extend_strategy", s.into()));
            }
            if let Some(s) = &o.cudnn_conv_algo_search {
                let s = match s.as_str() {
                    "exhaustive" => "EXHAUSTIVE",
                    "heuristic" => "HEURISTIC",
                    _ => "DEFAULT",
                };
                out.push(("cudnn_conv_algo_search", s.into()));
            }
        }
        Provider::TensorRt => {
            out.push(("device_id", o.device_id.to_string()));
            out.push(("trt_fp16_enable", flag(o.fp16)));
            if let Some(dir) = &o.engine_cache_dir {
                let dir = dir.display().to_string();
                out.push(("trt_engine_cache_enable", flag(true)));
                out.push(("trt_engine_cache_path", dir.clone()));
                out.push(("trt_timing_cache_enable", flag(true)));
                out.push(("trt_timing_cache_path", dir));
            }
        }
        _ => {}
    }
    out
}

pub(crate) fn dispatch(p: Provider, o: &DeviceOptions) -> ep::ExecutionProviderDispatch {
    use ep::ArbitrarilyConfigurableExecutionProvider;
    let id = o.device_id as i32;
    let options = provider_options(p, o);
    match p {
        // The `ort` crate's default disables ONNX Runtime's CPU arena: every tensor was then
        // malloc'd and page-faulted on each run (a third of the second pass's time at
        // 1920x784; no change measured at 640x480).
        Provider::Cpu => ep::CPU::default().with_arena_allocator(true).build(),
        Provider::Cuda => options
            .into_iter()
            .fold(ep::CUDA::default(), |ep, (k, v)| {
                ep.with_arbitrary_config(k, v)
            })
            .build(),
        Provider::TensorRt => options
            .into_iter()
            .fold(ep::TensorRT::default(), |ep, (k, v)| {
                ep.with_arbitrary_config(k, v)
            })
            .build(),
        Provider::Rocm => ep::ROCm::default().with_device_id(id).build(),
        Provider::OpenVino => ep::OpenVINO::default().build(),
        Provider::CoreMl => ep::CoreML::default().build(),
        Provider::DirectMl => ep::DirectML::default().with_device_id(id).build(),
    }
    .error_on_failure()
}

/// Photos a batch when `--batch-size` is not given: on the CPU one, as batches measured no
/// faster there (docs/PERFORMANCE.md); on an accelerator [`po_backend_api::ACCELERATOR_BATCH`], where launch and
/// copy costs per call dominate. TensorRT keeps one: its engines are built for the declared
/// fixed shapes.
pub fn batch_size_for(requested: Option<usize>, p: Provider) -> usize {
    match p {
        Provider::TensorRt => 1,
        Provider::Cpu => requested.unwrap_or(1),
        _ => requested.unwrap_or(po_backend_api::ACCELERATOR_BATCH),
    }
    .max(1)
}
