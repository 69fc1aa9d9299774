#!/usr/bin/env bash
# Load benchmark for app/: requests/s and p99 latency of GET /health and GET /notes/{id}, on loopback only.
# Starts its own throw-away PostgreSQL and one `python -m app serve` process, runs wrk for a bounded time, cleans up.
#   bench/app_load.sh            # DURATION=10s CONNECTIONS=32 THREADS=2 by default
# Needs: wrk (apt-get install -y wrk), PostgreSQL server binaries (apt-get install postgresql), the project venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
INITDB=$(command -v initdb || echo /usr/lib/postgresql/15/bin/initdb)
PG_BIN=$(dirname "$INITDB")
[ -x "$PG_BIN/pg_ctl" ] || { echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2; exit 1; }

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d /tmp/app-bench.XXXXXX)
as_postgres=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
  chown postgres "$work"
  as_postgres=(runuser -u postgres --)
fi
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" || true
  "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

pg_port=$(free_port)
"${as_postgres[@]}" "$INITDB" -D "$work/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
"${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$work" start >/dev/null

app_port=$(free_port)
export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres" DB_SSLMODE=disable HOST=127.0.0.1 PORT=$app_port
"$PYTHON" -m app migrate >/dev/null
# One server process, as in the task; its JSON request log is written (to a file) as in production.
"$PYTHON" -m app serve >"$work/app.log" 2>&1 &
server_pid=$!
base=http://127.0.0.1:$app_port
note_id=$("$PYTHON" - "$base" <<'PY'
import sys, time, httpx
base = sys.argv[1]
for _ in range(100):
    try:
        httpx.get(f"{base}/health").raise_for_status()
        break
    except httpx.HTTPError:
        time.sleep(0.1)
print(httpx.post(f"{base}/notes", json={"title": "benchmark", "body": "x" * 200}).json()["id"])
PY
)

echo "machine: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; 1 uvicorn process"
for path in /health "/notes/$note_id"; do
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$base$path")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || echo "no errors")
  printf '%-16s %10s req/s   p50 %8s   p99 %8s   (%s)\n' "GET $path" "$rps" "$p50" "$p99" "$errors"
done
