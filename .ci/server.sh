# Sourced by the CI steps that talk to a running server (.ci/fuzz, .ci/client): build the binary, start
# it on a free port on a fresh database with its own secrets, mint tokens, and clean up (the server, the
# PostgreSQL database made for the run, the scratch directory) however the script ends.
#
# Use: `run_on_backend BACKEND FUNCTION`, where FUNCTION gets the backend's name and calls `start_server`
# and `stop_server` around its work. Settings: CI_DATABASE_URL (a PostgreSQL server where the user may
# create databases).

PG_URL="${CI_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
WORK="$(mktemp -d)"
SERVER_PID=""
PG_DB=""

step() { printf '\n==> %s\n' "$*"; }

cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DB" ]; then
        psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

build_server() {
    step "cargo build --locked"
    cargo build --locked
    BIN="$PWD/target/debug/action-tracker"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the server on DATABASE_URL=$2, its files and log in $WORK/$1, and waits until it is ready. Sets
# BASE_URL, SERVER_LOG and ADMIN_TOKEN; `token` mints others with the same secret. Callers run inside
# `||`, where errexit is off, so failures are returned, not left to `set -e`.
start_server() {
    local name="$1" database_url="$2" port
    SERVER_DIR="$WORK/$name"
    SERVER_LOG="$SERVER_DIR/server.log"
    mkdir -p "$SERVER_DIR/data"
    port="$(free_port)"
    BASE_URL="http://127.0.0.1:$port"
    export DATABASE_URL="$database_url" DATA_DIR="$SERVER_DIR/data" LISTEN_ADDR="127.0.0.1:$port" \
        JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" \
        LINK_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" \
        BACKGROUND_WORK=false RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_BURST=1000000 RUST_LOG=warn
    "$BIN" serve >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 60); do
        curl -fsS -o /dev/null "$BASE_URL/readyz" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; echo "the server exited" >&2; exit 1; }
        sleep 0.5
    done
    curl -fsS -o /dev/null "$BASE_URL/readyz" || { cat "$SERVER_LOG" >&2; echo "the server is not ready" >&2; return 1; }
    ADMIN_TOKEN="$(token --email ci@example.com --role admin)"
}

# `action-tracker token …` with the running server's secret.
token() {
    "$BIN" token "$@"
}

# Stops the server; fails when it panicked meanwhile.
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    if grep -q 'panicked' "$SERVER_LOG"; then
        grep -B2 -A10 'panicked' "$SERVER_LOG" >&2
        return 1
    fi
}

# Calls FUNCTION (`$2`) with the backend's name and its database URL: a file under $WORK for sqlite, a
# fresh database beside CI_DATABASE_URL for postgres, dropped afterwards. Returns FUNCTION's status.
run_on_backend() {
    local backend="$1" function="$2" status=0
    case "$backend" in
        sqlite)
            mkdir -p "$WORK/sqlite/data"
            "$function" sqlite "$WORK/sqlite/data/action-tracker.db" || status=$?
            ;;
        postgres)
            PG_DB="ci_$(date +%s)_$$"
            psql "$PG_URL" -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
            "$function" postgres "${PG_URL%/*}/$PG_DB" || status=$?
            psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
            PG_DB=""
            ;;
        *)
            echo "unknown backend $backend (sqlite or postgres)" >&2
            exit 2
            ;;
    esac
    return "$status"
}
