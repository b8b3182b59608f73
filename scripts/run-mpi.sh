#!/usr/bin/env bash
# Runs vidscore under mpirun on this machine: one rank per GPU (every rank decodes, runs the model
# and encodes its segments; rank 0 also demuxes and muxes).
#   scripts/run-mpi.sh NP [vidscore args...]
#   scripts/run-mpi.sh 2 --model style.ts.pt --input in.mp4 --output out.mp4
# Environment:
#   VIDSCORE_BIN  binary to run (default: build/vidscore in this checkout)
#   MPIRUN        launcher (default: mpirun on PATH)
#   MPIRUN_ARGS   extra launcher options, split on spaces (e.g. "--report-bindings")
# With Open MPI it adds --bind-to none (so each rank's torch threads are not pinned to one core),
# --oversubscribe when NP exceeds the cores here, and the run-as-root variables when run as root.
# Exit status: mpirun's, i.e. the first non-zero vidscore status (1 runtime, 2 usage/config).
set -euo pipefail

usage() {
  sed -n '2,5s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

[ $# -ge 1 ] || usage
case $1 in
  -h | --help) usage ;;
esac
np=$1
shift
if ! [[ $np =~ ^[1-9][0-9]*$ ]]; then
  echo "run-mpi.sh: error: NP must be a positive integer, got '$np'" >&2
  usage
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${VIDSCORE_BIN:-$root/build/vidscore}
if [ ! -x "$bin" ]; then
  echo "run-mpi.sh: error: $bin is not an executable (build it with 'ninja -C build'," \
    "or set VIDSCORE_BIN)" >&2
  exit 2
fi
mpirun=${MPIRUN:-mpirun}
if ! command -v "$mpirun" >/dev/null 2>&1; then
  echo "run-mpi.sh: error: '$mpirun' not found (install openmpi-bin, or set MPIRUN)" >&2
  exit 2
fi

args=(-np "$np")
if "$mpirun" --version 2>&1 | grep -q "Open MPI\|OpenRTE"; then
  args+=(--bind-to none)
  if [ "$np" -gt "$(nproc)" ]; then
    args+=(--oversubscribe)
  fi
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
else
  # MPICH/Hydra (and Intel MPI) spell it with one dash and oversubscribe without asking.
  args+=(-bind-to none)
fi
if [ -n "${MPIRUN_ARGS:-}" ]; then
  read -r -a extra <<<"$MPIRUN_ARGS"
  args+=("${extra[@]}")
fi

exec "$mpirun" "${args[@]}" "$bin" "$@"
