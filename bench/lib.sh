# Shell helpers shared by the bench/run_*.sh scripts: the processes a script starts (stopped at
# exit), free ports, readiness waits, /proc figures and the KEY=VALUE fields of result lines.
# Source it after `set -euo pipefail`; it sets an EXIT trap.

ticks=$(getconf CLK_TCK)
pids=()         # processes to stop at exit: append each one started
scratch_dirs=() # folders to delete at exit

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ((${#scratch_dirs[@]} == 0)) || rm -rf "${scratch_dirs[@]}"
}
trap bench_cleanup EXIT

# stop_pid PID: SIGTERM, wait for it, and forget it.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${pids[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: waits up to 60 s for a 2xx answer.
wait_http() {
  for _ in $(seq 1 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$(basename "$0"): $1 never answered" >&2
  return 1
}

# cpu_ticks PID...: utime + stime of the processes, in clock ticks ($ticks a second).
cpu_ticks() {
  local pid sum=0
  for pid in "$@"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$sum"
}

peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# field KEY LINE: the value of the first KEY=value in LINE.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -1; }

# median: of the numbers on stdin, one a line.
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
