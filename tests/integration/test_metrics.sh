#!/usr/bin/env bash
# --metrics on the broker and each worker, and /metrics /healthz /readyz on
# the aggregator's HTTP server (docs/OPERATIONS.md, "Metrics"): a worker
# started before the broker is healthy but not ready (503), ready once the
# broker answers its HELLO; 2 venues x N generated ballots; then the sum over
# the workers of pingyi_ballots_total{status="accepted"} equals the ballots
# the generators sent, the broker's forwarded envelopes are at least that,
# every shard is owned, the commit histograms count every committed batch;
# the aggregator is ready (merged, nothing stale). Every scrape passes
# `promtool check metrics` (Debian package prometheus); the sample alert
# rules pass `promtool check rules`.
source "$(dirname "$0")/lib.sh"

PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
[ -n "$PROMTOOL" ] && [ -x "$PROMTOOL" ] ||
  fail "promtool not found: install the Debian package 'prometheus' (scripts/install-deps does), or set PROMTOOL"

N=${PINGYI_IT_BALLOTS:-2000}
setup_deploy "$(drill_definition)" 2
BM=$(free_port)
W1=$(free_port)
W2=$(free_port)
HTTP=$(free_port)

# get URL: prints "STATUS" on the first line, then the body
get() {
  python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    code, body, ctype = r.status, r.read().decode(), r.headers.get("Content-Type", "")
except urllib.error.HTTPError as e:
    code, body, ctype = e.code, e.read().decode(), e.headers.get("Content-Type", "")
except Exception as e:
    code, body, ctype = 0, str(e), ""
print(code)
print(ctype)
sys.stdout.write(body)
PY
}
status_of() { get "$1" | head -n 1; }
# wait_status URL CODE SECONDS
wait_status() {
  local i=0
  while [ "$(status_of "$1")" != "$2" ]; do
    i=$((i + 1))
    [ $i -le $(($3 * 5)) ] || fail "$1: not $2 after $3 s (last: $(get "$1" | head -n 3 | tr '\n' ' '))"
    sleep 0.2
  done
}
# scrape NAME URL: save the body to $WORK/NAME.prom, check its content type
# and validate it with promtool
scrape() {
  get "$2" >"$WORK/$1.raw"
  [ "$(head -n 1 "$WORK/$1.raw")" = 200 ] || fail "$2: status $(head -n 1 "$WORK/$1.raw")"
  sed -n 2p "$WORK/$1.raw" | grep -q '^text/plain; version=0.0.4' || fail "$2: content type $(sed -n 2p "$WORK/$1.raw")"
  tail -n +3 "$WORK/$1.raw" >"$WORK/$1.prom"
  "$PROMTOOL" check metrics <"$WORK/$1.prom" >"$WORK/promtool-$1.log" 2>&1 ||
    fail "promtool check metrics $2: $(cat "$WORK/promtool-$1.log")"
}
# value FILE SAMPLE: the value of one exact sample line (name{labels})
value() {
  python3 - "$1" "$2" <<'PY'
import sys
want = sys.argv[2]
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    name, _, v = line.rstrip("\n").rpartition(" ")
    if name == want:
        print(int(float(v)))
        sys.exit(0)
sys.exit("no sample " + want)
PY
}
# sum FILE PREFIX: the sum of the samples whose series starts with PREFIX
sum_of() {
  python3 - "$1" "$2" <<'PY'
import sys
t = 0
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    name, _, v = line.rstrip("\n").rpartition(" ")
    if name.startswith(sys.argv[2]):
        t += float(v)
print(int(t))
PY
}

