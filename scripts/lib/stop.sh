# Stopping what a script started (sourced, not run).
#   stop_pidfile FILE   stops the process whose PID FILE holds, if it runs: SIGTERM, up to 5 s, then SIGKILL.
#                       Nothing to do without the file or the process (a zombie counts as gone).
stop_pidfile() {
  [[ -f $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  _running() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }
  if _running "$pid" && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do
      _running "$pid" || break
      sleep 0.1
    done
    _running "$pid" && kill -9 "$pid" 2>/dev/null
  fi
  return 0
}
