# lib.sh — shared by the integration tests: start the real binaries on
# loopback in a scratch directory, wait for them, clean up whatever happens.
# Sourced; expects PINGYI_BIN (the build dir) and PINGYI_SRC (the source dir).
set -euo pipefail

BIN=${PINGYI_BIN:?PINGYI_BIN must name the build directory}
SRC=${PINGYI_SRC:?PINGYI_SRC must name the source directory}
WORK=$(mktemp -d /tmp/pingyi-it.XXXXXX)
declare -A PIDS=()

cleanup() {
  local rc=$?
  for name in "${!PIDS[@]}"; do
    kill -9 "${PIDS[$name]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ $rc -ne 0 ]; then
    echo "--- logs (test failed, work dir $WORK) ---"
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      echo "=== $f (last 30 lines)"
      tail -n 30 "$f"
    done
  fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

pass() {
  echo "ok: $*"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# drill_definition [SRC]: print the path of a copy of SRC (default: the
# example election) without the venues' "issued", for drills that send more
# ballots than the real meeting issued (the definition's issued bounds a close).
drill_definition() {
  local src=${1:-$SRC/examples/2022-district-review.json} out=$WORK/drill-election.json
  python3 - "$src" "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8-sig"))
for v in d["venues"]:
    v.pop("issued", None)
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
  echo "$out"
}

# setup_deploy DEFINITION [WORKERS]: create $WORK/deploy.
setup_deploy() {
  "$BIN/pingyi" init "$1" "$WORK/deploy" --workers "${2:-2}" >/dev/null
  PORT=$(free_port)
  ENDPOINT="tcp://127.0.0.1:$PORT"
}

start_broker() {
  "$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT" --stats-every 0 >>"$WORK/broker.log" 2>&1 &
  PIDS[broker]=$!
  wait_for_log "$WORK/broker.log" "listening on" 10
}

# start_worker ID SHARDS [extra flags]: with --create (a first start may
# create the shards; a restart with it changes nothing: a shard with a
# manifest must still have its files).
start_worker() {
  local id=$1 shards=$2
  shift 2
  "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id "$id" --broker "$ENDPOINT" --data "$WORK/data" \
    --shards "$shards" --create "$@" >>"$WORK/worker$id.log" 2>&1 &
  PIDS[worker$id]=$!
}

stop() {
  local name=$1 sig=${2:-TERM}
  local pid=${PIDS[$name]:-}
  [ -n "$pid" ] || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$name]"
}

# untimed FILE: FILE with the RFC 3339 time that starts each log line
# removed ("2026-12-06T07:51:16.123Z pingyi-worker error: X" becomes
# "pingyi-worker error: X"), for a test that compares a whole log line.
untimed() {
  sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z //' "$1"
}

# wait_for_log FILE REGEX SECONDS
wait_for_log() {
  local file=$1 pattern=$2 limit=$3 i=0
  while ! grep -qE "$pattern" "$file" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le $((limit * 10)) ] || fail "timed out waiting for /$pattern/ in $file"
    sleep 0.1
  done
}

# wait_workers N: the broker has seen N worker registrations (cumulative).
wait_workers() {
  local n=$1 i=0
  while [ "$(grep -c 'owns shards' "$WORK/broker.log" 2>/dev/null || true)" -lt "$n" ]; do
    i=$((i + 1))
    [ $i -le 100 ] || fail "timed out waiting for $n worker registrations"
    sleep 0.1
  done
}

# accepted_now: ballots committed so far in all shards, read offline.
accepted_now() {
  "$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json 2>/dev/null |
    python3 -c 'import json,sys; print(sum(v["accepted"] for v in json.load(sys.stdin)["venues"]))' 2>/dev/null ||
    echo 0
}

# wait_accepted MIN: until at least MIN ballots are committed (30 s at most),
# so a fault is injected mid-run whatever the machine's speed.
wait_accepted() {
  local min=$1 i=0
  while [ "$(accepted_now)" -lt "$min" ]; do
    i=$((i + 1))
    [ $i -le 300 ] || fail "timed out waiting for $min committed ballots"
    sleep 0.1
  done
}

# start_agg: the aggregator on a free port, polling every 200 ms, its history
# in $WORK/agg-data; sets AGG_URL once it listens.
start_agg() {
  local port
  port=$(free_port)
  "$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$port" \
    --interval-ms 200 --data "$WORK/agg-data" "$@" >>"$WORK/agg.log" 2>&1 &
  PIDS[agg]=$!
  wait_for_log "$WORK/agg.log" "listening on" 10
  AGG_URL="http://127.0.0.1:$port"
}

# wait_agg_whole ACCEPTED RECONCILED [TALLY_OUT]: until the aggregator's
# summary shows ACCEPTED ballots, RECONCILED venues and no stale shard (30 s
# at most); then, if given, saves its released tally (/api/v1/tally) there.
wait_agg_whole() {
  python3 - "$AGG_URL" "$1" "$2" "${3:-}" <<'PY' || fail "the aggregator never showed the whole count ($1 ballots, $2 venues)"
import json, sys, time, urllib.request
url, want, venues, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for _ in range(300):
    try:
        s = json.load(urllib.request.urlopen(url + "/api/v1/summary", timeout=5))
        if s["status"]["accepted"] == want and s["status"]["reconciled"] == venues and s["stale_shards"] == 0:
            if out:
                open(out, "wb").write(urllib.request.urlopen(url + "/api/v1/tally", timeout=5).read())
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
}
