#!/usr/bin/env bash
# Benchmark of image classification (issue 15); writes docs/benchmarks_images.md. Not a test: it
# prints figures, it asserts nothing. 2,000 JPEGs cut from the ../shared/media clips at mixed
# sizes (1920x1080 down to 320x240, landscape and portrait) are classified by SqueezeNet
# (../shared/models) with batch size 8 by:
#   A. vidscore, 1 rank (2 intra-op threads);
#   B. vidscore, mpirun -np 2 --bind-to core (a core and a thread per rank);
#   C. a plain PyTorch DataLoader (2 worker processes, PIL, torchvision transforms, the same
#      model, 2 threads): tools/peer_classify_dataloader.py.
# The three run alternately, ROUNDS times (default 3); medians are quoted. IMAGES changes the
# count (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
count=${IMAGES:-2000}
shared=${VIDSCORE_SHARED:-$(cd .. && pwd)/shared}
build=${BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target vidscore >/dev/null
bin=$build/vidscore
model=$shared/models/squeezenet1_1_imagenet.ts.pt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source scripts/bench_lib.sh

# The photos: equal shares of five clips at five sizes, JPEG quality 90 (-q:v 3).
photos=$work/photos
mkdir -p "$photos"
clips=(more/smpte.mp4 flower.mp4 friday.mp4 more/chaplin.mp4 more/big_buck_bunny_0_30.webm)
scales=(1920:1080 1280:720 640:480 480:640 320:240)
per=$((count / ${#clips[@]}))
for i in "${!clips[@]}"; do
  ffmpeg -nostdin -v error -y -stream_loop -1 -i "$shared/media/${clips[$i]}" \
    -vf "scale=${scales[$i]}" -frames:v "$per" -q:v 3 "$photos/c${i}_%05d.jpg"
done
n=$(ls "$photos" | wc -l)
bytes=$(du -sb "$photos" | cut -f1)
echo "bench: $n photos, $((bytes / 1024 / 1024)) MiB"

one_rank() {
  "$bin" --task classify --model "$model" --batch-size 8 --threads 2 --input "$photos" \
    --output "$work/a.jsonl" --progress off
}
two_ranks() {
  mpirun -np 2 --bind-to core "$bin" --task classify --model "$model" --batch-size 8 \
    --threads 1 --input "$photos" --output "$work/b.jsonl" --progress off
}
dataloader() {
  /usr/bin/python3 tools/peer_classify_dataloader.py "$model" "$photos" "$work/c.jsonl" \
    --batch 8 --workers 2 --threads 2
}
export -f one_rank two_ranks dataloader
export bin model photos work
ta=() tb=() tc=()
for ((r = 0; r < rounds; r++)); do
  tc+=("$(seconds bash -c dataloader)")
  ta+=("$(seconds bash -c one_rank)")
  cp "$work/last.log" "$work/one_rank.log"
  tb+=("$(seconds bash -c two_ranks)")
  cp "$work/last.log" "$work/two_ranks.log"
done
a=$(median "${ta[@]}") b=$(median "${tb[@]}") c=$(median "${tc[@]}")
echo "bench: vidscore 1 rank ${ta[*]} s; 2 ranks ${tb[*]} s; DataLoader ${tc[*]} s"
# Same answers: top-1 of each image, vidscore against the DataLoader.
agree=$(/usr/bin/python3 - "$work/a.jsonl" "$work/c.jsonl" "$photos" <<'PY'
import json, sys
a = {json.loads(l)["path"]: json.loads(l) for l in open(sys.argv[1])}
c = [json.loads(l) for l in open(sys.argv[2])]
same = sum(a[x["path"][len(sys.argv[3]) + 1:]]["classes"][0]["id"] == x["classes"][0]["id"] for x in c)
diff = max(abs(a[x["path"][len(sys.argv[3]) + 1:]]["classes"][0]["score"] - x["classes"][0]["score"]) for x in c)
print(f"{same}/{len(c)} top-1 equal, largest top-1 score difference {diff:.1e}")
PY
)
echo "bench: $agree"
stages=$(grep "stage seconds" "$work/one_rank.log" | sed 's/^vidscore: //')
rss1=$(grep "peak RSS" "$work/one_rank.log" | sed 's/^vidscore: //')
rss2=$(grep "peak RSS" "$work/two_ranks.log" | sed 's/^vidscore: //')
mpi2=$(grep "MPI" "$work/two_ranks.log" | sed 's/^vidscore: //')
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
  echo "# Image classification benchmark"
  echo
  echo "\`ROUNDS=$rounds scripts/bench_images.sh\` on $(date -u +%Y-%m-%d): $cpu, $(nproc) cores,"
  echo "no GPU. $n JPEGs ($((bytes / 1024 / 1024)) MiB) cut from the ../shared/media clips at 1920x1080,"
  echo "1280x720, 640x480, 480x640 and 320x240; SqueezeNet 1.1 (ImageNet), batch size 8; the three"
  echo "runs alternate, medians of $rounds."
  echo
  echo "| run | seconds | images/s | vs DataLoader |"
  echo "| --- | --- | --- | --- |"
  echo "| PyTorch DataLoader, 2 workers, PIL + torchvision transforms, 2 threads | $c | $(calc "$n / $c" 1) | 1.00x |"
  echo "| vidscore, 1 rank, 2 threads | $a | $(calc "$n / $a" 1) | **$(calc "$c / $a")x** |"
  echo "| vidscore, \`mpirun -np 2 --bind-to core\`, 1 thread per rank | $b | $(calc "$n / $b" 1) | **$(calc "$c / $b")x** |"
  echo
  echo "All rounds (s): vidscore 1 rank ${ta[*]}; 2 ranks ${tb[*]}; DataLoader ${tc[*]}."
  echo
  echo "Same answers: $agree (vidscore 1 rank against the DataLoader)."
  echo
  echo "vidscore, 1 rank: $stages. $rss1. 2 ranks: $rss2; $mpi2."
} > docs/benchmarks_images.md
cat docs/benchmarks_images.md
