#!/usr/bin/env bash
# Installs the Debian 12 packages vidscore needs to build, run and demo, and nothing when they are
# all there already. Run as root (or with sudo available).
#   scripts/install-deps.sh           # build, run, demo
#   scripts/install-deps.sh --tests   # also what only the test suite needs (scripts/test.sh)
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  # MPI (Open MPI 4.1)
  libopenmpi-dev openmpi-bin
  # libtorch 1.13 (CPU), and OpenBLAS for its BLAS calls: without it Debian's libtorch runs on
  # the reference BLAS, and single-threaded 1x1 convolutions (YOLOX) are 4x slower
  libtorch-dev libopenblas0-openmp
  # tcmalloc in place of glibc's malloc (see CMakeLists.txt)
  libtcmalloc-minimal4
  # FFmpeg 5.1 libraries, and the CLI for tests and scripts
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev ffmpeg
  # JPEG images (classify, embed): libjpeg-turbo, the decoder PIL uses
  libjpeg62-turbo-dev
  # config and tests
  nlohmann-json3-dev catch2
  # export helpers (scripts/*.py run with /usr/bin/python3)
  python3-torch python3-torchvision
)
# Test-only: a real one-node Slurm cluster for tests/slurm/test_slurm.sh (the test starts and
# stops the daemons itself; installing them does not start them where there is no systemd).
# Real photos and the PIL + torchvision reference for the classify/embed tests.
test_packages=(slurmctld slurmd slurm-client munge iproute2 opencv-doc python3-pil python3-numpy)
case ${1:-} in
  --tests) packages+=("${test_packages[@]}") ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--tests]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
