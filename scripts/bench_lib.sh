# Helpers of the benchmark scripts (sourced; $work must be set to a scratch folder).

seconds() {  # command...: wall seconds of the command (its output goes to $work/last.log)
  /usr/bin/time -f "%e" -o "$work/time.txt" "$@" >"$work/last.log" 2>&1 ||
    { cat "$work/last.log" >&2; return 1; }
  cat "$work/time.txt"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
calc() { python3 -c "print(f'{$1:.${2:-2}f}')"; }
