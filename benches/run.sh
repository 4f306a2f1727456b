#!/usr/bin/env bash
# Load benchmark of the real routes against a seeded database, with PostgreSQL's own pgbench as the
# yardstick, and a benchmark of the reminder sweep. Prints Markdown tables; BENCHMARKS.md explains them.
#
#   benches/run.sh                                   # SQLite in a temporary directory
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test benches/run.sh    # PostgreSQL
#
# Settings (environment): ACTIONS [1000000], CLIENTS [16], DURATION seconds per scenario [15], ROUNDS of
# the interleaved ratio runs against pgbench on PostgreSQL [3],
# REMINDER_ACTIONS [100000], REMINDER_OWNERS [10000], SMTP_CONNECTIONS for the sweep [32: a relay that
# allows that many; the service defaults to 8], DATABASE_POOL_SIZE [the service's default, 2 per HTTP
# worker]. Installs wrk (Debian) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONS="${ACTIONS:-1000000}"
CLIENTS="${CLIENTS:-16}"
DURATION="${DURATION:-15}"
ROUNDS="${ROUNDS:-3}"
REMINDER_ACTIONS="${REMINDER_ACTIONS:-100000}"
REMINDER_OWNERS="${REMINDER_OWNERS:-10000}"
SMTP_CONNECTIONS="${SMTP_CONNECTIONS:-32}"
PORT=18080
BASE="http://127.0.0.1:$PORT"

say() { printf '\n==> %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1 || [ ! -x /usr/bin/time ]; then
    say "installing wrk and GNU time"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk time >/dev/null
fi
PGBENCH="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1 || true)"

say "building the release binary"
cargo build --release --locked -q
BIN="$PWD/target/release/action-tracker"

WORK="$(mktemp -d)"
SERVICE_PID=""
SINK_PID=""
CREATED_DATABASES=()
[ -n "${TEST_DATABASE_URL:-}" ] && CREATED_DATABASES=(at_bench at_pgbench at_bench_reminders)
CLK_TCK="$(getconf CLK_TCK)"
cleanup() {
    [ -n "$SERVICE_PID" ] && kill "$SERVICE_PID" 2>/dev/null || true
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
    # The PostgreSQL databases it made hold gigabytes; leave none behind.
    for name in "${CREATED_DATABASES[@]}"; do
        psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# The per-token rate limit is off: the load generator is one client sending as fast as it can.
export DATA_DIR="$WORK" RUST_LOG=warn BACKGROUND_WORK=false LISTEN_ADDR="127.0.0.1:$PORT" RATE_LIMIT_PER_MINUTE=0
JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
LINK_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
export JWT_SECRET LINK_SECRET

# A fresh database per run: a PostgreSQL database beside TEST_DATABASE_URL's, or a SQLite file.
fresh_database() {
    local name="$1"
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null 2>&1
        # The same server and parameters (sslmode=disable, say) with another database name, for the
        # service and pgbench alike.
        local base="${TEST_DATABASE_URL%%\?*}" query=""
        [ "$base" != "$TEST_DATABASE_URL" ] && query="?${TEST_DATABASE_URL#*\?}"
        echo "${base%/*}/$name$query"
    else
        echo "$WORK/$name.db"
    fi
}
BACKEND="SQLite"
[ -n "${TEST_DATABASE_URL:-}" ] && BACKEND="PostgreSQL"

export DATABASE_URL
DATABASE_URL="$(fresh_database at_bench)"
say "seeding $ACTIONS actions ($BACKEND)"
SEED_OUTPUT="$("$BIN" seed --incidents 1000 --actions "$ACTIONS" 2>&1 | tail -n 1)"
echo "$SEED_OUTPUT" >&2
# Seeding writes gigabytes of WAL; flush it now rather than during the first scenario.
[ -n "${TEST_DATABASE_URL:-}" ] && psql "$DATABASE_URL" -qc "CHECKPOINT" >/dev/null

say "starting the service"
"$BIN" serve >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 100); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done
TOKEN="$("$BIN" token --email bench@example.com --role admin --ttl 2h)"
AUTH="Authorization: Bearer $TOKEN"
ACTION_ID="$(curl -fs "$BASE/api/v1/actions?limit=1&sort=-created_at" -H "$AUTH" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
INCIDENT_ID="$(curl -fs "$BASE/api/v1/incidents?limit=1" -H "$AUTH" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
ETAG="$(curl -fs -D - -o /dev/null "$BASE/api/v1/actions/$ACTION_ID" -H "$AUTH" | tr -d '\r' | awk 'tolower($1)=="etag:"{print $2}')"
# Every action's id, for GET by id of a uniformly random action, as pgbench -S draws uniformly random rows:
# one fixed id is served from cache and flattered the ratio to pgbench by about 1.2x.
# One value or list from the service's database, on either backend.
sql_lines() {
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        psql "$DATABASE_URL" -Atqc "$1"
    else
        python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print(*row)' "$DATABASE_URL" "$1"
    fi
}
sql_lines "SELECT id FROM actions" >"$WORK/all_ids.txt"
# The open actions in random order, for PATCHes that each change a different action: pgbench -N
# updates uniformly random rows too, and a PATCH that repeats an action's status changes nothing and
# writes nothing (200 ids drawn in the same order by every wrk thread made most PATCHes such no-ops
# up to the twelfth round, and kept every index page they touched hot).
sql_lines "SELECT id FROM actions WHERE status = 'open' ORDER BY random()" >"$WORK/open_ids.txt"
PATCH_RUNS=$(( ROUNDS + 1 ))

# The list without an owner (its matches are a quarter of all actions), and the page 50 pages in of a list,
# reached by following next_cursor as a client does.
OWNERLESS="status=open,in_progress&overdue=true&limit=50"
OWNER="owner=owner1@example.com&status=open,in_progress,blocked&overdue=true&limit=50"
# An owner holds about 100 actions, a quarter of them overdue: fewer than one page of 50. Page 50 of an
# owner's list is therefore page 50 of all their actions one at a time.
OWNER_DEEP="owner=owner1@example.com&limit=1"
page_50() {
    local query="$1" cursor="" n
    for n in $(seq 2 50); do
        cursor="$(curl -fs "$BASE/api/v1/actions?$query${cursor:+&cursor=$cursor}" -H "$AUTH" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")')"
        [ -n "$cursor" ] || { echo "the list $query has fewer than 50 pages" >&2; exit 1; }
    done
    echo "$BASE/api/v1/actions?$query&cursor=$cursor"
}
OWNERLESS_50="$(page_50 "$OWNERLESS")"
OWNER_50="$(page_50 "$OWNER_DEEP")"

