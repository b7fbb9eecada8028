"""Copies the evaluation set (.cache/eval-set, scripts/build-eval-set.sh) with every JPEG
upscaled to a LONG px long side (default 4032: a 12 MP phone photo) and given a camera's
sensor noise, EXIF (orientation included) kept, quality 92; other files and links as they are.
Scores on it before and after a decoding change show what the change does to 12 MP photos,
which the set itself (at most 3000 px) does not reach. Usage: upscale_eval_set.py SRC OUT [LONG]"""
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

src, out = Path(sys.argv[1]), Path(sys.argv[2])
long_side = int(sys.argv[3]) if len(sys.argv) > 3 else 4032
noise = np.random.default_rng(1234)
for path in sorted(src.rglob("*")):
    rel = path.relative_to(src)
    dest = out / rel
    if path.is_symlink():
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_symlink():
            os.symlink(os.readlink(path), dest)
    elif path.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
    elif path.suffix.lower() in {".jpg", ".jpeg"} and not any(p.is_symlink() for p in path.parents):
        dest.parent.mkdir(parents=True, exist_ok=True)
        img = Image.open(path)
        exif = img.info.get("exif", b"")
        rgb = img.convert("RGB")
        s = long_side / max(rgb.size)
        big = rgb.resize((round(rgb.width * s), round(rgb.height * s)), Image.BICUBIC)
        a = np.asarray(big, np.float32) + noise.normal(0, 4.0, (big.height, big.width, 1))
        Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(dest, quality=92, exif=exif)
    elif path.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
print(f"{src} -> {out} at {long_side} px")
