# Port helpers for the scripts that start servers (sourced, not run).
#   listening PORT     true if something accepts connections on 127.0.0.1:PORT
#   free_port [PORT…]  prints a port from 20000-59999 that nobody listens on and that is not one of the
#                      arguments. A tiny race with another process binding it meanwhile is accepted: the server
#                      started on it then fails to bind, and its script fails.
listening() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    [[ " $* " == *" $p "* ]] && continue
    listening "$p" || { echo "$p"; return 0; }
  done
  echo "no free port found" >&2
  return 1
}