# wrk scripts: a GET of a random action, a PATCH that changes the status of an open action, and a POST of a new action.
cat >"$WORK/get.lua" <<EOF
local ids = {}
init = function(args)
  for line in io.lines("$WORK/all_ids.txt") do ids[#ids + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
request = function()
  return wrk.format("GET", "/api/v1/actions/" .. ids[math.random(#ids)], {["Authorization"] = "Bearer $TOKEN"})
end
EOF
# Each PATCH run (its number is the script's argument) and each of wrk's two threads walks its own slice
# of the shuffled open actions, moving each to in_progress or blocked: every request a real change. A
# thread that runs out asks for an action that does not exist, so the row shows non-2xx responses.
cat >"$WORK/patch.lua" <<EOF
local thread_count = 0
setup = function(thread)
  thread:set("thread_number", thread_count)
  thread_count = thread_count + 1
end
local ids = {}
local next_index, last_index
init = function(args)
  for line in io.lines("$WORK/open_ids.txt") do ids[#ids + 1] = line end
  local slice = math.floor(#ids / ($PATCH_RUNS * 2))
  next_index = (tonumber(args[1]) * 2 + thread_number) * slice
  last_index = next_index + slice
  math.randomseed(os.time() * 2 + thread_number)
end
local statuses = {"in_progress", "blocked"}
request = function()
  next_index = next_index + 1
  local id = next_index <= last_index and ids[next_index] or "00000000-0000-0000-0000-000000000000"
  local body = '{"status": "' .. statuses[math.random(#statuses)] .. '"}'
  return wrk.format("PATCH", "/api/v1/actions/" .. id, {["Authorization"] = "Bearer $TOKEN", ["Content-Type"] = "application/merge-patch+json", ["If-Match"] = "*"}, body)
end
EOF
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"incident_id": "$INCIDENT_ID", "title": "Benchmark action", "owner_email": "owner1@example.com", "due_date": "2030-01-01"}'
EOF

# CPU time (user + system, in clock ticks) used so far by the given processes; a process gone meanwhile
# is left out, which is why the service's pool keeps its connections (and their backends) for the run.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        # Fields 14 and 15 counted after the command name, which is in parentheses and may hold spaces.
        total=$(( total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}') ))
    done
    echo "$total"
}
# The PostgreSQL server's processes (postmaster, backends, walwriter, …); none on SQLite.
postgres_pids() {
    [ -n "${TEST_DATABASE_URL:-}" ] && pgrep -x postgres || true
}
# Microseconds of CPU per request: ticks used over requests served.
per_request() {
    python3 -c "import sys; t, n = int(sys.argv[1]), int(sys.argv[2]); print(f'{t * 1e6 / $CLK_TCK / n:.0f} µs' if n else 'n/a')" "$1" "$2"
}

ROWS=()
LAST_RPS=""
LAST_ANSWERED=0
# One wrk run: adds "label | req/s | p50 | p99 | non-2xx/3xx | service CPU/request | PostgreSQL CPU/request"
# to ROWS, and leaves the rate in LAST_RPS.
measure() {
    local label="$1"; shift
    local out service_before postgres_before service_used postgres_used
    local pg_pids
    pg_pids="$(postgres_pids)"
    service_before="$(cpu_ticks "$SERVICE_PID")"
    # shellcheck disable=SC2086 # one pid per word
    postgres_before="$(cpu_ticks $pg_pids)"
    out="$(wrk -t 2 -c "$CLIENTS" -d "${DURATION}s" --latency "$@" 2>&1)"
    service_used=$(( $(cpu_ticks "$SERVICE_PID") - service_before ))
    # shellcheck disable=SC2086
    postgres_used=$(( $(cpu_ticks $pg_pids) - postgres_before ))
    local rps p50 p99 errors requests service_cpu postgres_cpu="n/a (SQLite)"
    rps="$(awk '/Requests\/sec/{print $2}' <<<"$out")"
    p50="$(awk '$1=="50%"{print $2}' <<<"$out")"
    p99="$(awk '$1=="99%"{print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx or 3xx/{print $5}' <<<"$out")"
    requests="$(awk '/requests in/{print $1}' <<<"$out")"
    service_cpu="$(per_request "$service_used" "${requests:-0}")"
    [ -n "${TEST_DATABASE_URL:-}" ] && postgres_cpu="$(per_request "$postgres_used" "${requests:-0}")"
    LAST_RPS="$rps"
    LAST_ANSWERED=$(( ${requests:-0} - ${errors:-0} ))
    ROWS+=("| $label | $rps | $p50 | $p99 | ${errors:-0} | $service_cpu | $postgres_cpu |")
    say "$label: $rps req/s, p50 $p50, p99 $p99, non-2xx/3xx ${errors:-0}, CPU per request: service $service_cpu, PostgreSQL $postgres_cpu"
    settle
}

# Requests wrk gave up on may still be running; wait until the service answers promptly again, so one
# scenario's backlog does not count against the next.
settle() {
    for _ in $(seq 1 240); do
        local took
        took="$(curl -s -o /dev/null -w '%{time_total}' "$BASE/api/v1/actions/$ACTION_ID" -H "$AUTH" || echo 9)"
        python3 -c "import sys; sys.exit(0 if float('$took') < 0.05 else 1)" && return 0
        sleep 0.5
    done
}

# One uncached /stats on its own before any load (the median of five), while the tallies are as `seed`
# built them.
STATS_IDLE="$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$BASE/api/v1/stats" -H "$AUTH"; done |
    sort -n | sed -n 3p)"

say "warming up: connections, prepared statements and the page cache"
wrk -t 2 -c "$CLIENTS" -d 5s -H "$AUTH" "$BASE/api/v1/actions/$ACTION_ID" >/dev/null 2>&1
settle
say "measuring at $CLIENTS connections, ${DURATION}s each"
measure "GET /actions/{id}, a random one of all" -s "$WORK/get.lua" "$BASE"
GET_RPS="$(awk -F'|' '{print $3}' <<<"${ROWS[0]}" | tr -d ' ')"
measure "GET /actions?owner&status&overdue&limit=50" -H "$AUTH" "$BASE/api/v1/actions?$OWNER"
measure "GET /actions?owner&limit=1, page 50 by cursor" -H "$AUTH" "$OWNER_50"
measure "GET /actions?status&overdue&limit=50 (no owner)" -H "$AUTH" "$BASE/api/v1/actions?$OWNERLESS"
measure "GET /actions?status&overdue&limit=50 (no owner), page 50 by cursor" -H "$AUTH" "$OWNERLESS_50"
measure "GET /stats" -H "$AUTH" "$BASE/api/v1/stats"
measure "GET /actions/{id}, If-None-Match → 304" -H "$AUTH" -H "If-None-Match: $ETAG" "$BASE/api/v1/actions/$ACTION_ID"
UPDATED_BEFORE="$(sql_lines "SELECT count(*) FROM events WHERE kind = 'updated'")"
measure "PATCH /actions/{id} status, If-Match" -s "$WORK/patch.lua" "$BASE" -- 0
PATCHES_ANSWERED=$LAST_ANSWERED
measure "POST /incidents/{id}/actions" -s "$WORK/post.lua" "$BASE/api/v1/incidents/$INCIDENT_ID/actions"
RSS_KB="$(awk '/VmHWM/{print $2}' "/proc/$SERVICE_PID/status")"
STATS_COLD="$(curl -s -o /dev/null -w '%{time_total}' "$BASE/api/v1/stats" -H "$AUTH")"

# The ratios to PostgreSQL's own pgbench, in rounds that alternate the service and pgbench so that both
# sides see the same machine state; each ratio is of the medians. pgbench -S reads a uniformly random row
# (as the GET does), pgbench -N updates a random row, reads it back and inserts one in a transaction (as a
# write does).
RATIO_ROWS=()
if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "$PGBENCH" ]; then
    PGB_URL="$(fresh_database at_pgbench)"
    "$PGBENCH" -i -q -s 10 "$PGB_URL" >/dev/null 2>&1
    pgbench_tps() {
        "$PGBENCH" "$@" -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" "$PGB_URL" 2>/dev/null | awk '/^tps/{print $3; exit}'
    }
    GETS=(); PATCHES=(); POSTS=(); SELECT_ONLY=(); SIMPLE_UPDATE=()
    for round in $(seq 1 "$ROUNDS"); do
        say "ratio round $round of $ROUNDS"
        measure "round $round: GET /actions/{id}, a random one of all" -s "$WORK/get.lua" "$BASE"; GETS+=("$LAST_RPS")
        SELECT_ONLY+=("$(pgbench_tps -S)")
        measure "round $round: PATCH /actions/{id} status, If-Match" -s "$WORK/patch.lua" "$BASE" -- "$round"
        PATCHES+=("$LAST_RPS"); PATCHES_ANSWERED=$(( PATCHES_ANSWERED + LAST_ANSWERED ))
        measure "round $round: POST /incidents/{id}/actions" -s "$WORK/post.lua" "$BASE/api/v1/incidents/$INCIDENT_ID/actions"
        POSTS+=("$LAST_RPS")
        SIMPLE_UPDATE+=("$(pgbench_tps -N)")
        say "pgbench -S ${SELECT_ONLY[-1]} TPS, pgbench -N ${SIMPLE_UPDATE[-1]} TPS"
    done
    median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
    ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
    GET_M="$(median "${GETS[@]}")"; PATCH_M="$(median "${PATCHES[@]}")"; POST_M="$(median "${POSTS[@]}")"
    S_M="$(median "${SELECT_ONLY[@]}")"; N_M="$(median "${SIMPLE_UPDATE[@]}")"
    RATIO_ROWS+=("| GET /actions/{id}, a random one ÷ pgbench -S | $GET_M | $S_M | $(ratio "$GET_M" "$S_M") |")
    RATIO_ROWS+=("| PATCH /actions/{id} status ÷ pgbench -N | $PATCH_M | $N_M | $(ratio "$PATCH_M" "$N_M") |")
    RATIO_ROWS+=("| POST /incidents/{id}/actions ÷ pgbench -N | $POST_M | $N_M | $(ratio "$POST_M" "$N_M") |")
fi
kill "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null || true; SERVICE_PID=""
UPDATED_EVENTS=$(( $(sql_lines "SELECT count(*) FROM events WHERE kind = 'updated'") - UPDATED_BEFORE ))

GET_SQL_TPS="n/a (SQLite)"
SAME_RATIO="n/a"
if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "$PGBENCH" ]; then
    # GET by id's own work: one index lookup of the action's row, which holds its tags, ticket links and
    # whether its owner left. pgbench draws numbers, not ids; both are unique b-tree lookups.
    say "pgbench with the GET's own statement at $CLIENTS clients"
    cat >"$WORK/get.sql" <<'SQL'
\set n random(1, :actions)
SELECT a.*
FROM actions a WHERE a.number = :n LIMIT 1;
SQL
    GET_SQL_TPS="$("$PGBENCH" -n -M prepared -D actions="$ACTIONS" -f "$WORK/get.sql" -c "$CLIENTS" -j 2 -T "$DURATION" "$DATABASE_URL" \
        2>/dev/null | awk '/^tps/{print $3; exit}')"
    SAME_RATIO="$(python3 -c "print(f'{float(\"$GET_RPS\") / float(\"$GET_SQL_TPS\"):.2f}')")"
fi

say "reminder sweep: $REMINDER_ACTIONS overdue actions over $REMINDER_OWNERS owners, delivered to a local SMTP sink"
cat >"$WORK/sink.py" <<'EOF'
# A minimal SMTP server that accepts and discards every message (Python 3.11's smtpd).
import asyncore, smtpd, sys, warnings
warnings.simplefilter("ignore")
class Sink(smtpd.SMTPServer):
    def process_message(self, *args, **kwargs):
        return None
sink = Sink(("127.0.0.1", int(sys.argv[1])), None)
sink.socket.listen(128)  # smtpd listens with a backlog of 5, too few for SMTP_CONNECTIONS connecting at once
asyncore.loop()
EOF
python3 "$WORK/sink.py" 12525 >/dev/null 2>&1 &
SINK_PID=$!
DATABASE_URL="$(fresh_database at_bench_reminders)"
"$BIN" seed --incidents 100 --actions "$REMINDER_ACTIONS" --owners "$REMINDER_OWNERS" --all-overdue >/dev/null 2>&1
# A Wednesday at 10:00 UTC: a business day after the send hour.
AS_OF="$(python3 -c 'import datetime as d; t=d.date.today(); t+=d.timedelta((2-t.weekday())%7); print(f"{t}T10:00:00Z")')"
REMIND_START="$(date +%s.%N)"
REMIND_OUT="$(/usr/bin/time -f 'peak_rss_kb %M' env SMTP_URL="smtp://127.0.0.1:12525" MAIL_MAX_ATTEMPTS=1 \
    SMTP_CONNECTIONS="$SMTP_CONNECTIONS" \
    "$BIN" remind --once --as-of "$AS_OF" 2>&1 >/dev/null || true)"
REMIND_END="$(date +%s.%N)"
echo "$REMIND_OUT" | tail -n 3 >&2
QUEUED_LINE="$(grep '^queued' <<<"$REMIND_OUT" || true)"
REMIND_RSS="$(awk '/peak_rss_kb/{print $2}' <<<"$REMIND_OUT")"

cat <<EOF

## $BACKEND — $(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)

Seed: $SEED_OUTPUT. $CLIENTS connections, ${DURATION} s per row, wrk 2 threads, service and database on the same machine.
Database pool: ${DATABASE_POOL_SIZE:-2 (the default)} per HTTP worker, $(nproc) workers; kernel autogroup scheduling: $(case "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" in 1) echo on;; 0) echo off;; *) echo unknown;; esac).

