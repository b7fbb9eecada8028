"""A straightforward Python pipeline doing the same job as photo_organizer with the same models
and preprocessing: PIL decode (EXIF orientation applied), YuNet on a 640x640 letterbox, 5-point
similarity alignment to the ArcFace template, SFace embedding, scikit-learn HDBSCAN, copy into
folders. The reference for the speed comparison. Usage: python_pipeline.py MODELS SRC OUT"""
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps
from sklearn.cluster import HDBSCAN

models, src, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
opts = ort.SessionOptions()
opts.log_severity_level = 3
det = ort.InferenceSession(str(models / "face_detection_yunet_2023mar.onnx"), opts)
emb = ort.InferenceSession(str(models / "face_recognition_sface_2021dec_int8bq.onnx"), opts)
emb_feed_extra = {i.name: None for i in emb.get_inputs()[1:]}  # stale inputs cannot be fed
if emb_feed_extra:
    import onnx  # strip stale graph inputs as photo_organizer does in memory
    m = onnx.load(str(models / "face_recognition_sface_2021dec_int8bq.onnx"))
    keep = [i for i in m.graph.input if i.name == "data"]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    emb = ort.InferenceSession(m.SerializeToString(), opts)


def detect(img):
    scale = min(640 / img.width, 640 / img.height, 1.0)
    small = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR) if scale < 1 else img
    canvas = np.zeros((640, 640, 3), np.float32)
    a = np.asarray(small, np.float32)
    canvas[: a.shape[0], : a.shape[1]] = a[:, :, ::-1]
    outs = dict(zip([o.name for o in det.get_outputs()], det.run(None, {"input": canvas.transpose(2, 0, 1)[None]})))
    faces = []
    for s in (8, 16, 32):
        cols = 640 // s
        score = np.sqrt(np.clip(outs[f"cls_{s}"][0, :, 0], 0, 1) * np.clip(outs[f"obj_{s}"][0, :, 0], 0, 1))
        for i in np.nonzero(score >= 0.7)[0]:
            r, c = divmod(i, cols)
            b, k = outs[f"bbox_{s}"][0, i], outs[f"kps_{s}"][0, i]
            cx, cy, w, h = (c + b[0]) * s, (r + b[1]) * s, np.exp(b[2]) * s, np.exp(b[3]) * s
            lm = np.array([[(k[2 * j] + c) * s, (k[2 * j + 1] + r) * s] for j in range(5)])
            faces.append((score[i], np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]), lm))
    faces.sort(key=lambda f: -f[0])
    kept = []
    for f in faces:
        if all(iou(f[1], k[1]) <= 0.3 for k in kept):
            kept.append(f)
    return [(sc, b / scale, lm / scale) for sc, b, lm in kept]


def iou(a, b):
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0


def align(img, lm):
    src_mean, dst_mean = lm.mean(0), TEMPLATE.mean(0)
    s, d = lm - src_mean, TEMPLATE - dst_mean
    var = (s ** 2).sum()
    a = (s * d).sum() / var
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / var
    # inverse map for PIL: output (x, y) -> input
    det_ = a * a + b * b
    ia, ib = a / det_, -b / det_
    tx = dst_mean[0] - (a * src_mean[0] - b * src_mean[1])
    ty = dst_mean[1] - (b * src_mean[0] + a * src_mean[1])
    coeffs = (ia, -ib, -(ia * tx - ib * ty), ib, ia, -(ib * tx + ia * ty))
    return img.transform((112, 112), Image.AFFINE, coeffs, Image.BILINEAR)


t0 = time.time()
photos = sorted(p for p in src.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
vectors, owners, per_photo = [], [], {}
for p in photos:
    img = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
    faces = detect(img)
    per_photo[p] = len(faces)
    for _, _, lm in faces:
        crop = np.asarray(align(img, lm), np.float32).transpose(2, 0, 1)[None]
        v = emb.run(None, {"data": crop})[0][0]
        vectors.append(v / np.linalg.norm(v))
        owners.append(p)
def hdbscan(x):
    try:
        return HDBSCAN(min_cluster_size=2, min_samples=1, cluster_selection_epsilon=0.95).fit_predict(x)
    except TypeError:  # scikit-learn's epsilon search fails on some inputs; time matters here
        return HDBSCAN(min_cluster_size=2, min_samples=1).fit_predict(x)


labels = hdbscan(np.array(vectors)) if len(vectors) > 1 else []
dest = {}
for p, l in zip(owners, labels):
    dest.setdefault(p, set()).add(f"person_{l:03d}" if l >= 0 else "_unknown")
for p in photos:
    for folder in dest.get(p, {"_no_faces"}):
        (out / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, out / folder / p.name)
elapsed = time.time() - t0
print(f"python: {len(photos)} photos, {len(vectors)} faces, {len(set(l for l in labels if l >= 0))} people in {elapsed:.1f}s = {len(photos) / elapsed:.2f} photos/s")
