//! YuNet 2023mar (opencv_zoo) face detector: letterboxes the image into its 640x640 BGR input
//! (or, on the CPU, a canvas just large enough: see [`Canvas`]) and decodes its anchor-free
//! outputs (one anchor per cell at strides 8, 16, 32) into [`FaceBox`]es with five landmarks,
//! then applies NMS.

use image::{imageops, ImageBuffer, Rgb};
use ndarray::Array4;
use ort::{session::Session, value::TensorRef};
use po_backend_api::{nms::nms, BackendError, DetectOptions, FaceBox, RgbView};

pub const INPUT_SIZE: u32 = 640;
pub const STRIDES: [u32; 3] = [8, 16, 32];
pub const MODEL_ID: &str = "yunet-2023mar";

pub struct YuNet {
    session: Session,
    options: DetectOptions,
    canvas: Canvas,
    /// Most images in one run: 1 unless the session's batch dim was freed.
    max_batch: usize,
}

/// The detector input a photo is letterboxed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canvas {
    /// 640x640, as the model file declares.
    Square,
    /// The shrunk photo's size rounded up to a multiple of 32 (the largest stride), at most
    /// 640 a side: 640x448 for a 3:2 landscape photo, 30% less work than the square. Only for
    /// sessions of a model whose declared shapes were freed (`onnx_edit::free_shapes`); YuNet's
    /// graph itself is size-agnostic (Resize by scales, Reshape to `[1, -1, n]`).
    Tight,
}

/// The raw output rows of one stride, as the model lays them out.
pub struct StrideOutputs<'a> {
    pub stride: u32,
    pub cls: &'a [f32],
    pub obj: &'a [f32],
    pub bbox: &'a [f32],
    pub kps: &'a [f32],
}

fn inference_error(e: impl std::fmt::Display) -> BackendError {
    crate::inference_error(MODEL_ID, e)
}

impl YuNet {
    pub fn new(
        session: Session,
        options: DetectOptions,
        canvas: Canvas,
    ) -> Result<Self, BackendError> {
        crate::require_outputs(&session, MODEL_ID, &["cls", "obj", "bbox", "kps"], &STRIDES)?;
        Ok(Self {
            session,
            options,
            canvas,
            max_batch: 1,
        })
    }

