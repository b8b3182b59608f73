#!/usr/bin/env bash
# A real Slurm test: brings up munged, slurmctld and slurmd (Debian's Slurm 22.05) as a one-node
# cluster on 127.0.0.1, submits scripts/slurm/vidscore.sbatch as the README shows, and checks
#   1. a CPU-only 2-task job through srun --mpi=pmix: every frame and the audio kept;
#   2. a longer job scancel'ed mid-way: nothing under the output name, no partial file left;
#   3. the same through the mpirun launcher (whose processes Slurm may SIGKILL): nothing under
#      the output name, and the next run on that output removes any leftover partial file;
#   4. a job array over a list of two videos (@list.txt, OUTPUT a folder), then resubmitted:
#      both outputs written, then both skipped.
# It stops the daemons it started. Exit 77 (CTest: skipped) when Slurm cannot be brought up
# here (not root, packages missing, no free ports), never a pass.
#   tests/slurm/test_slurm.sh SOURCE_DIR VIDSCORE_BIN MAKE_FILTER_BIN WORK_DIR
set -uo pipefail

src=$1 bin=$2 make_filter=$3 work=$4
skip() { echo "VIDSCORE_SKIPPED: slurm: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump_logs; exit 1; }
note() { echo "slurm-test: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root to run slurmd and munged"
for c in munged slurmctld slurmd sbatch squeue scancel sinfo ffmpeg ffprobe /usr/bin/python3; do
  command -v "$c" >/dev/null 2>&1 || skip "$c not installed (scripts/install-deps.sh --tests)"
done

rm -rf "$work"
mkdir -p "$work"/{state,spool,jobs}
work=$(cd "$work" && pwd)
host=$(hostname -s)
ncpu=$(nproc)

pids=()
started_munged=""
cleanup() {
  if [ -n "${SLURM_CONF:-}" ]; then
    scancel --full --quiet --user=root >/dev/null 2>&1 || true
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  if [ -n "$started_munged" ] && [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null
  fi
}
trap cleanup EXIT
dump_logs() {
  for f in "$work"/slurmctld.log "$work"/slurmd.log "$work"/jobs/*.out; do
    [ -f "$f" ] && { echo "----- $f (last lines)"; tail -n 25 "$f"; }
  done
}

# munge: reuse a running munged, else start one as the munge user (it refuses root).
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  [ -f /etc/munge/munge.key ] || skip "/etc/munge/munge.key missing"
  runuser -u munge -- /usr/sbin/munged --force >/dev/null 2>&1 || skip "munged does not start"
  started_munged=yes
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null 2>&1 || skip "munged started but does not answer"
fi

# Two free TCP ports for the daemons.
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
ports=()
for p in $(seq 16817 16900); do
  port_free "$p" && ports+=("$p")
  [ ${#ports[@]} -ge 2 ] && break
done
[ ${#ports[@]} -ge 2 ] || skip "no free ports in 16817-16900"

write_config() {  # $1 proctrack plugin, $2 task plugin
  cat >"$work/slurm.conf" <<CONF
ClusterName=vidscoretest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=$1
TaskPlugin=$2
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=10
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$ncpu State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  cat >"$work/cgroup.conf" <<CONF
CgroupAutomount=yes
ConstrainCores=no
ConstrainRAMSpace=no
CONF
}
export SLURM_CONF=$work/slurm.conf

start_daemons() {
  /usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >>"$work/slurmctld.console" 2>&1 &
  pids+=($!)
  /usr/sbin/slurmd -D -f "$SLURM_CONF" -N "$host" >>"$work/slurmd.console" 2>&1 &
  pids+=($!)
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null | head -n1)
    [ "$state" = idle ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
stop_daemons() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  pids=()
}

write_config proctrack/cgroup task/cgroup
if ! start_daemons; then
  note "cgroup plugins did not come up; trying proctrack/linuxproc + task/none"
  stop_daemons
  rm -rf "$work/state"/* "$work/spool"/*
  write_config proctrack/linuxproc task/none
  start_daemons || { dump_logs; skip "slurmctld/slurmd do not come up here"; }
fi
note "one-node cluster up: $(sinfo -h -o '%P %D %c %t %N')"

# Inputs: a short clip with audio, the invert filter, a slow model for the scancel cases.
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 -f lavfi \
  -i sine=frequency=440:duration=2 -c:v libx264 -preset ultrafast -g 12 -c:a aac \
  "$work/short.mp4" || fail "ffmpeg could not make the short clip"
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=60 -f lavfi \
  -i sine=frequency=440:duration=60 -c:v libx264 -preset ultrafast -g 12 -c:a aac \
  "$work/long.mp4" || fail "ffmpeg could not make the long clip"
"$make_filter" invert "$work/invert.ts.pt" >/dev/null || fail "make-filter failed"
cat >"$work/slow.py" <<'PY'
import sys, torch
class Slow(torch.nn.Module):
    def forward(self, x):
        y = x
        for _ in range(400):
            y = y * 1.0
        return y
torch.jit.script(Slow()).save(sys.argv[1])
PY
/usr/bin/python3 "$work/slow.py" "$work/slow.ts.pt" || fail "could not script the slow model"

frames() { ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
audio_md5() { ffmpeg -v error -i "$1" -map 0:a:0 -c copy -f md5 - 2>/dev/null; }

submit() {  # extra sbatch/env settings come from the caller's environment
  (cd "$src" && sbatch --parsable --chdir="$src" --output="$work/jobs/%j.out" "$@")
}
submit_array() {
  (cd "$src" && sbatch --parsable --chdir="$src" --output="$work/jobs/%A_%a.out" "$@")
}
job_state() { squeue -h -j "$1" -o %T 2>/dev/null; }
wait_gone() {  # $1 job id, $2 seconds
  for _ in $(seq $(($2 * 2))); do
    [ -z "$(job_state "$1")" ] && return 0
    sleep 0.5
  done
  return 1
}
wait_for_partial() {  # $1 output name, $2 job id: true once a partial file exists
  for _ in $(seq 120); do
    compgen -G "$1.partial-*" >/dev/null && return 0
    [ -z "$(job_state "$2")" ] && return 1
    sleep 0.5
  done
  return 1
}

export VIDSCORE_BIN=$bin

# 1. CPU-only, 2 tasks, through srun (the README's command, with the binary named).
out1=$work/out_short.mp4
job=$(submit --wait --nodes=1 --ntasks-per-node=2 scripts/slurm/vidscore.sbatch \
  "$work/short.mp4" "$out1" --model "$work/invert.ts.pt" --progress lines) ||
  fail "job $job (2 tasks, srun) did not succeed"
log=$work/jobs/$job.out
grep -q "srun --mpi=pmix" "$log" || fail "job $job did not launch through srun --mpi=pmix"
grep -q "2 ranks" "$log" || fail "job $job did not run 2 ranks"
[ -f "$out1" ] || fail "no output $out1"
[ "$(frames "$out1")" = 50 ] || fail "output has $(frames "$out1") frames, want 50"
[ "$(audio_md5 "$out1")" = "$(audio_md5 "$work/short.mp4")" ] || fail "audio packets differ"
note "1 ok: job $job, 2 ranks via srun --mpi=pmix, 50/50 frames, audio identical"

# 2. A longer job, scancel'ed once it writes: srun steps get SIGTERM, vidscore cleans up.
out2=$work/out_cancel.mp4
job=$(submit --nodes=1 --ntasks-per-node=2 scripts/slurm/vidscore.sbatch \
  "$work/long.mp4" "$out2" --model "$work/slow.ts.pt" --progress lines) || fail "sbatch failed"
wait_for_partial "$out2" "$job" || fail "job $job never started writing $out2"
sleep 2
scancel "$job"
wait_gone "$job" 60 || fail "job $job still there 60 s after scancel"
sleep 1
[ -e "$out2" ] && fail "cancelled job $job left $out2"
compgen -G "$out2.partial-*" >/dev/null && fail "cancelled job $job left $(ls "$out2".partial-*)"
note "2 ok: job $job scancel'ed while writing; nothing left under $out2 nor a partial file"

# 3. The mpirun launcher: scancel, then the next run on the same output.
out3=$work/out_mpirun.mp4
job=$(VIDSCORE_LAUNCHER=mpirun submit --nodes=1 --ntasks-per-node=2 \
  scripts/slurm/vidscore.sbatch "$work/long.mp4" "$out3" --model "$work/slow.ts.pt" \
  --progress lines) || fail "sbatch failed"
wait_for_partial "$out3" "$job" || fail "job $job (mpirun) never started writing $out3"
grep -q "mpirun -np 2" "$work/jobs/$job.out" || fail "job $job did not launch through mpirun"
sleep 2
scancel "$job"
wait_gone "$job" 60 || fail "job $job still there 60 s after scancel"
sleep 1
[ -e "$out3" ] && fail "cancelled job $job left $out3"
left=$(compgen -G "$out3.partial-*" || true)
note "3: job $job (mpirun) scancel'ed; partial files left: ${left:-none}"
job=$(VIDSCORE_LAUNCHER=mpirun submit --wait --nodes=1 --ntasks-per-node=2 \
  scripts/slurm/vidscore.sbatch "$work/short.mp4" "$out3" --model "$work/invert.ts.pt") ||
  fail "rerun job $job on $out3 did not succeed"
compgen -G "$out3.partial-*" >/dev/null && fail "rerun job $job left $(ls "$out3".partial-*)"
if [ -n "$left" ]; then
  grep -q "note: removed .*left by an earlier run that was killed" "$work/jobs/$job.out" ||
    fail "rerun job $job removed the leftover without a note"
fi
[ "$(frames "$out3")" = 50 ] || fail "rerun output has $(frames "$out3") frames, want 50"
note "3 ok: rerun job $job through mpirun wrote $out3 (50 frames), no partial file left"
# 4. A job array over a list, one video per array task; resubmitted, finished videos are skipped.
ffmpeg -v error -y -f lavfi -i testsrc2=size=160x120:rate=10:duration=3 -c:v libx264 \
  -preset ultrafast "$work/other.mkv" || fail "ffmpeg could not make the second clip"
printf '%s\n' "$work/short.mp4" "$work/other.mkv" >"$work/list.txt"
mkdir -p "$work/array_out"
for round in first second; do
  job=$(submit_array --wait --array=1-2 --nodes=1 --ntasks-per-node=1 scripts/slurm/vidscore.sbatch \
    "@$work/list.txt" "$work/array_out" --model "$work/invert.ts.pt") ||
    fail "array job $job ($round round) did not succeed"
done
[ "$(frames "$work/array_out/short.mp4")" = 50 ] || fail "array output short.mp4 is not 50 frames"
[ "$(frames "$work/array_out/other.mp4")" = 30 ] || fail "array output other.mp4 is not 30 frames"
skipped=$(cat "$work"/jobs/"${job}"_*.out 2>/dev/null | grep -c "exists, skipped" || true)
[ "$skipped" = 2 ] || fail "resubmitted array job $job skipped $skipped of 2 finished videos"
note "4 ok: array job over 2 videos wrote both; resubmitted as job $job: $skipped skipped"
echo "slurm-test: all passed"
