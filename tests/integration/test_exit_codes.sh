#!/usr/bin/env bash
# Exit codes (docs/exit-codes.md), with the real binaries: every documented
# case of every binary ends with its exact status and the beginning of its
# exact message.  One scheme: 0 did its job (a daemon: stopped cleanly on
# SIGTERM); 2 could not start or cannot do it at all (a bad flag or value, a
# missing bundle or file, an address in use, a lock held by another
# process); 1 ran, but the result is not good (an invalid definition, a
# recount that cannot verify a shard, unreadable data); 3 not reached (no
# answer from the broker); the client's own 1 bad lines and 4 VOID are in
# test_bad_input_lines.sh and test_void_exit.sh.
source "$(dirname "$0")/lib.sh"

CASES=0

# expect_exit WANT LINE CMD...: run CMD (30 s at most, stdin closed); its exit
# status must be WANT and one line of its stderr must begin with LINE (the
# message exactly, or its exact beginning where a tail varies), after the
# time a log line starts with.  With
# STREAM=out the line is looked for on stdout instead.
expect_exit() {
  local want=$1 line=$2 rc=0 what file
  shift 2
  what="$(basename "$1") ${*:2}"
  what=${what//$WORK/\$WORK}
  timeout 30 "$@" >"$WORK/case.out" 2>"$WORK/case.err" </dev/null || rc=$?
  [ $rc -ne 124 ] || fail "$what: still running after 30 s"
  [ "$rc" -eq "$want" ] ||
    fail "$what: expected exit $want, got $rc; stderr: $(head -c 800 "$WORK/case.err")"
  file=$WORK/case.${STREAM:-err}
  awk -v p="$line" 'index($0, p) == 1 { found = 1 } END { exit !found }' <(untimed "$file") ||
    fail "$what: expected a line beginning '$line' on std${STREAM:-err}, got: $(head -c 800 "$file")"
  CASES=$((CASES + 1))
  echo "ok: exit $want: $what"
}

# term NAME: SIGTERM to a started process; its exit status must be 0.
term() {
  local name=$1 pid=${PIDS[$1]} rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  unset "PIDS[$name]"
  [ $rc -eq 0 ] || fail "$name: expected exit 0 on SIGTERM, got $rc"
  CASES=$((CASES + 1))
  echo "ok: exit 0: $name stopped by SIGTERM"
}

setup_deploy "$SRC/examples/2022-district-review.json" 2
D=$WORK/deploy
NOWHERE=$WORK/nowhere
NOBODY="tcp://127.0.0.1:$(free_port)" # nothing listens there

# --- pingyi-broker --------------------------------------------------------
expect_exit 2 'pingyi-broker: unknown flag "--bogus"' "$BIN/pingyi-broker" --deploy "$D" --bogus
expect_exit 2 'pingyi-broker: --bind needs a value' "$BIN/pingyi-broker" --deploy "$D" --bind
expect_exit 2 'pingyi-broker: --hwm "10x": not a number in 1..1000000000' \
  "$BIN/pingyi-broker" --deploy "$D" --hwm 10x
expect_exit 2 'pingyi-broker: --hwm "12x": not a number in 1..1000000000' \
  "$BIN/pingyi-broker" --deploy "$D" --hwm=12x
expect_exit 2 'pingyi-broker: --bind "127.0.0.1:7701": not an endpoint (tcp://HOST:PORT or ipc://PATH)' \
  "$BIN/pingyi-broker" --deploy "$D" --bind 127.0.0.1:7701
expect_exit 2 'pingyi-broker: --deploy is required' "$BIN/pingyi-broker" --bind "$ENDPOINT"
expect_exit 2 "pingyi-broker error: $NOWHERE/broker: no such bundle in deploy directory $NOWHERE" \
  "$BIN/pingyi-broker" --deploy "$NOWHERE" --bind "$ENDPOINT"
start_broker
expect_exit 2 "pingyi-broker error: cannot bind $ENDPOINT: Address already in use" \
  "$BIN/pingyi-broker" --deploy "$D" --bind "$ENDPOINT" --stats-every 0

# --- pingyi-worker --------------------------------------------------------
W=("$BIN/pingyi-worker" --deploy "$D" --id 1 --broker "$ENDPOINT" --data "$WORK/data")
expect_exit 2 'pingyi-worker: unknown flag "--bogus"' "${W[@]}" --bogus
expect_exit 2 'pingyi-worker: --batch needs a value' "${W[@]}" --batch
expect_exit 2 'pingyi-worker: --batch "0": not a number in 1..20000' "${W[@]}" --batch 0
expect_exit 2 'pingyi-worker: --batch "12x": not a number in 1..20000' "${W[@]}" --batch=12x
expect_exit 2 'pingyi-worker: --deploy, --id, --broker and --data are required' \
  "$BIN/pingyi-worker" --deploy "$D" --id 1 --broker "$ENDPOINT"
expect_exit 2 "pingyi-worker error: $NOWHERE/worker/1: no such bundle in deploy directory $NOWHERE" \
  "$BIN/pingyi-worker" --deploy "$NOWHERE" --id 1 --broker "$ENDPOINT" --data "$WORK/data"
expect_exit 2 "pingyi-worker error: --shards 0-3: shard 0 is not assigned to worker 2 (keyring.tsv assigns 4-7)" \
  "$BIN/pingyi-worker" --deploy "$D" --id 2 --broker "$ENDPOINT" --data "$WORK/data-wrong" --shards 0-3
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2
expect_exit 2 "pingyi-worker error: $WORK/data/shard-00: in use by another worker (pid ${PIDS[worker1]}, $WORK/data/shard-00/worker.lock): one worker per shard directory" \
  "${W[@]}" --shards 0-3

# --- pingyi-agg -----------------------------------------------------------
A=("$BIN/pingyi-agg" --deploy "$D" --broker "$ENDPOINT")
expect_exit 2 'pingyi-agg: unknown flag "--bogus"' "${A[@]}" --bogus 1
expect_exit 2 'pingyi-agg: --data needs a value' "${A[@]}" --data
expect_exit 2 'pingyi-agg: --interval-ms "5x": not a number in 50..600000' "${A[@]}" --interval-ms 5x
expect_exit 2 'pingyi-agg: --interval-ms "12x": not a number in 50..600000' "${A[@]}" --interval-ms=12x
expect_exit 2 'pingyi-agg: --deploy and --broker are required' "$BIN/pingyi-agg" --deploy "$D"
expect_exit 2 "pingyi-agg error: $NOWHERE/aggregator: no such bundle in deploy directory $NOWHERE" \
  "$BIN/pingyi-agg" --deploy "$NOWHERE" --broker "$ENDPOINT" --http 127.0.0.1:0 --data "$WORK/agg-none"
# a port free a moment ago may be taken by a test running beside this one:
# start again on another one (5 tries)
for try in 1 2 3 4 5; do
  HTTP=127.0.0.1:$(free_port)
  : >"$WORK/agg.log"
  "${A[@]}" --http "$HTTP" --data "$WORK/agg-data" --interval-ms 200 >>"$WORK/agg.log" 2>&1 &
  PIDS[agg]=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$WORK/agg.log" && break 2
    kill -0 "${PIDS[agg]}" 2>/dev/null || break
    sleep 0.1
  done
  kill "${PIDS[agg]}" 2>/dev/null || true
  wait "${PIDS[agg]}" 2>/dev/null || true
  [ "$try" -lt 5 ] || fail "pingyi-agg did not start listening in 5 tries: $(cat "$WORK/agg.log")"
done
expect_exit 2 "pingyi-agg error: --http $HTTP: cannot listen" "${A[@]}" --http "$HTTP" --data "$WORK/agg-data2"
expect_exit 2 "pingyi-agg error: $WORK/agg-data: in use by another aggregator (pid ${PIDS[agg]}, $WORK/agg-data/aggregator.lock): one aggregator per data directory" \
  "${A[@]}" --http 127.0.0.1:0 --data "$WORK/agg-data"

# --- pingyi ---------------------------------------------------------------
expect_exit 2 'pingyi: unknown command "bogus"' "$BIN/pingyi" bogus
expect_exit 2 'usage: pingyi COMMAND [ARGS]' "$BIN/pingyi"
STREAM=out expect_exit 0 'election ' "$BIN/pingyi" check "$SRC/examples/2022-district-review.json"
python3 - "$SRC/examples/2022-district-review.json" "$WORK/broken.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
d["categories"][2]["weight"] = -1
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
expect_exit 1 "$WORK/broken.json: 1 error" "$BIN/pingyi" check "$WORK/broken.json"
expect_exit 2 "pingyi check: $NOWHERE.json: cannot open: No such file or directory" \
  "$BIN/pingyi" check "$NOWHERE.json"

S=("$BIN/pingyi" stats --deploy "$D")
expect_exit 2 'pingyi stats: unknown flag "--bogus"' "${S[@]}" --broker "$ENDPOINT" --bogus
expect_exit 2 'pingyi stats: --broker needs a value' "${S[@]}" --broker
expect_exit 2 'pingyi stats: --shard "x": not a number in 0..255' "${S[@]}" --broker "$ENDPOINT" --shard x
expect_exit 2 'pingyi stats: --timeout-ms "12x": not a number in 1..600000' "${S[@]}" --broker "$ENDPOINT" \
  --timeout-ms=12x
expect_exit 2 "pingyi stats: $NOWHERE/operator: no such bundle in deploy directory $NOWHERE" \
  "$BIN/pingyi" stats --deploy "$NOWHERE" --broker "$ENDPOINT"
expect_exit 3 "pingyi stats: no answer from $NOBODY within 500 ms" "${S[@]}" --broker "$NOBODY" --timeout-ms 500
STREAM=out expect_exit 0 'messages_in ' "${S[@]}" --broker "$ENDPOINT"
STREAM=out expect_exit 0 'shard0_sequence ' "${S[@]}" --broker "$ENDPOINT" --shard 0

T=("$BIN/pingyi" tally --deploy "$D")
expect_exit 2 'pingyi tally: unknown flag "--bogus"' "${T[@]}" --data "$WORK/data" --bogus
expect_exit 2 'pingyi tally: --data needs a value' "${T[@]}" --data
expect_exit 2 "pingyi tally: $NOWHERE/election.json: cannot open: No such file or directory" \
  "$BIN/pingyi" tally --deploy "$NOWHERE" --data "$WORK/data"
expect_exit 1 "pingyi tally: $WORK/no-data: No such file or directory" "${T[@]}" --data "$WORK/no-data"
STREAM=out expect_exit 0 '' "${T[@]}" --data "$WORK/data"
# worker 1's bundle holds no secret for shards 4-7: they cannot be verified
expect_exit 1 "pingyi tally: shard 4: bundle $D/worker/1 holds no secret for it" \
  "${T[@]}" --data "$WORK/data" --recount --worker 1
expect_exit 2 'pingyi log: --shard needs a value' "$BIN/pingyi" log --deploy "$D" --data "$WORK/data" --shard
expect_exit 1 "pingyi log: --data $WORK/no-data: No such file or directory" \
  "$BIN/pingyi" log --deploy "$D" --data "$WORK/no-data"
# pingyi query keeps its 1 for an aggregator it cannot reach (docs/exit-codes.md)
expect_exit 1 "pingyi query: http://${NOBODY#tcp://}/api/v1/view: cannot connect: Connection refused" \
  "$BIN/pingyi" query --deploy "$D" --agg "http://${NOBODY#tcp://}"
STREAM=out expect_exit 0 '' "$BIN/pingyi" query --deploy "$D" --agg "http://$HTTP" --format json

# --- pingyi-client (its codes are the client's: docs/client.md) ------------
C=("$BIN/pingyi-client" --deploy "$D" --venue v01 --generate 5 --seed 1)
expect_exit 2 'pingyi-client: unknown flag "--bogus"' "${C[@]}" --broker "$ENDPOINT" --bogus
expect_exit 2 'pingyi-client: --window "12x": not a number in 1..1048576' "${C[@]}" --broker "$ENDPOINT" --window=12x
STREAM=out expect_exit 3 'stopped: gave up (--give-up-s)' "${C[@]}" --broker "$NOBODY" --outbox "$WORK/outbox-gone" \
  --give-up-s 1
STREAM=out expect_exit 0 'venue v01: read 5 ballots, 0 bad lines; accepted 5' "${C[@]}" --broker "$ENDPOINT" \
  --outbox "$WORK/outbox-v01"
STREAM=out expect_exit 4 'venue v02: issued 2, collected 5, received 5, accepted 5' \
  "$BIN/pingyi-client" --deploy "$D" --venue v02 --generate 5 --seed 2 --broker "$ENDPOINT" \
  --outbox "$WORK/outbox-v02" --close --issued 2 --collected 5

# --- --help and --version, every program -----------------------------------
# --help: the usage on stdout, nothing on stderr, exit 0; --version: "NAME
# VERSION (git REVISION)"; `pingyi check --help` is check's usage, not a file.
version_re='[0-9]+\.[0-9]+\.[0-9]+ \(git [^ ()]+\)$'
for prog in pingyi-broker pingyi-worker pingyi-agg pingyi-client pingyi; do
  rc=0
  "$BIN/$prog" --help >"$WORK/help.out" 2>"$WORK/help.err" </dev/null || rc=$?
  [ $rc -eq 0 ] || fail "$prog --help: exit $rc"
  [ ! -s "$WORK/help.err" ] || fail "$prog --help: wrote to stderr: $(head -c 300 "$WORK/help.err")"
  head -n 1 "$WORK/help.out" | grep -q "^usage: $prog" || fail "$prog --help: no usage on stdout"
  rc=0
  out=$("$BIN/$prog" --version 2>"$WORK/help.err" </dev/null) || rc=$?
  [ $rc -eq 0 ] || fail "$prog --version: exit $rc"
  [ ! -s "$WORK/help.err" ] || fail "$prog --version: wrote to stderr"
  [[ $out =~ ^$prog\ $version_re ]] || fail "$prog --version: got '$out'"
  CASES=$((CASES + 2))
  echo "ok: exit 0: $prog --help, $prog --version ($out)"
done
# every flag a program parses is in its usage
for flag in --deploy --bind --hwm --stats-every; do
  "$BIN/pingyi-broker" --help | grep -q -- "  $flag " || fail "pingyi-broker --help does not list $flag"
done
for flag in --deploy --id --broker --data --shards --batch --batch-ms --map-size; do
  "$BIN/pingyi-worker" --help | grep -q -- "  $flag " || fail "pingyi-worker --help does not list $flag"
done
for flag in --deploy --broker --http --interval-ms --stale-ms --data; do
  "$BIN/pingyi-agg" --help | grep -q -- "  $flag " || fail "pingyi-agg --help does not list $flag"
done
# the log flags, the same in every long-running program (cli/cli.h)
for prog in pingyi-broker pingyi-worker pingyi-agg pingyi-client; do
  for flag in --log-level --log-format --log-file; do
    "$BIN/$prog" --help | grep -q -- "  $flag " || fail "$prog --help does not list $flag"
  done
done
for cmd in check init gen-election fingerprint pubkey stats reopen tally log query template; do
  rc=0
  (cd "$WORK" && "$BIN/pingyi" "$cmd" --help >"$WORK/help.out" 2>"$WORK/help.err" </dev/null) || rc=$?
  [ $rc -eq 0 ] || fail "pingyi $cmd --help: exit $rc; stderr: $(head -c 300 "$WORK/help.err")"
  [ ! -s "$WORK/help.err" ] || fail "pingyi $cmd --help: wrote to stderr: $(head -c 300 "$WORK/help.err")"
  head -n 1 "$WORK/help.out" | grep -q "^usage: pingyi $cmd" || fail "pingyi $cmd --help: not its usage"
  CASES=$((CASES + 1))
done
echo "ok: exit 0: pingyi COMMAND --help for every command"
STREAM=out expect_exit 0 'usage: pingyi check DEFINITION.json' "$BIN/pingyi" check --help
expect_exit 2 'pingyi check: unexpected argument "b.json"' "$BIN/pingyi" check a.json b.json
expect_exit 2 'pingyi init: --workers "12x": not a number in 1..256' "$BIN/pingyi" init a.json "$WORK/d" --workers=12x

# --- clean stops ----------------------------------------------------------
term agg
term worker2
term worker1
term broker
grep -q "pingyi-worker info: stopped" "$WORK/worker1.log" || fail "worker 1 did not log its clean stop"

pass "$CASES exit codes as documented (docs/exit-codes.md)"