    /// Lets one run take up to `max` images: only for a session whose batch dim was freed.
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = max.max(1);
        self
    }

    pub fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<FaceBox>, BackendError> {
        Ok(self.detect_batch(&[image])?.pop().unwrap_or_default())
    }

    /// Faces in `image` (at most `max_side` a side) from runs on full-width bands of it at its
    /// own size, or `None` when this session takes only the declared 640x640 (a GPU's fixed
    /// square). The graph is fully convolutional, so the bands find what 640 px tiles would,
    /// with less overlap: a 1920x1440 image is two 1920x800 runs (3.1 Mpx) instead of twelve
    /// 640x640 tiles (4.9 Mpx), and no run holds the whole image's activations.
    pub fn detect_whole(
        &mut self,
        image: RgbView<'_>,
        max_side: u32,
    ) -> Result<Option<Vec<FaceBox>>, BackendError> {
        if self.canvas != Canvas::Tight {
            return Ok(None);
        }
        let row = image.width as usize * 3;
        let mut found = Vec::new();
        for (top, height) in bands(image.height) {
            let start = top as usize * row;
            let rows = &image.data[start..start + height as usize * row];
            let band =
                RgbView::new(image.width, height, rows).expect("whole rows of a checked view");
            let (input, scale) =
                letterbox_within(band, Channels::Bgr, 0.0, 1.0, Canvas::Tight, max_side);
            for mut f in self.run(&input)?.pop().unwrap_or_default() {
                unscale(&mut f, scale, image.width as f32, height as f32);
                let shift = |[x, y]: [f32; 2]| [x, y + top as f32];
                let [l, t] = shift([f.bbox[0], f.bbox[1]]);
                let [r, b] = shift([f.bbox[2], f.bbox[3]]);
                f.bbox = [l, t, r, b];
                f.landmarks = f.landmarks.map(shift);
                found.push(f);
            }
        }
        Ok(Some(nms(found, self.options.nms_iou)))
    }

    /// Faces in each image, in order. With `batched` (a session whose batch dim was freed,
    /// `onnx_edit::Dims::Batch`), images on the same canvas run together, up to `max_batch` a
    /// run; the outputs are the same as one run per image (tested), since the heads reshape to
    /// `[1, -1, n]`, which lays the batch out image after image.
    pub fn detect_batch(
        &mut self,
        images: &[RgbView<'_>],
    ) -> Result<Vec<Vec<FaceBox>>, BackendError> {
        let mut out: Vec<Vec<FaceBox>> = vec![Vec::new(); images.len()];
        let mut inputs = Vec::with_capacity(images.len());
        for (i, image) in images.iter().enumerate() {
            if image.width > 0 && image.height > 0 {
                let (input, scale) = letterbox(*image, Channels::Bgr, 0.0, 1.0, self.canvas);
                inputs.push((i, input, scale));
            }
        }
        for group in same_canvas_groups(&inputs, self.max_batch) {
            let found = if let [k] = group[..] {
                // One image: no copy into a batch.
                self.run(&inputs[k].1)?
            } else {
                let views: Vec<_> = group.iter().map(|&k| inputs[k].1.view()).collect();
                let input =
                    ndarray::concatenate(ndarray::Axis(0), &views).map_err(inference_error)?;
                self.run(&input)?
            };
            for (&k, candidates) in group.iter().zip(found) {
                let (i, _, scale) = &inputs[k];
                let mut faces = nms(candidates, self.options.nms_iou);
                let image = &images[*i];
                for f in &mut faces {
                    unscale(f, *scale, image.width as f32, image.height as f32);
                }
                out[*i] = faces;
            }
        }
        Ok(out)
    }

    /// Candidates of each image of an `[n, 3, h, w]` input, in input pixels, before NMS.
    fn run(&mut self, input: &Array4<f32>) -> Result<Vec<Vec<FaceBox>>, BackendError> {
        let n = input.dim().0;
        let canvas = input_size(input);
        let tensor = TensorRef::from_array_view(input).map_err(inference_error)?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => tensor])
            .map_err(inference_error)?;
        let mut candidates = vec![Vec::new(); n];
        for stride in STRIDES {
            let get = |head: &str| {
                outputs[format!("{head}_{stride}").as_str()]
                    .try_extract_tensor::<f32>()
                    .map(|(_, data)| data)
                    .map_err(inference_error)
            };
            let (cls, obj, bbox, kps) = (get("cls")?, get("obj")?, get("bbox")?, get("kps")?);
            for (k, found) in candidates.iter_mut().enumerate() {
                let rows = StrideOutputs {
                    stride,
                    cls: share(cls, n, k),
                    obj: share(obj, n, k),
                    bbox: share(bbox, n, k),
                    kps: share(kps, n, k),
                };
                decode_stride(&rows, canvas, self.options.score_threshold, found)?;
            }
        }
        Ok(candidates)
    }
}

/// Tallest band [`YuNet::detect_whole`] runs on, and how much neighbouring bands overlap (more
/// than the faces the second pass looks for: 30-100 px).
const BAND_MAX: u32 = 800;
const BAND_OVERLAP: u32 = 128;

/// `(top, height)` of the fewest bands of at most [`BAND_MAX`] rows (a multiple of 32, but for
/// an image shorter than that) covering `height` rows, overlapping by at least
/// [`BAND_OVERLAP`], the last flush with the bottom.
fn bands(height: u32) -> Vec<(u32, u32)> {
    if height <= BAND_MAX {
        return vec![(0, height)];
    }
    let n = (height - BAND_OVERLAP).div_ceil(BAND_MAX - BAND_OVERLAP);
    let band = ((height + (n - 1) * BAND_OVERLAP).div_ceil(n)).div_ceil(32) * 32;
    let band = band.min(height);
    let step = (height - band) / (n - 1);
    (0..n)
        .map(|k| (if k + 1 == n { height - band } else { k * step }, band))
        .collect()
}

/// Image `k`'s rows of a head's output for `n` images: they come image after image.
fn share(data: &[f32], n: usize, k: usize) -> &[f32] {
    let each = data.len() / n;
    &data[k * each..(k + 1) * each]
}

