# The parts the emulator scripts share (sourced, not run; claim_state needs ports.sh). NAME prefixes messages.
#   running PID                      true while PID runs (a zombie counts as gone)
#   claim_state NAME DIR PORT HINT   refuses when DIR's pid runs (HINT says how to stop it), picks PORT if 0 (a free
#                                    one) and checks nobody listens there, then wipes DIR and creates it; sets PORT
#   await_answer NAME DIR CMD...     waits up to 10 s for CMD to succeed while DIR/pid runs; fails with DIR/log's tail
#   stop_pidfile FILE                stops the process whose PID FILE holds, if it runs: SIGTERM, up to 5 s, then
#                                    SIGKILL (the down scripts; nothing to do without the file or the process)
running() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }
claim_state() {
  local name=$1 dir=$2 hint=$4
  PORT=$3
  if [[ -f $dir/pid ]] && running "$(cat "$dir/pid")"; then
    echo "$name: an instance is running in $dir; stop it with $hint" >&2
    return 1
  fi
  [[ $PORT != 0 ]] || PORT=$(free_port)
  if listening "$PORT"; then echo "$name: port $PORT already in use" >&2; return 1; fi
  rm -rf "$dir"
  mkdir -p "$dir"
}
await_answer() {
  local name=$1 dir=$2
  shift 2
  for _ in $(seq 1 100); do
    "$@" && return 0
    running "$(cat "$dir/pid")" || break
    sleep 0.1
  done
  "$@" && return 0
  echo "$name: not answering; see $dir/log" >&2
  tail -5 "$dir/log" >&2
  return 1
}
stop_pidfile() {
  [[ -f $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  if running "$pid" && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do
      running "$pid" || break
      sleep 0.1
    done
    running "$pid" && kill -9 "$pid" 2>/dev/null
  fi
  return 0
}
