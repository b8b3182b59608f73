#!/usr/bin/env bash
# Installs what is missing, builds (Release) and runs the whole test suite with CTest.
#   scripts/test.sh                 # everything
#   scripts/test.sh -L unit         # only tests with a CTest label (unit, e2e, real, mpi, slow)
#   scripts/test.sh -LE slow        # all but the slow ones
# Real-data tests read ../shared/models and ../shared/media (or $VIDSCORE_SHARED); without them
# they report themselves skipped. `-L slurm` runs the real Slurm test (a one-node cluster the
# test starts itself, as root). BUILD_DIR (default build) and JOBS (default nproc) apply.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh --tests
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
if [ -z "${VIDSCORE_SHARED:-}" ] && [ -d "$root/../shared" ]; then
  export VIDSCORE_SHARED="$root/../shared"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIDSCORE_BUILD_TESTS=ON
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
