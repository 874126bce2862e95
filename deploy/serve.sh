#!/usr/bin/env bash
# Serve CNN Explorer to a class from one machine: N Streamlit replicas behind HAProxy.
#
#   deploy/serve.sh                      2 replicas; students open http://<this machine>:8080
#   deploy/serve.sh 4                    4 replicas (same as REPLICAS=4)
#   REPLICAS=4 PORT=9000 deploy/serve.sh
#
# One Streamlit process uses about one core (the GIL), so run about one replica per core.
# HAProxy pins each browser tab to one replica with a cookie (deploy/haproxy.cfg explains why).
#
# Settings (environment, all optional):
#   REPLICAS          Streamlit processes (default 2)
#   PORT              the balancer's port (default 8080)
#   BIND_ADDRESS      the balancer's address (default 0.0.0.0, reachable from students' laptops;
#                     127.0.0.1 for this machine only)
#   BASE_PORT         replica i listens on 127.0.0.1:BASE_PORT+i-1 (default 8501)
#   STREAMLIT_SERVER_COOKIE_SECRET
#                     the same for every replica; default: read from COOKIE_SECRET_FILE
#                     (deploy/.cookie-secret, generated once with mode 600, git-ignored)
#   EXPLORER_MAX_JOBS transfer runs and feature visualisations at once per replica (default 1;
#                     more wait in a queue)
#   EXPLORER_TRAIN_SLOTS training runs computing at once per replica (default 1): every live
#                     run takes turns on them (EXPLORER_MAX_LIVE_RUNS live, default 32)
#   OMP_NUM_THREADS   torch threads per replica for the pages' computations (default: cores /
#                     REPLICAS, at least 1, so the replicas do not fight over the cores)
#   STARTUP_TIMEOUT   seconds a replica may take to answer its health check (default 300;
#                     only guards against a hang: the wait ends as soon as it is healthy)
#   STREAMLIT, HAPROXY  the programs (default: .venv/bin/streamlit, else PATH; haproxy on PATH
#                     or in /usr/sbin)
#   RUN_DIR           where the generated haproxy.cfg and the replicas' logs go (default: a
#                     new temporary folder, removed on a clean stop)
# Ctrl-C or SIGTERM stops every replica and HAProxy.
set -euo pipefail
cd "$(dirname "$0")/.."  # the repository root: Streamlit reads .streamlit/config.toml from here

REPLICAS=${1:-${REPLICAS:-2}}
PORT=${PORT:-8080}
BIND_ADDRESS=${BIND_ADDRESS:-0.0.0.0}
BASE_PORT=${BASE_PORT:-8501}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-300}
COOKIE_SECRET_FILE=${COOKIE_SECRET_FILE:-deploy/.cookie-secret}

die() { echo "serve.sh: $*" >&2; exit 1; }
[[ $REPLICAS =~ ^[1-9][0-9]*$ ]] || die "REPLICAS must be a positive number, not '$REPLICAS'"

# STREAMLIT (and the PYTHON beside it) if set, else the project's venv (make run / make test
# create it), else whatever is on PATH.
if [ -z "${STREAMLIT:-}" ] && [ -x .venv/bin/streamlit ]; then STREAMLIT=.venv/bin/streamlit; fi
STREAMLIT=${STREAMLIT:-$(command -v streamlit)} || die "streamlit not found: run 'make run' once, or pip install ."
PYTHON=${PYTHON:-$(dirname "$STREAMLIT")/python}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3) || die "python3 not found"
# Debian puts haproxy in /usr/sbin, which is not on a normal user's PATH.
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
[ -x "$HAPROXY" ] || die "haproxy not found: sudo apt-get install haproxy (or set HAPROXY=/path)"

# One secret for all replicas (Streamlit signs its cookies with it). Passed in the environment,
# not on the command line, so `ps` does not show it.
if [ -z "${STREAMLIT_SERVER_COOKIE_SECRET:-}" ]; then
  if [ ! -s "$COOKIE_SECRET_FILE" ]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$COOKIE_SECRET_FILE")
    echo "Generated a cookie secret in $COOKIE_SECRET_FILE (mode 600)."
  fi
  STREAMLIT_SERVER_COOKIE_SECRET=$(cat "$COOKIE_SECRET_FILE")
fi
export STREAMLIT_SERVER_COOKIE_SECRET

cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
export EXPLORER_MAX_JOBS=${EXPLORER_MAX_JOBS:-1}
export EXPLORER_TRAIN_SLOTS=${EXPLORER_TRAIN_SLOTS:-1}  # replicas share the cores
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / REPLICAS > 0 ? cores / REPLICAS : 1 ))}

# A port already in use would let the health checks below talk to someone else's server.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in $(seq "$BASE_PORT" $((BASE_PORT + REPLICAS - 1))) "$PORT"; do
  ! in_use "$port" || die "port $port is already in use (set BASE_PORT / PORT)"
done

