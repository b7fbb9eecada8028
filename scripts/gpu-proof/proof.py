"""The GPU proof's driver (scripts/gpu-proof.sh checks the prerequisites and calls this).

Generates the libraries (make_library.py beside this file: the 12 MP bench generator's phone-like
photos at each library's size, on all cores), runs the binary on each library once per provider and batch size, each run on
a fresh cache directory that links the same runtime and model files (so every run analyses
every photo), samples `nvidia-smi dmon -s u` during each run when nvidia-smi exists, compares
the people each run found with the CPU run's (the partition of photos into people, from
OUT/manifest.json), and writes OUT/gpu-proof.json and OUT/gpu-proof.txt.

Exit code 0 when every run finished, every accelerator run really ran on an accelerator, and
every run found the same people as the CPU run on the same library; 1 otherwise (the JSON's
`problems` says why); 2 when it could not start. Standard library only: it runs on any
Python 3.8+; the libraries' generator needs Pillow and numpy.
"""
import argparse
import json
import os
import platform
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SCHEMA = 1
# Named library sizes; WIDTHxHEIGHT is also accepted.
SIZES = {"2mp": (1632, 1224), "12mp": (4032, 3024), "48mp": (8000, 6000)}
# "N done in 1.2s" lines the binary prints on stderr for each stage when stderr is not a terminal.
STAGE_LINE = re.compile(r"^([a-z][a-z ]*): (\d+) done in ([0-9.]+)s$")
# Seconds a run needs at the least; past the deadline minus this, the rest are skipped.
MIN_RUN_S = 5


def log(msg):
    print(f"gpu-proof: {msg}", file=sys.stderr, flush=True)


def parse_libraries(spec):
    """'2mp=300,12mp=100' or '1600x1200=20' -> [(name, width, height, photos)]."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, count = item.partition("=")
        name = name.lower()
        if name in SIZES:
            w, h = SIZES[name]
        elif re.fullmatch(r"\d+x\d+", name):
            w, h = map(int, name.split("x"))
        else:
            raise SystemExit(f"gpu-proof: unknown library size '{name}': use 2mp, 12mp, 48mp or WxH")
        if not count.isdigit() or int(count) < 1:
            raise SystemExit(f"gpu-proof: '{item}': give a photo count, e.g. {name}=100")
        out.append((name, w, h, int(count)))
    return out


def parse_batches(spec):
    batches = [int(b) for b in filter(None, (s.strip() for s in spec.split(",")))]
    if any(b < 1 for b in batches):
        raise SystemExit(f"gpu-proof: batch sizes must be 1 or more: {spec}")
    return batches


def provider_args(provider):
    """The binary's flags for a provider name as this script takes them."""
    if provider == "gpu":
        return ["--gpu"]
    return ["--execution-provider", provider]


def run_text(cmd, env=None, timeout=30):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"({e})"


def machine_info(binary, has_smi):
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "host": platform.node(),
        "cores": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "binary_version": run_text([binary, "--version"]),
        "gpus": [],
        "driver": None,
    }
    if has_smi:
        out = run_text(["nvidia-smi", "--query-gpu=index,name,memory.total,driver_version",
                        "--format=csv,noheader"])
        for line in out.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 4 and parts[0].isdigit():
                info["gpus"].append({"index": int(parts[0]), "name": parts[1], "memory": parts[2]})
                info["driver"] = parts[3]
    return info