| Scenario | Requests/s | p50 | p99 | Non-2xx/3xx | Service CPU/request | PostgreSQL CPU/request |
| --- | --- | --- | --- | --- | --- | --- |
$(printf '%s\n' "${ROWS[@]}")

CPU per request: user + system time of the service's process, and of all PostgreSQL server processes,
over the requests wrk completed in that row (so it includes what the machine spent on requests wrk gave up on).

$(if [ "${#RATIO_ROWS[@]}" -gt 0 ]; then
    printf '%s\n' "Against pgbench -M prepared, $CLIENTS clients, median of $ROUNDS interleaved rounds (scale 10):" "" \
        "| Service ÷ pgbench | Service req/s | pgbench TPS | Ratio |" "| --- | --- | --- | --- |"
    printf '%s\n' "${RATIO_ROWS[@]}"
else
    echo "No pgbench ratios: SQLite."
fi)

- pgbench with the GET's own statement, $CLIENTS clients: $GET_SQL_TPS TPS; GET by id (first row) ÷ that: $SAME_RATIO
- /stats uncached, one request on its own: $(python3 -c "print(f'{float(\"$STATS_IDLE\")*1000:.0f} ms')") before the load; $(python3 -c "print(f'{float(\"$STATS_COLD\")*1000:.0f} ms')") after it, adding up the PATCH and POST rows' changes, which nothing folded (\`BACKGROUND_WORK=false\`)
- Peak RSS of the service: $((RSS_KB / 1024)) MB
- PATCH rows: $PATCHES_ANSWERED requests answered 2xx, $UPDATED_EVENTS \`updated\` events written (each PATCH changes a different open action; requests wrk gave up on at the end of a row may add events)

Reminder sweep ($REMINDER_ACTIONS overdue actions, $REMINDER_OWNERS owners, local SMTP sink, SMTP_CONNECTIONS=$SMTP_CONNECTIONS):
\`$QUEUED_LINE\`; wall time $(python3 -c "print(f'{$REMIND_END - $REMIND_START:.1f} s')"), peak RSS $((${REMIND_RSS:-0} / 1024)) MB.
EOF