/// The inputs' indices grouped by canvas size (width, height), in order, at most `max` a group.
fn same_canvas_groups(inputs: &[(usize, Array4<f32>, f32)], max: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
    let mut full = Vec::new();
    for (k, (_, input, _)) in inputs.iter().enumerate() {
        let (_, _, h, w) = input.dim();
        match groups.iter_mut().find(|(size, _)| *size == (w, h)) {
            Some((_, g)) => g.push(k),
            None => groups.push(((w, h), vec![k])),
        }
        if let Some(pos) = groups.iter().position(|(_, g)| g.len() >= max.max(1)) {
            full.push(groups.remove(pos).1);
        }
    }
    full.extend(groups.into_iter().map(|(_, g)| g));
    full
}

/// Channel order a detector expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    Rgb,
    Bgr,
}

/// Width and height of a letterboxed NCHW input.
pub fn input_size(input: &Array4<f32>) -> (u32, u32) {
    let (_, _, h, w) = input.dim();
    (w as u32, h as u32)
}

/// Fits the image into 640x640 (shrinking, never enlarging) on the `canvas`, padded right and
/// bottom with zeros, and returns the NCHW tensor of `(value - mean) / std` in `channels` order
/// with the factor from image to input pixels.
pub fn letterbox(
    image: RgbView<'_>,
    channels: Channels,
    mean: f32,
    std: f32,
    canvas: Canvas,
) -> (Array4<f32>, f32) {
    letterbox_within(image, channels, mean, std, canvas, INPUT_SIZE)
}

/// [`letterbox`] into `max_side` x `max_side` instead of 640x640.
fn letterbox_within(
    image: RgbView<'_>,
    channels: Channels,
    mean: f32,
    std: f32,
    canvas: Canvas,
    max_side: u32,
) -> (Array4<f32>, f32) {
    let scale = (max_side as f32 / image.width as f32)
        .min(max_side as f32 / image.height as f32)
        .min(1.0);
    let resized;
    let (w, h, data): (u32, u32, &[u8]) = if scale < 1.0 {
        let w = ((image.width as f32 * scale).round() as u32).clamp(1, max_side);
        let h = ((image.height as f32 * scale).round() as u32).clamp(1, max_side);
        let src = ImageBuffer::<Rgb<u8>, &[u8]>::from_raw(image.width, image.height, image.data)
            .expect("RgbView length is checked at construction");
        resized = imageops::resize(&src, w, h, imageops::FilterType::Triangle);
        (w, h, resized.as_raw().as_slice())
    } else {
        (image.width, image.height, image.data)
    };
    let (cw, ch) = match canvas {
        Canvas::Square => (max_side, max_side),
        Canvas::Tight => {
            let up = |v: u32| v.div_ceil(32) * 32;
            (up(w).min(up(max_side)), up(h).min(up(max_side)))
        }
    };
    let (cw, ch) = (cw as usize, ch as usize);
    let mut input = Array4::<f32>::zeros((1, 3, ch, cw));
    let plane = cw * ch;
    let flat = input
        .as_slice_mut()
        .expect("a freshly allocated array is contiguous");
    let (first, rest) = flat.split_at_mut(plane);
    let (second, third) = rest.split_at_mut(plane);
    let norm = |v: u8| (f32::from(v) - mean) / std;
    let (a, c) = match channels {
        Channels::Bgr => (2, 0),
        Channels::Rgb => (0, 2),
    };
    for (y, row) in data.chunks_exact(w as usize * 3).enumerate() {
        let span = y * cw..y * cw + w as usize;
        let planes = first[span.clone()]
            .iter_mut()
            .zip(&mut second[span.clone()])
            .zip(&mut third[span]);
        for (((p0, p1), p2), px) in planes.zip(row.chunks_exact(3)) {
            *p0 = norm(px[a]);
            *p1 = norm(px[1]);
            *p2 = norm(px[c]);
        }
    }
    let effective = if scale < 1.0 {
        w as f32 / image.width as f32
    } else {
        1.0
    };
    (input, effective)
}