def generate(libs, testdata, work, python, generator, deadline):
    """Makes each library (in parallel) unless a finished one of the same size is there."""
    made, procs = [], []
    for name, w, h, n in libs:
        d = work / "libraries" / f"{name}-{w}x{h}-{n}"
        stamp = d / ".complete"
        made.append({"name": name, "width": w, "height": h, "photos": n, "dir": str(d),
                     "generate_s": 0.0, "reused": stamp.exists()})
        if stamp.exists():
            continue
        shutil.rmtree(d, ignore_errors=True)
        log(f"generating {n} photos of {w}x{h} ({name}) in {d}")
        cmd = [python, str(generator), str(testdata), str(d), str(n), str(w), str(h)]
        procs.append((made[-1], stamp, time.monotonic(),
                      subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
    problems = []
    for lib, stamp, t0, p in procs:
        try:
            _, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            problems.append(f"generating {lib['name']} ran past the time budget")
            continue
        lib["generate_s"] = round(time.monotonic() - t0, 2)
        if p.returncode != 0:
            problems.append(f"generating {lib['name']} failed: {err.strip()[-500:]}")
        else:
            stamp.write_text("done\n")
    for lib in made:
        d = Path(lib["dir"])
        files = [f for f in d.glob("*.jpg")] if d.is_dir() else []
        lib["files"] = len(files)
        lib["bytes"] = sum(f.stat().st_size for f in files)
    return made, problems


class Dmon:
    """`nvidia-smi dmon -s um` in the background for the length of one run. Its stdout is a
    pseudo-terminal, so that each sample is written when it is taken (to a pipe or a file,
    nvidia-smi's output may wait in a buffer that a stopped process never writes)."""

    def __init__(self, device, path):
        self.path = path
        self.chunks = []
        cmd = ["nvidia-smi", "dmon", "-s", "um", "-d", "1"]
        if device is not None:
            cmd += ["-i", str(device)]
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave,
                                     stderr=slave, start_new_session=True)
        os.close(slave)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: the other side is closed
                return
            if not data:
                return
            self.chunks.append(data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=2)
        os.close(self.master)
        text = b"".join(self.chunks).decode(errors="replace")
        Path(self.path).write_text(text)
        return parse_dmon(text)


def parse_dmon(text):
    """Mean and max of each utilisation column over the samples (header names: sm, mem, ...)."""
    header, rows = None, []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "#":
            if header is None and len(fields) > 1 and fields[1] in ("gpu", "Idx"):
                header = fields[1:]
            continue
        if header and len(fields) == len(header) and fields[0].isdigit():
            rows.append(fields)
    if not rows:
        return {"samples": 0, "raw_tail": text[-300:]}
    out = {"samples": len(rows)}
    for k, col in enumerate(header):
        if col == "gpu":
            continue
        vals = [int(r[k]) for r in rows if r[k].isdigit()]
        if vals:
            out[f"{col}_mean"] = round(sum(vals) / len(vals), 1)
            out[f"{col}_max"] = max(vals)
            if col in ("sm", "mem", "fb"):
                out[f"{col}_samples"] = vals
    return out


def people_partition(manifest):
    """The people as a set of frozensets of photo sources (ids and folder names left out)."""
    by_person = {}
    for photo in manifest.get("photos", []):
        for face in photo.get("faces", []):
            if face.get("person") is not None:
                by_person.setdefault(face["person"], set()).add(photo["source"])
    return {frozenset(s) for s in by_person.values()}


def compare_people(reference, other):
    only_ref = reference - other
    only_other = other - reference
    photos = sorted({p for g in only_ref | only_other for p in g})
    return {
        "equal": not only_ref and not only_other,
        "people_only_in_reference": len(only_ref),
        "people_only_in_this_run": len(only_other),
        "photos_in_differing_people": len(photos),
        "example_photos": photos[:10],
    }


def fresh_cache(source, at):
    """A cache directory with no database, linking the shared runtime, models and GPU files."""
    at.mkdir(parents=True)
    for sub in ("runtime", "models", "gpu", "heif"):
        if (source / sub).exists():
            (at / sub).symlink_to((source / sub).resolve())


def one_run(a, lib, provider, batch, index, deadline, env_base):
    run_dir = a.work / "runs" / f"{index:02d}-{lib['name']}-{provider}-b{batch}"
    shutil.rmtree(run_dir, ignore_errors=True)
    cache, out = run_dir / "cache", run_dir / "out"
    fresh_cache(a.cache, cache)
    cmd = [a.binary, "-s", lib["dir"], "-o", str(out), "--json", "--batch-size", str(batch),
           "--cache-dir", str(cache), *provider_args(provider)]
    if a.gpu_device is not None and provider != "cpu":
        cmd += ["--gpu-device", str(a.gpu_device)]
    if a.threads:
        cmd += ["-j", str(a.threads)]
    if a.transfer != "copy":
        cmd += [f"--{a.transfer}"]
    env = dict(env_base)
    env["XDG_CONFIG_HOME"] = str(run_dir / "config")  # no settings file but the defaults
    env.pop("PHOTO_ORGANIZER_CONFIG", None)
    env.pop("PHOTO_ORGANIZER_CACHE", None)
    if provider == "cpu" and a.cpu_ort_dylib:
        env["ORT_DYLIB_PATH"] = a.cpu_ort_dylib
    elif provider != "cpu" and a.gpu_ld_library_path:
        env["LD_LIBRARY_PATH"] = a.gpu_ld_library_path
    rec = {"library": lib["name"], "provider_asked": provider, "batch": batch,
           "command": " ".join(cmd), "ok": False, "error": None}
    if a.cpu_ort_dylib and provider == "cpu":
        rec["ort_dylib_path"] = a.cpu_ort_dylib
    timeout = min(deadline - time.monotonic(), a.run_timeout)
    if deadline - time.monotonic() < MIN_RUN_S:
        rec["error"] = "skipped: the time budget (--max-seconds) was spent"
        return rec, None
    log(f"run {index}: {lib['name']} {provider} batch {batch}")
    dmon = Dmon(a.gpu_device, run_dir / "dmon.txt") if a.dmon else None
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        code, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        code, stdout = None, ""
        stderr = (e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr) or ""
    wall = time.monotonic() - t0
    rec["gpu_util"] = dmon.stop() if dmon else None
    rec["exit_code"] = code
    rec["wall_s"] = round(wall, 3)
    (run_dir / "stderr.txt").write_text(stderr)
    rec["stages"] = {}
    for line in stderr.splitlines():
        m = STAGE_LINE.match(line.strip())
        if m:
            items, secs = int(m.group(2)), float(m.group(3))
            rec["stages"][m.group(1)] = {"items": items, "seconds": secs,
                                         "per_s": round(items / secs, 2) if secs > 0 else None}
    if code is None:
        rec["error"] = f"stopped after {timeout:.0f} s (--run-timeout or the time budget)"
        return rec, None
    try:
        s = json.loads(stdout)
    except ValueError:
        rec["error"] = f"exit code {code}, no --json summary: {stderr.strip()[-800:]}"
        return rec, None
    backend = s.get("backend") or {}
    device = backend.get("device") or {}
    rec.update({
        "photos": s.get("photos"),
        "faces": s.get("faces"),
        "people": s.get("people"),
        "no_face_photos": s.get("no_face_photos"),
        "unknown_photos": s.get("unknown_photos"),
        "errors": s.get("errors"),
        "decoded": s.get("decoded"),
        "cache_hits": s.get("cache_hits"),
        "largest_batch": s.get("largest_batch"),
        "elapsed_s": s.get("elapsed_s"),
        "photos_per_s": round(s["photos"] / wall, 2) if s.get("photos") and wall > 0 else 0.0,
        "photos_per_s_in_run": s.get("photos_per_s"),
        "backend": backend.get("backend"),
        "runtime_version": backend.get("runtime_version"),
        "device": device.get("device"),
        "provider": device.get("provider"),
        "fallback_reason": device.get("fallback_reason"),
    })
    if code != 0:
        rec["error"] = f"exit code {code}: {stderr.strip()[-800:]}"
        return rec, None
    if s.get("cache_hits"):
        rec["error"] = f"{s['cache_hits']} photos came from a cache: the run did not analyse them all"
        return rec, None
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        rec["error"] = f"no readable OUT/manifest.json: {e}"
        return rec, None
    partition = people_partition(manifest)
    rec["people_in_manifest"] = len(partition)
    if provider != "cpu" and (device.get("fallback_reason") or str(device.get("device", "")).startswith("cpu")):
        rec["error"] = f"asked for {provider} but ran on {device.get('device')} via {device.get('provider')}: {device.get('fallback_reason')}"
        return rec, partition
    rec["ok"] = True
    return rec, partition


def table(report):
    m = report["machine"]
    gpu = ", ".join(g["name"] for g in m["gpus"]) or "no NVIDIA GPU seen"
    lines = [
        f"gpu-proof: {'ok' if report['ok'] else 'FAILED'} in {report['seconds']:.0f} s"
        f" on {m['cores']} cores ({m['cpu']}), {gpu}",
        f"binary: {m['binary_version'].splitlines()[0] if m['binary_version'] else '?'}",
        "",
        f"{'library':<8} {'asked':<6} {'batch':>5} {'ran on':<28} {'photos/s':>9} {'faces st/s':>10}"
        f" {'GPU sm% avg/max':>15} {'vs cpu':>7} {'people':>6} {'same':>5}",
    ]
    for r in report["runs"]:
        util = r.get("gpu_util") or {}
        sm = f"{util['sm_mean']:.0f}/{util['sm_max']}" if "sm_mean" in util else "-"
        stage = (r.get("stages") or {}).get("faces") or {}
        faces_s = f"{stage['per_s']:.1f}" if stage.get("per_s") else "-"
        speed = f"{r['speedup_vs_cpu']:.2f}x" if r.get("speedup_vs_cpu") else "-"
        same = {True: "yes", False: "NO", None: "-"}[r.get("people_equal")]
        ran = r.get("provider") or "-"
        if r.get("device") and r["device"] != "cpu":
            ran = f"{ran} {r['device']}"
        lines.append(
            f"{r['library']:<8} {r['provider_asked']:<6} {r['batch']:>5} {ran[:28]:<28}"
            f" {r.get('photos_per_s') or 0:>9.1f} {faces_s:>10} {sm:>15} {speed:>7}"
            f" {r.get('people') if r.get('people') is not None else '-':>6} {same:>5}")
    lines.append("")
    lines.append("photos/s: photos / wall time of the whole run (start-up, hash, faces, cluster, "
                 f"{report['settings']['transfer']}); faces st/s: the faces stage (decode, detect, "
                 "embed) alone; same: the same people as the CPU run")
    for p in report["problems"]:  # in full in the JSON
        p = " ".join(p.split())
        lines.append(f"problem: {p[:300]}{'...' if len(p) > 300 else ''}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("--testdata", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--libraries", required=True)
    ap.add_argument("--providers", required=True)
    ap.add_argument("--gpu-batches", required=True)
    ap.add_argument("--cpu-batches", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--gpu-device", type=int, default=None)
    ap.add_argument("--transfer", choices=["copy", "symlink", "hardlink"], default="symlink")
    ap.add_argument("--max-seconds", type=float, required=True)
    ap.add_argument("--run-timeout", type=float, default=180)
    ap.add_argument("--python", required=True, help="the Python that generates the libraries")
    ap.add_argument("--dmon", action="store_true", help="sample nvidia-smi dmon during each run")
    ap.add_argument("--cpu-ort-dylib", default="", help="ORT_DYLIB_PATH for the CPU runs")
    ap.add_argument("--gpu-ld-library-path", default="", help="LD_LIBRARY_PATH for accelerator runs")
    ap.add_argument("--started", type=float, default=None, help="time.time() when the wrapper started")
    a = ap.parse_args()

    started_wall = a.started or time.time()
    t0 = time.monotonic() - (time.time() - started_wall)
    deadline = t0 + a.max_seconds
    libs = parse_libraries(a.libraries)
    providers = [p for p in (s.strip() for s in a.providers.split(",")) if p]
    gpu_batches, cpu_batches = parse_batches(a.gpu_batches), parse_batches(a.cpu_batches)
    a.out.mkdir(parents=True, exist_ok=True)
    a.work.mkdir(parents=True, exist_ok=True)
    generator = Path(__file__).resolve().parent / "make_library.py"

    report = {
        "schema": SCHEMA,
        "ok": False,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_wall)),
        "machine": machine_info(a.binary, a.dmon),
        "settings": {
            "binary": a.binary, "cache": str(a.cache), "libraries": a.libraries,
            "providers": providers, "gpu_batches": gpu_batches, "cpu_batches": cpu_batches,
            "threads": a.threads or None, "gpu_device": a.gpu_device, "transfer": a.transfer,
            "max_seconds": a.max_seconds, "run_timeout": a.run_timeout, "dmon": a.dmon,
            "gpu_ld_library_path": a.gpu_ld_library_path or None,
            "cpu_ort_dylib_path": a.cpu_ort_dylib or None,
        },
        "libraries": [],
        "runs": [],
        "people_equal": None,
        "problems": [],
    }
    libraries, problems = generate(libs, a.testdata, a.work, a.python, generator, deadline)
    report["libraries"] = libraries
    report["problems"] += problems
    index = 0
    for lib in libraries:
        if any(p.startswith(f"generating {lib['name']}") for p in problems):
            continue
        # The CPU runs first: the first is the reference for the people and the speed.
        plan = [(p, b) for p in providers if p == "cpu" for b in cpu_batches]
        plan += [(p, b) for p in providers if p != "cpu" for b in gpu_batches]
        reference, ref_speed = None, None
        for provider, batch in plan:
            index += 1
            rec, partition = one_run(a, lib, provider, batch, index, deadline, os.environ)
            if rec.get("error"):
                report["problems"].append(f"{lib['name']} {provider} batch {batch}: {rec['error']}")
            if rec["ok"] and reference is None and provider == "cpu":
                reference, ref_speed = partition, rec["photos_per_s"]
                rec["reference"] = True
            if rec["ok"] and reference is not None:
                diff = compare_people(reference, partition)
                rec["people_equal"] = diff["equal"]
                if not diff["equal"]:
                    rec["people_diff"] = diff
                    report["problems"].append(
                        f"{lib['name']} {provider} batch {batch}: not the CPU run's people"
                        f" ({diff['photos_in_differing_people']} photos in differing people)")
            else:
                rec["people_equal"] = None
            if rec["ok"] and ref_speed:
                rec["speedup_vs_cpu"] = round(rec["photos_per_s"] / ref_speed, 3)
            report["runs"].append(rec)
            shutil.rmtree(a.work / "runs", ignore_errors=True)
    compared = [r["people_equal"] for r in report["runs"] if r.get("people_equal") is not None]
    report["people_equal"] = all(compared) if compared else None
    if "cpu" not in providers:
        report["problems"].append("no cpu run: nothing to compare the people or the speed with")
    if not report["runs"]:
        report["problems"].append("no run was made")
    report["seconds"] = round(time.monotonic() - t0, 1)
    report["ok"] = not report["problems"]
    (a.out / "gpu-proof.json").write_text(json.dumps(report, indent=1) + "\n")
    text = table(report)
    (a.out / "gpu-proof.txt").write_text(text)
    sys.stdout.write(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
