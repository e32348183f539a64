#!/usr/bin/env bash
# sd_notify readiness (docs/OPERATIONS.md "Services"): each daemon is run with
# NOTIFY_SOCKET naming a Unix datagram socket this test listens on
# (notify_listen.py plays systemd), and
#   - the broker says READY=1 only after it logged "listening on";
#   - a worker says READY=1 only after its shards are open AND a broker
#     granted them: started with no broker up it opens its shards and stays
#     silent, and says READY=1 once a broker answers its HELLO with READY;
#   - the aggregator says READY=1 only after it serves HTTP (a GET made on
#     READY=1 is answered 200);
#   - each says STOPPING=1 on SIGTERM (not before it), then exits 0;
#   - with NOTIFY_SOCKET unset or naming nothing, nothing changes (exit 0).
source "$(dirname "$0")/lib.sh"

setup_deploy "$SRC/examples/2022-district-review.json" 1
HTTP_PORT=$(free_port)

# listen NAME [notify_listen.py flags]: a socket $WORK/NAME.sock, the
# messages in $WORK/NAME.notify
listen() {
  local name=$1
  shift
  python3 "$SRC/tests/integration/notify_listen.py" "$WORK/$name.sock" "$WORK/$name.notify" \
    --log "$WORK/$name.log" "$@" &
  PIDS[notify_$name]=$!
  local i=0
  while [ ! -e "$WORK/$name.sock.ready" ]; do
    i=$((i + 1))
    [ $i -le 100 ] || fail "the notify listener for $name did not start"
    sleep 0.1
  done
}

# notified NAME MSG: MSG (READY=1, STOPPING=1) has arrived from NAME
notified() {
  [ -f "$WORK/$1.notify" ] || return 1
  awk -F'\t' -v m="$2" '{ n = split($1, a, ";"); for (i = 1; i <= n; i++) if (a[i] == m) f = 1 } END { exit !f }' \
    "$WORK/$1.notify"
}

wait_notified() {
  local name=$1 msg=$2 limit=$3 i=0
  until notified "$name" "$msg"; do
    i=$((i + 1))
    [ $i -le $((limit * 10)) ] || fail "$name: no $msg within $limit s (got: $(cat "$WORK/$name.notify" 2>/dev/null))"
    sleep 0.1
  done
}

# field NAME MSG N: field N (2 = log bytes, 3 = HTTP status) of MSG's line
field() {
  awk -F'\t' -v m="$2" -v f="$3" '{ n = split($1, a, ";"); for (i = 1; i <= n; i++) if (a[i] == m) { print $f; exit } }' \
    "$WORK/$1.notify"
}

# logged_before NAME MSG REGEX: NAME's log held REGEX when MSG arrived
logged_before() {
  local bytes
  bytes=$(field "$1" "$2" 2)
  head -c "$bytes" "$WORK/$1.log" | grep -qE "$3"
}

# term NAME: SIGTERM, then the exit status must be 0
term() {
  local name=$1 rc
  ! notified "$name" STOPPING=1 || fail "$name: STOPPING=1 before SIGTERM"
  kill -TERM "${PIDS[$name]}"
  set +e
  wait "${PIDS[$name]}"
  rc=$?
  set -e
  unset "PIDS[$name]"
  [ $rc -eq 0 ] || fail "$name exited $rc on SIGTERM, expected 0"
  wait_notified "$name" STOPPING=1 5
  # READY=1 first, then STOPPING=1, each once
  [ "$(cut -f1 "$WORK/$name.notify" | tr '\n' ' ')" = "READY=1 STOPPING=1 " ] ||
    fail "$name: the messages were $(cut -f1 "$WORK/$name.notify" | tr '\n' ' '), expected READY=1 STOPPING=1"
}

# --- the worker first, with no broker up: shards open, no READY=1 -----------
listen worker1
NOTIFY_SOCKET="$WORK/worker1.sock" "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id 1 --broker "$ENDPOINT" \
  --data "$WORK/data" --create >>"$WORK/worker1.log" 2>&1 &
PIDS[worker1]=$!
wait_for_log "$WORK/worker1.log" "worker 1 running" 20
sleep 2
! notified worker1 READY=1 || fail "the worker said READY=1 with no broker up"
pass "worker: shards open, no broker yet: no READY=1"

# --- the broker: READY=1 after "listening on" --------------------------------
listen broker
NOTIFY_SOCKET="$WORK/broker.sock" "$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT" \
  --stats-every 0 >>"$WORK/broker.log" 2>&1 &
PIDS[broker]=$!
wait_notified broker READY=1 10
logged_before broker READY=1 "listening on" || fail "the broker said READY=1 before it logged 'listening on'"
pass "broker: READY=1 after it listens"

# --- the worker: READY=1 once the broker granted its shards ------------------
wait_notified worker1 READY=1 20
for s in 0 1 2 3 4 5 6 7; do
  logged_before worker1 READY=1 "shard $s: opened" || fail "the worker said READY=1 before shard $s was open"
done
logged_before worker1 READY=1 "READY, shards [0-9]" || fail "the worker said READY=1 before the broker's READY"
pass "worker: READY=1 after its 8 shards opened and the broker's READY"

# --- the aggregator: READY=1 when HTTP answers --------------------------------
listen agg --http "http://127.0.0.1:$HTTP_PORT/api/v1/summary"
NOTIFY_SOCKET="$WORK/agg.sock" "$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" \
  --http "127.0.0.1:$HTTP_PORT" --interval-ms 200 --data "$WORK/agg-data" >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_notified agg READY=1 10
logged_before agg READY=1 "listening on http" || fail "the aggregator said READY=1 before 'listening on http'"
[ "$(field agg READY=1 3)" = 200 ] || fail "GET /api/v1/summary on READY=1: $(field agg READY=1 3), expected 200"
pass "aggregator: READY=1 when HTTP answers (GET /api/v1/summary 200 at that moment)"

# --- SIGTERM: STOPPING=1, exit 0 ---------------------------------------------
term agg
term worker1
term broker
pass "STOPPING=1 on SIGTERM and exit 0: aggregator, worker, broker"

# --- NOTIFY_SOCKET unset, or naming no socket: no change -----------------------
for how in unset dangling; do
  : >"$WORK/broker-$how.log"
  if [ $how = unset ]; then
    env -u NOTIFY_SOCKET "$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT" --stats-every 0 \
      >>"$WORK/broker-$how.log" 2>&1 &
  else
    NOTIFY_SOCKET="$WORK/nobody.sock" "$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT" \
      --stats-every 0 >>"$WORK/broker-$how.log" 2>&1 &
  fi
  PIDS[broker]=$!
  wait_for_log "$WORK/broker-$how.log" "listening on" 10
  sleep 0.3
  kill -TERM "${PIDS[broker]}"
  set +e
  wait "${PIDS[broker]}"
  rc=$?
  set -e
  unset "PIDS[broker]"
  [ $rc -eq 0 ] || fail "NOTIFY_SOCKET $how: the broker exited $rc"
done
pass "NOTIFY_SOCKET unset or dangling: the broker runs and stops as before"