/// Decodes one stride's rows of a `width x height` input into candidates above `threshold`, in
/// input-pixel coordinates.
pub fn decode_stride(
    rows: &StrideOutputs<'_>,
    (width, height): (u32, u32),
    threshold: f32,
    out: &mut Vec<FaceBox>,
) -> Result<(), BackendError> {
    let cols = width / rows.stride;
    let n = (cols * (height / rows.stride)) as usize;
    if rows.cls.len() != n
        || rows.obj.len() != n
        || rows.bbox.len() != n * 4
        || rows.kps.len() != n * 10
    {
        return Err(BackendError::Model {
            model: MODEL_ID.into(),
            reason: format!("stride {} outputs have unexpected sizes", rows.stride),
        });
    }
    let s = rows.stride as f32;
    for i in 0..n {
        let score = (rows.cls[i].clamp(0.0, 1.0) * rows.obj[i].clamp(0.0, 1.0)).sqrt();
        if score < threshold {
            continue;
        }
        let col = (i as u32 % cols) as f32;
        let row = (i as u32 / cols) as f32;
        let b = &rows.bbox[i * 4..i * 4 + 4];
        let cx = (col + b[0]) * s;
        let cy = (row + b[1]) * s;
        let w = b[2].exp() * s;
        let h = b[3].exp() * s;
        let k = &rows.kps[i * 10..i * 10 + 10];
        let mut landmarks = [[0.0; 2]; 5];
        for (j, lm) in landmarks.iter_mut().enumerate() {
            *lm = [(k[2 * j] + col) * s, (k[2 * j + 1] + row) * s];
        }
        out.push(FaceBox {
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
            score,
            landmarks,
        });
    }
    Ok(())
}