# A worker before the broker exists: healthy, not ready.
start_worker 1 0-3 --metrics "127.0.0.1:$W1"
wait_status "http://127.0.0.1:$W1/healthz" 200 10
[ "$(status_of "http://127.0.0.1:$W1/readyz")" = 503 ] || fail "worker 1 /readyz is not 503 before the broker"
get "http://127.0.0.1:$W1/readyz" | tail -n +3 | grep -q "not ready: no broker" ||
  fail "worker 1 /readyz reason: $(get "http://127.0.0.1:$W1/readyz")"
scrape w1-early "http://127.0.0.1:$W1/metrics"
[ "$(value "$WORK/w1-early.prom" pingyi_worker_brokers_registered)" = 0 ] || fail "registered before the broker"
pass "worker before the broker: /healthz 200, /readyz 503, metrics valid"

"$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT" --stats-every 0 --metrics "127.0.0.1:$BM" \
  >>"$WORK/broker.log" 2>&1 &
PIDS[broker]=$!
wait_for_log "$WORK/broker.log" "listening on" 10
start_worker 2 4-7 --metrics "127.0.0.1:$W2"
wait_workers 2
wait_status "http://127.0.0.1:$W1/readyz" 200 15
wait_status "http://127.0.0.1:$W2/readyz" 200 15
wait_status "http://127.0.0.1:$BM/readyz" 200 10
wait_status "http://127.0.0.1:$BM/healthz" 200 10
pass "broker ready; both workers ready once registered"

"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$HTTP" \
  --interval-ms 200 --stale-ms 3000 >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "listening on" 10

clients=()
seed=21
for v in v01 v02; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT" --generate "$N" --seed $seed \
    --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" --json \
    >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  clients+=($!)
  seed=$((seed + 1))
done
for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero"; done
SENT=$((2 * N))

# the loops publish about once a second: wait until the figures settle
i=0
while :; do
  scrape w1 "http://127.0.0.1:$W1/metrics"
  scrape w2 "http://127.0.0.1:$W2/metrics"
  acc=$(($(value "$WORK/w1.prom" 'pingyi_ballots_total{status="accepted"}') +
    $(value "$WORK/w2.prom" 'pingyi_ballots_total{status="accepted"}')))
  [ "$acc" -ge "$SENT" ] && break
  i=$((i + 1))
  [ $i -le 50 ] || fail "workers' accepted ballots $acc, expected $SENT"
  sleep 0.2
done
[ "$acc" -eq "$SENT" ] || fail "sum of pingyi_ballots_total{status=\"accepted\"} is $acc, the generators sent $SENT"
for w in w1 w2; do
  [ "$(value "$WORK/$w.prom" 'pingyi_ballots_total{status="rejected"}')" = 0 ] || fail "$w: rejections"
  [ "$(value "$WORK/$w.prom" pingyi_worker_brokers_registered)" = 1 ] || fail "$w: not registered"
  [ "$(value "$WORK/$w.prom" pingyi_worker_shards)" = 4 ] || fail "$w: shards"
  [ "$(value "$WORK/$w.prom" pingyi_worker_shards_stopped)" = 0 ] || fail "$w: stopped shards"
  # every committed batch is in the commit-latency histogram
  batches=$(sum_of "$WORK/$w.prom" 'pingyi_shard_batches_total{shard=' | head -n 1)
  committed=$(grep -E '^pingyi_shard_batches_total\{shard="[0-9]+",result="committed"\}' "$WORK/$w.prom" |
    awk '{s += $2} END {print s + 0}')
  observed=$(grep -E '^pingyi_worker_commit_seconds_count\{' "$WORK/$w.prom" | awk '{s += $2} END {print s + 0}')
  inf=$(grep -E '^pingyi_worker_commit_seconds_bucket\{.*le="\+Inf"\}' "$WORK/$w.prom" | awk '{s += $2} END {print s + 0}')
  [ "$committed" -gt 0 ] && [ "$observed" = "$committed" ] && [ "$inf" = "$committed" ] ||
    fail "$w: $committed batches committed, histogram counts $observed (+Inf $inf), all $batches"
  grep -q '^pingyi_build_info{program="pingyi-worker",version="' "$WORK/$w.prom" || fail "$w: build_info"
  # released progress only: no current sequence anywhere
  ! grep -qE '^pingyi_shard_sequence|_current' "$WORK/$w.prom" || fail "$w: a ballot-by-ballot figure"
done
pass "workers: accepted ballots sum to $SENT, histograms count every committed batch"

scrape broker "http://127.0.0.1:$BM/metrics"
fwd=$(value "$WORK/broker.prom" pingyi_broker_envelopes_forwarded_total)
[ "$fwd" -ge "$SENT" ] || fail "broker forwarded $fwd envelopes, fewer than $SENT"
[ "$(value "$WORK/broker.prom" pingyi_broker_shards_unowned)" = 0 ] || fail "broker: unowned shards"
[ "$(value "$WORK/broker.prom" pingyi_broker_shards_owned)" = 8 ] || fail "broker: owned shards"
[ "$(value "$WORK/broker.prom" pingyi_broker_workers_live)" = 2 ] || fail "broker: live workers"
[ "$(value "$WORK/broker.prom" pingyi_broker_workers_registered_total)" -ge 2 ] || fail "broker: registered"
[ "$(value "$WORK/broker.prom" 'pingyi_broker_shard_owned{shard="7"}')" = 1 ] || fail "broker: shard 7"
[ "$(value "$WORK/broker.prom" 'pingyi_broker_refusals_total{cause="forbidden"}')" = 0 ] || fail "refusals"
[ "$(value "$WORK/broker.prom" process_resident_memory_bytes)" -gt 0 ] || fail "broker: RSS"
[ "$(value "$WORK/broker.prom" pingyi_broker_messages_total)" -ge "$(value "$WORK/broker.prom" \
  pingyi_broker_submits_forwarded_total)" ] || fail "broker: messages < submits"
pass "broker: $fwd envelopes forwarded (>= $SENT), 8/8 shards owned by 2 workers"

wait_status "http://127.0.0.1:$HTTP/readyz" 200 20
wait_status "http://127.0.0.1:$HTTP/healthz" 200 5
scrape agg "http://127.0.0.1:$HTTP/metrics"
[ "$(value "$WORK/agg.prom" pingyi_agg_merges_total)" -ge 1 ] || fail "aggregator: no merge"
[ "$(value "$WORK/agg.prom" pingyi_agg_shards_stale)" = 0 ] || fail "aggregator: stale shards"
grep -q '^pingyi_build_info{program="pingyi-agg"' "$WORK/agg.prom" || fail "aggregator: build_info"
pass "aggregator: /readyz 200 after a merge with nothing stale; metrics valid"

# a worker killed: the broker shows its shards unowned within the timeout,
# the aggregator is no longer ready once they go stale
stop worker2 KILL
i=0
while :; do
  scrape broker2 "http://127.0.0.1:$BM/metrics"
  [ "$(value "$WORK/broker2.prom" pingyi_broker_shards_unowned)" = 4 ] && break
  i=$((i + 1))
  [ $i -le 50 ] || fail "broker: shards of the killed worker not unowned"
  sleep 0.2
done
wait_status "http://127.0.0.1:$HTTP/readyz" 503 20
get "http://127.0.0.1:$HTTP/readyz" | tail -n +3 | grep -q "stale" || fail "aggregator /readyz reason"
pass "worker killed: 4 shards unowned at the broker, aggregator /readyz 503 (stale)"

"$PROMTOOL" check rules "$SRC/deploy/prometheus/pingyi.rules.yml" >"$WORK/rules.log" 2>&1 ||
  fail "promtool check rules: $(cat "$WORK/rules.log")"
pass "deploy/prometheus/pingyi.rules.yml: $(grep -o 'SUCCESS: [0-9]* rules found' "$WORK/rules.log")"
