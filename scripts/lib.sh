# shellcheck shell=bash
# lib.sh -- shell helpers the scripts and tests of ffpool share. Source it:
#   . "$here/scripts/lib.sh"      ($here: the repository root)

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds
# (status 0) or SECONDS have passed (status 1).
wait_until() {
  local seconds=$1 k
  shift
  for ((k = 0; k < seconds * 20; k++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