own_run_dir=false
if [ -z "${RUN_DIR:-}" ]; then RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cnn-explorer.XXXXXX"); own_run_dir=true; fi
mkdir -p "$RUN_DIR"

pids=()   # every process started here; the trap stops them all
names=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ ${#pids[@]} -gt 0 ] && echo "Stopping ${#pids[@]} processes..."
  # $(jobs -p) adds anything else started in the background here (the watch loop's sleep).
  for pid in "${pids[@]}" $(jobs -p); do kill -TERM "$pid" 2>/dev/null || true; done
  # Give them 10 s to close their sessions, then kill what is left.
  for _ in $(seq 50); do
    local alive=false
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" = 0 ] && $own_run_dir; then rm -rf "$RUN_DIR"
  elif [ "$status" != 0 ]; then echo "Logs are in $RUN_DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 0' INT TERM  # Ctrl-C / SIGTERM is the normal way to stop: a clean exit

healthy() {  # healthy URL: true when Streamlit (or HAProxy in front of it) answers "ok"
  "$PYTHON" - "$1" <<'PY' 2>/dev/null
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1] + "/_stcore/health", timeout=2) as response:
    sys.exit(response.read().strip() != b"ok")
PY
}

# Wait until URL is healthy; fail at once if the process PID died (progress-based, with a cap
# that only guards against a hang).
wait_healthy() {
  local name=$1 pid=$2 url=$3 log=$4 start=$SECONDS
  until healthy "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$log" >&2 || true
      die "$name exited during start-up (log: $log)"
    fi
    (( SECONDS - start < STARTUP_TIMEOUT )) || die "$name not healthy after $STARTUP_TIMEOUT s (log: $log)"
    sleep 0.5
  done
}

echo "Starting $REPLICAS replicas (EXPLORER_MAX_JOBS=$EXPLORER_MAX_JOBS, OMP_NUM_THREADS=$OMP_NUM_THREADS each)..."
cp deploy/haproxy.cfg "$RUN_DIR/haproxy.cfg"
for i in $(seq "$REPLICAS"); do
  port=$((BASE_PORT + i - 1))
  # --server.address 127.0.0.1: only HAProxy reaches the replicas. --browser.serverAddress:
  # without it a headless Streamlit looks up this machine's external IP over the internet.
  # python -m explorer.ui.serve: streamlit run explorer/ui/server_app.py, warmed up before the first visit.
  "$PYTHON" -m explorer.ui.serve --server.port "$port" --server.address 127.0.0.1 \
    --server.headless true --browser.serverAddress localhost > "$RUN_DIR/replica-$i.log" 2>&1 &
  pids+=($!); names+=("replica $i (port $port)")
  echo "    server r$i 127.0.0.1:$port cookie r$i" >> "$RUN_DIR/haproxy.cfg"
done
for i in $(seq "$REPLICAS"); do
  wait_healthy "${names[i-1]}" "${pids[i-1]}" "http://127.0.0.1:$((BASE_PORT + i - 1))" "$RUN_DIR/replica-$i.log"
done

# HAProxy after the replicas, so its first health checks already find them UP.
export EXPLORER_BIND="$BIND_ADDRESS:$PORT"
"$HAPROXY" -c -q -f "$RUN_DIR/haproxy.cfg" || die "invalid $RUN_DIR/haproxy.cfg"
# -db: stay in the foreground of this script; its notices (a replica DOWN / UP) go to the terminal.
"$HAPROXY" -db -f "$RUN_DIR/haproxy.cfg" &
pids+=($!); names+=("haproxy")
haproxy_pid=$!
local_address=$BIND_ADDRESS; [ "$local_address" = 0.0.0.0 ] && local_address=127.0.0.1
wait_healthy haproxy "$haproxy_pid" "http://$local_address:$PORT" /dev/null

echo "CNN Explorer is serving at http://$local_address:$PORT ($REPLICAS replicas; Ctrl-C stops it)"
if [ "$BIND_ADDRESS" = 0.0.0.0 ]; then
  for ip in $(hostname -I 2>/dev/null); do echo "  on the network: http://$ip:$PORT"; done
fi

# Watch: a replica that dies is taken out by HAProxy's health check (its students reload and get
# another one); stop everything when HAProxy or the last replica is gone.
reported=()
while true; do
  kill -0 "$haproxy_pid" 2>/dev/null || die "haproxy stopped"
  alive=0
  for i in $(seq "$REPLICAS"); do
    if kill -0 "${pids[i-1]}" 2>/dev/null; then alive=$((alive + 1))
    elif [ -z "${reported[i]:-}" ]; then
      reported[i]=1
      echo "serve.sh: ${names[i-1]} stopped; see $RUN_DIR/replica-$i.log" >&2
    fi
  done
  [ "$alive" -gt 0 ] || die "every replica stopped"
  sleep 2 & wait $! || true  # wait (not a plain sleep) so Ctrl-C is handled at once
done