/// Maps a face from input pixels back to image pixels, clipping the box to the image.
pub fn unscale(face: &mut FaceBox, scale: f32, width: f32, height: f32) {
    let [l, t, r, b] = face.bbox.map(|v| v / scale);
    face.bbox = [l.max(0.0), t.max(0.0), r.min(width), b.min(height)];
    for lm in &mut face.landmarks {
        *lm = [lm[0] / scale, lm[1] / scale];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_places_box_and_landmarks_on_the_grid() {
        // A 640x448 canvas: 20 columns, 14 rows of cells at stride 32.
        let stride = 32;
        let n = 20 * 14;
        let mut cls = vec![0.0; n];
        let mut obj = vec![0.0; n];
        let mut bbox = vec![0.0; n * 4];
        let mut kps = vec![0.0; n * 10];
        // Cell at row 2, col 3: centre offset (0.5, 0.5) cells, size exp(0) = 1 stride.
        let i = 2 * 20 + 3;
        cls[i] = 0.81;
        obj[i] = 1.0;
        bbox[i * 4..i * 4 + 4].copy_from_slice(&[0.5, 0.5, 0.0, 0.0]);
        kps[i * 10] = 0.25;
        kps[i * 10 + 1] = 0.75;
        let rows = StrideOutputs {
            stride,
            cls: &cls,
            obj: &obj,
            bbox: &bbox,
            kps: &kps,
        };
        let mut out = Vec::new();
        decode_stride(&rows, (640, 448), 0.5, &mut out).unwrap();
        // Read as a square canvas, the rows do not fit.
        assert!(decode_stride(&rows, (640, 640), 0.5, &mut Vec::new()).is_err());
        assert_eq!(out.len(), 1);
        let f = out[0];
        assert!((f.score - 0.9).abs() < 1e-6);
        assert_eq!(f.bbox, [96.0, 64.0, 128.0, 96.0]);
        assert_eq!(f.landmarks[0], [3.25 * 32.0, 2.75 * 32.0]);

        let mut none = Vec::new();
        decode_stride(&rows, (640, 448), 0.95, &mut none).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn decode_rejects_wrong_sizes() {
        let rows = StrideOutputs {
            stride: 32,
            cls: &[0.0; 3],
            obj: &[0.0; 3],
            bbox: &[0.0; 12],
            kps: &[0.0; 30],
        };
        assert!(decode_stride(&rows, (640, 640), 0.5, &mut Vec::new()).is_err());
    }

    /// A `w x h` image of one value, letterboxed without normalisation.
    fn letterbox_plain(w: u32, h: u32, value: u8, canvas: Canvas) -> (Array4<f32>, f32) {
        let data = vec![value; (w * h * 3) as usize];
        let image = RgbView::new(w, h, &data).unwrap();
        letterbox(image, Channels::Bgr, 0.0, 1.0, canvas)
    }

    #[test]
    fn letterbox_shrinks_large_images_and_pads() {
        let (t, scale) = letterbox_plain(1280, 640, 10, Canvas::Square);
        assert_eq!(scale, 0.5);
        assert_eq!(t[[0, 0, 319, 639]], 10.0);
        assert_eq!(t[[0, 0, 320, 0]], 0.0);

        let (t, scale) = letterbox_plain(100, 50, 7, Canvas::Square);
        assert_eq!(scale, 1.0);
        assert_eq!(t[[0, 2, 49, 99]], 7.0);
        assert_eq!(t[[0, 2, 50, 99]], 0.0);

        let mut rgb = vec![0u8; 2 * 2 * 3];
        rgb[..3].copy_from_slice(&[255, 0, 127]);
        let (t, _) = letterbox(
            RgbView::new(2, 2, &rgb).unwrap(),
            Channels::Rgb,
            127.5,
            128.0,
            Canvas::Square,
        );
        assert_eq!(
            [t[[0, 0, 0, 0]], t[[0, 2, 0, 0]]],
            [127.5 / 128.0, -0.5 / 128.0]
        );
    }

    #[test]
    fn a_tight_canvas_rounds_each_side_up_to_32() {
        let (t, scale) = letterbox_plain(1280, 854, 9, Canvas::Tight);
        // 1280x854 -> 640x427 on a 640x448 canvas, padded below.
        assert_eq!((t.dim(), scale), ((1, 3, 448, 640), 0.5));
        assert_eq!(input_size(&t), (640, 448));
        assert_eq!([t[[0, 1, 426, 639]], t[[0, 1, 427, 0]]], [9.0, 0.0]);

        let (t, _) = letterbox_plain(100, 50, 7, Canvas::Tight);
        assert_eq!(t.dim(), (1, 3, 64, 128));
        assert_eq!([t[[0, 0, 49, 99]], t[[0, 0, 49, 100]]], [7.0, 0.0]);
    }

    #[test]
    fn batches_group_images_of_one_canvas_in_order_up_to_the_limit() {
        let input = |w, h| (0, Array4::<f32>::zeros((1, 3, h, w)), 1.0);
        let inputs = [
            input(640, 448),
            input(448, 640),
            input(640, 448),
            input(640, 448),
            input(448, 640),
        ];
        assert_eq!(
            same_canvas_groups(&inputs, 2),
            vec![vec![0, 2], vec![1, 4], vec![3]]
        );
        assert_eq!(
            same_canvas_groups(&inputs, 8),
            vec![vec![0, 2, 3], vec![1, 4]]
        );
        assert_eq!(same_canvas_groups(&inputs, 1).len(), 5);
        assert_eq!(share(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 1), &[3.0, 4.0]);
    }

    #[test]
    fn bands_cover_the_image_with_overlap_and_stay_small() {
        assert_eq!(bands(600), vec![(0, 600)]);
        assert_eq!(bands(800), vec![(0, 800)]);
        for h in [801, 1080, 1440, 1920, 2000] {
            let b = bands(h);
            assert!(b.len() >= 2, "{h}: {b:?}");
            assert_eq!(b[0].0, 0);
            let (last_top, last_h) = *b.last().unwrap();
            assert_eq!(last_top + last_h, h, "{h}: flush with the bottom");
            for w in b.windows(2) {
                let ((t0, h0), (t1, _)) = (w[0], w[1]);
                assert!(t0 + h0 >= t1 + BAND_OVERLAP, "{h}: overlap {b:?}");
            }
            assert!(
                b.iter().all(|&(_, bh)| bh <= BAND_MAX && bh % 32 == 0),
                "{h}: {b:?}"
            );
        }
        assert_eq!(bands(1440), vec![(0, 800), (640, 800)]);
    }

    #[test]
    fn unscale_maps_back_and_clips() {
        let mut f = FaceBox {
            bbox: [-5.0, 10.0, 50.0, 400.0],
            score: 1.0,
            landmarks: [[10.0, 20.0]; 5],
        };
        unscale(&mut f, 0.5, 90.0, 700.0);
        assert_eq!(f.bbox, [0.0, 20.0, 90.0, 700.0]);
        assert_eq!(f.landmarks[0], [20.0, 40.0]);
    }
}
