#!/usr/bin/env bash
# Video speed (#34): CPU time to sample and to analyse a 1-minute 1080p H.264 clip, ffmpeg
# included (examples/video_sample.rs reads /proc/self/stat; loading the backend not counted).
# Two clips, made once into DIR (default bench-results/video): a moving test pattern
# (testsrc2, no faces) and a slideshow of the test photos (Obama x3, Biden, 3 s each, a slow
# zoom so every frame differs), both with x264's defaults but -preset veryfast (a keyframe
# every 250 frames and at each cut). Usage: scripts/bench-video.sh [DIR]; PROFILE=dev uses the
# dev build instead of a release one (docs/PERFORMANCE.md's figures).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench-results/video}
mkdir -p "$dir"
faces=.cache/testdata/face_recognition
if [ ! -f "$dir/testsrc1080.mp4" ]; then
  ffmpeg -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 -t 60 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p "$dir/testsrc1080.mp4"
fi
if [ ! -f "$dir/faces1080.mp4" ]; then
  inputs=() graph="" n=0
  for _ in 1 2 3 4 5; do
    for p in obama obama2 obama3 biden; do
      inputs+=(-loop 1 -framerate 30 -t 3 -i "$faces/$p.jpg")
      graph+="[$n]scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2:gray,setsar=1,zoompan=z='1+0.001*on':d=1:s=1920x1080:fps=30[v$n];"
      n=$((n + 1))
    done
  done
  for i in $(seq 0 $((n - 1))); do graph+="[v$i]"; done
  graph+="concat=n=$n:v=1:a=0,format=yuv420p"
  ffmpeg -v error -y "${inputs[@]}" -filter_complex "$graph" -c:v libx264 -preset veryfast "$dir/faces1080.mp4"
fi
if [ "${PROFILE:-release}" = dev ]; then
  cargo build --quiet --example video_sample
  bin=target/debug/examples/video_sample
else
  cargo build --release --quiet --example video_sample
  bin=target/release/examples/video_sample
fi
for clip in testsrc1080 faces1080; do
  echo "== $clip: sampling only"
  "$bin" "$dir/$clip.mp4" | tail -1
  echo "== $clip: sampled and analysed (default backend, one thread)"
  "$bin" "$dir/$clip.mp4" --faces
done
