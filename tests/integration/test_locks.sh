#!/usr/bin/env bash
# One process per data directory (docs/worker.md "Running it", docs/aggregator.md
# "History store"): while worker 1 counts, a second pingyi-worker on the same
# --data and shards is refused at once (exit 2) naming the holder's pid, and
# worker 1 goes on counting: every venue completes exactly and recounts.  The
# lock goes with the holder (SIGKILL, then a restart opens the shards).  A
# second pingyi-agg on the same --data is refused (exit 2) naming its holder.
# A worker started with the wrong --id for its shards is refused (exit 2).
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_BALLOTS:-4000}
setup_deploy "$(drill_definition)" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

# second_worker WHEN: a second worker on worker 1's directory and shards is
# refused at once, exit 2, naming worker 1's pid and lock file; worker 1 lives on.
second_worker() {
  local rc=0
  timeout 30 "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id 1 --broker "$ENDPOINT" --data "$WORK/data" \
    --shards 0-3 >"$WORK/second-worker.log" 2>&1 || rc=$?
  [ $rc -ne 124 ] || fail "$1: the second worker did not give up within 30 s (blocked on the shard?)"
  [ $rc -eq 2 ] || fail "$1: the second worker exited $rc, expected 2"
  local want="pingyi-worker error: $WORK/data/shard-00: in use by another worker (pid ${PIDS[worker1]}, $WORK/data/shard-00/worker.lock): one worker per shard directory"
  grep -qxF "$want" <(untimed "$WORK/second-worker.log") ||
    fail "$1: second worker: expected '$want', got: $(cat "$WORK/second-worker.log")"
  kill -0 "${PIDS[worker1]}" 2>/dev/null || fail "$1: worker 1 died"
  [ "$(tr -d '\n' <"$WORK/data/shard-00/worker.lock")" = "${PIDS[worker1]}" ] ||
    fail "$1: worker.lock does not hold worker 1's pid"
  [ "$(stat -c %a "$WORK/data/shard-00/worker.lock")" = 600 ] || fail "$1: worker.lock is not mode 0600"
}

# before any ballot (so everything on shards 0-3 is counted after a refusal)
second_worker "before the count"
clients=()
seed=21
for v in v01 v02 v03; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT" --generate "$N" --seed $seed \
    --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" --json \
    >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  clients+=($!)
  seed=$((seed + 1))
done
wait_accepted $((N / 4))
second_worker "mid-count"
pass "a second worker on the same --data and shards is refused (exit 2) naming the holder's pid"

for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero"; done
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally.json" "$WORK"/expect-v0*.json \
  || fail "the count differs from the generators' expectation"
python3 - "$WORK/tally.json" "$N" <<'PY' || fail "venue figures"
import json, sys
t = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert len(t["venues"]) == 3, t["venues"]
for v in t["venues"]:
    assert v["closed"] is True, v
    assert v["issued"] == n and v["collected"] == n and v["sent"] == n, v
    assert v["rejected"] == 0, v
assert sum(s["sequence"] for s in t["shards"] if s["shard"] < 4) > 0, t["shards"]  # worker 1 counted
PY
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --recount >/dev/null 2>"$WORK/recount.log" \
  || fail "recount differs: $(cat "$WORK/recount.log")"
pass "worker 1 kept counting: 3 venues x $N ballots counted exactly; recount matches"

# --- the lock goes with its holder: after SIGKILL a new worker 1 opens the shards
stop worker1 KILL
start_worker 1 0-3
i=0
while [ "$(grep -c 'worker 1 running' "$WORK/worker1.log" || true)" -lt 2 ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "worker 1 did not restart after SIGKILL"
  sleep 0.1
done
kill -0 "${PIDS[worker1]}" 2>/dev/null || fail "the restarted worker 1 died"
[ "$(tr -d '\n' <"$WORK/data/shard-00/worker.lock")" = "${PIDS[worker1]}" ] || fail "worker.lock not rewritten"
stop worker1
pass "after SIGKILL the lock is free: worker 1 restarts on the same --data"

# --- a second aggregator on the same --data
"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http 127.0.0.1:0 --data "$WORK/agg-data" \
  >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "listening on" 10
rc=0
timeout 30 "$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http 127.0.0.1:0 \
  --data "$WORK/agg-data" >"$WORK/second-agg.log" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "the second aggregator exited $rc, expected 2"
want="pingyi-agg error: $WORK/agg-data: in use by another aggregator (pid ${PIDS[agg]}, $WORK/agg-data/aggregator.lock): one aggregator per data directory"
grep -qxF "$want" <(untimed "$WORK/second-agg.log") || fail "second aggregator: expected '$want', got: $(cat "$WORK/second-agg.log")"
kill -0 "${PIDS[agg]}" 2>/dev/null || fail "the first aggregator died"
stop agg
"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http 127.0.0.1:0 --data "$WORK/agg-data" \
  >>"$WORK/agg2.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg2.log" "listening on" 10
stop agg
pass "a second aggregator on the same --data is refused (exit 2) naming the holder's pid; free after it stops"

# --- the wrong --id for the shards (worker 2 is assigned 4-7)
rc=0
timeout 30 "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id 2 --broker "$ENDPOINT" --data "$WORK/data-wrong" \
  --shards 0-3 >"$WORK/wrong-id.log" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "the worker with the wrong --id exited $rc, expected 2"
want="pingyi-worker error: --shards 0-3: shard 0 is not assigned to worker 2 (keyring.tsv assigns 4-7), and its bundle $WORK/deploy/worker/2 holds no secret for it"
grep -qxF "$want" <(untimed "$WORK/wrong-id.log") || fail "wrong --id: expected '$want', got: $(cat "$WORK/wrong-id.log")"
[ ! -e "$WORK/data-wrong" ] || fail "the refused worker created its --data"
pass "a worker started with the wrong --id for its shards is refused (exit 2)"
