#!/usr/bin/env bash
# Benchmarks of archive jobs and resume; writes docs/benchmarks_archive.md. Not a test: it prints
# figures, it asserts nothing. Each comparison runs its two sides alternately, ROUNDS times
# (default 3), and quotes medians (the machines are shared and noisy).
#   1. 40 short clips (2-4 s, mixed sizes) in one archive job against 40 separate runs of the same
#      command, both on 2 ranks: model loading and start-up paid once against 40 times.
#   2. The 1080p clip (../shared/media/more/smpte.mp4) on 1 rank: a rerun after the job was killed
#      (SIGKILL) half way against a full run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
shared=${VIDSCORE_SHARED:-$(cd .. && pwd)/shared}
build=${BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target vidscore vidscore-make-filter >/dev/null
bin=$build/vidscore
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/vidscore-make-filter" identity "$work/identity.ts.pt" >/dev/null

source scripts/bench_lib.sh

# 1. 40 clips.
mkdir -p "$work/clips"
sizes=(320x240 256x144 176x144 352x288)
for i in $(seq -w 1 40); do
  n=$((10#$i))
  size=${sizes[$((n % 4))]}
  dur=$((2 + n % 3))
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=$size:rate=25:duration=$dur" \
    -f lavfi -i "sine=frequency=$((300 + 10 * n)):duration=$dur" -c:v libx264 -preset ultrafast \
    -g 25 -c:a aac "$work/clips/clip$i.mp4"
done
frames=$(for f in "$work"/clips/*.mp4; do
  ffprobe -v error -select_streams v:0 -show_entries stream=nb_frames -of csv=p=0 "$f"; done |
  awk '{s += $1} END {print s}')
one_job() {
  mpirun -np 2 --bind-to none "$bin" --model "$work/identity.ts.pt" --input "$work/clips" \
    --output "$work/out_job" --threads 1 --progress off --overwrite --no-resume
}
separate() {
  mkdir -p "$work/out_sep"
  for f in "$work"/clips/*.mp4; do
    mpirun -np 2 --bind-to none "$bin" --model "$work/identity.ts.pt" --input "$f" \
      --output "$work/out_sep/$(basename "$f")" --threads 1 --progress off --no-resume
  done
}
export -f one_job separate
export bin work
ta=() tb=()
for ((r = 0; r < rounds; r++)); do
  rm -rf "$work/out_sep"
  tb+=("$(seconds bash -c separate)")
  ta+=("$(seconds bash -c one_job)")
  cp "$work/last.log" "$work/one_job.log"
done
job_s=$(median "${ta[@]}")
sep_s=$(median "${tb[@]}")
echo "bench: archive job: ${ta[*]} s (median $job_s); 40 separate runs: ${tb[*]} s (median $sep_s)"
ratio1=$(calc "$sep_s / $job_s")
per_rank=$(sed -n 's/^vidscore: frames per rank: //p' "$work/one_job.log")

# 2. Resume after a kill half way.
hd=$shared/media/more/smpte.mp4
hd_args=(--model "$work/identity.ts.pt" --input "$hd" --output "$work/hd.mp4" --segment-frames 25
  --threads 2 --progress off)
seconds "$bin" "${hd_args[@]}" >/dev/null
segments=$(sed -n 's/^vidscore: done: .* in \([0-9]*\) segments.*/\1/p' "$work/last.log")
kill_after=$((segments / 2 + 1))  # dies finishing this one: the ones before it are kept
tf=() tr=() kept=()
for ((r = 0; r < rounds; r++)); do
  rm -rf "$work/hd.mp4" "$work"/hd.mp4.*
  tf+=("$(seconds "$bin" "${hd_args[@]}")")
  rm -rf "$work/hd.mp4"
  VIDSCORE_TEST_SIGKILL=0:$kill_after "$bin" "${hd_args[@]}" >/dev/null 2>&1 || true
  rm -f "$work"/hd.mp4.partial-*
  tr+=("$(seconds "$bin" "${hd_args[@]}")")
  kept+=("$(sed -n 's/.*(\([0-9]*\) reused from an earlier run).*/\1/p' "$work/last.log")")
done
full_s=$(median "${tf[@]}")
rerun_s=$(median "${tr[@]}")
echo "bench: full: ${tf[*]} s (median $full_s); rerun after the kill: ${tr[*]} s (median $rerun_s); reused ${kept[*]} of $segments segments"
ratio2=$(calc "$rerun_s / $full_s")

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
mkdir -p docs
{
  echo "# Benchmarks: archive jobs and resume"
  echo
  echo "Made by \`scripts/bench_archive.sh\` on $(date -u +%Y-%m-%d): $cpu, $(nproc) cores; CPU only."
  echo "Each pair ran alternately, $rounds rounds; seconds are medians of the whole command (start-up included)."
  echo
  echo "| case | seconds | notes |"
  echo "| --- | --- | --- |"
  echo "| 40 clips (2-4 s, 4 sizes, $frames frames), one archive job, mpirun -np 2 | $job_s | identity model; frames per rank: $per_rank |"
  echo "| the same 40 clips, 40 separate runs, mpirun -np 2 each | $sep_s | model loaded and ranks started 40 times |"
  echo "| 1080p smpte.mp4 (251 frames, $segments segments of ~25 frames), full run, 1 process x 2 threads | $full_s | |"
  echo "| the same, run again after a SIGKILL as segment $kill_after finished | $rerun_s | reused ${kept[*]} of $segments segments (per round) |"
  echo
  echo "| ratio | measured | target |"
  echo "| --- | --- | --- |"
  echo "| 40 separate runs / one archive job | **$ratio1** | >= 2 |"
  echo "| rerun after a kill half way / full run | **$ratio2** | <= 0.6 |"
} > docs/benchmarks_archive.md
echo "bench: wrote docs/benchmarks_archive.md"
