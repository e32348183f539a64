#!/usr/bin/env bash
# Damaged shard files are refused with a reason, never crash a reader, never
# print a wrong figure as good (issue 11, "a shard is never silently lost or
# silently wrong").  A real count (2 venues through broker and workers,
# closed), stopped; then damage.py damages copies of it a few hundred ways
# (truncated, emptied, deleted, manifest lost or altered, rolled back to an
# earlier copy, pages zeroed, single bits flipped) and reads each with
# `pingyi tally --json`, `--recount` and `pingyi-worker`.  Also the plain
# cases by hand, with their exact messages.
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_BALLOTS:-3000}
setup_deploy "$(drill_definition)" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

run_venue() {
  local v=$1 seed=$2
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue "$v" --broker "$ENDPOINT" --generate "$N" --seed "$seed" \
    --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" \
    >"$WORK/client-$v.out" 2>"$WORK/client-$v.log" || fail "client $v exited non-zero"
}
run_venue v01 21
# an earlier copy of every shard, taken with the workers stopped (for the rollback)
stop worker1 TERM
stop worker2 TERM
cp -a "$WORK/data" "$WORK/early"
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2
run_venue v02 22
stop worker1 TERM
stop worker2 TERM
stop broker TERM

T=("$BIN/pingyi" tally --deploy "$WORK/deploy")
"${T[@]}" --data "$WORK/data" --json >"$WORK/baseline.json" 2>"$WORK/baseline.err" \
  || fail "tally of the intact shards: $(cat "$WORK/baseline.err")"
python3 "$SRC/tests/integration/compare.py" "$WORK/baseline.json" "$WORK"/expect-v0*.json \
  || fail "the intact count differs from the generators' expectation"
[ ! -s "$WORK/baseline.err" ] || fail "tally of intact shards with manifests said: $(cat "$WORK/baseline.err")"
pass "the intact count equals the expectation, verified against its manifests"

# the shard v02 was counted into: its sequence moved after the early copy
s=
for f in "$WORK"/data/shard-*.manifest; do
  b=$(basename "$f" .manifest)
  if [ "$(sed -n 's/^sequence //p' "$f")" != "$(sed -n 's/^sequence //p' "$WORK/early/$b.manifest")" ]; then
    s=$b
    break
  fi
done
[ -n "$s" ] || fail "no shard moved after the early copy"
n=$((10#${s#shard-}))
w=$([ "$n" -lt 4 ] && echo 1 || echo 2)

# expect_refusal NAME WANT-STDERR-SUBSTRING CMD...: exit 1 or 2, the message
expect_refusal() {
  local name=$1 want=$2 rc=0
  shift 2
  "$@" >"$WORK/case.out" 2>"$WORK/case.err" || rc=$?
  [ $rc -eq 1 ] || [ $rc -eq 2 ] || fail "$name: exit $rc, want a refusal; stderr: $(cat "$WORK/case.err")"
  grep -qF -- "$want" "$WORK/case.err" || fail "$name: stderr lacks \"$want\": $(cat "$WORK/case.err")"
  pass "$name: refused: $(grep -F -- "$want" "$WORK/case.err" | head -1 | cut -c1-200)"
}
fresh() {
  rm -rf "$WORK/case"
  cp -a "$WORK/data" "$WORK/case"
}
WK=("$BIN/pingyi-worker" --deploy "$WORK/deploy" --id "$w" --broker "tcp://127.0.0.1:9" --data "$WORK/case"
  --shards "$n")

fresh
: >"$WORK/case/$s/data.mdb"
expect_refusal "emptied data.mdb (tally)" \
  "pingyi tally: shard $n: $WORK/case/$s: cannot open the LMDB environment: $WORK/case/$s/data.mdb: empty (0 bytes): a damaged store, not a new one (its data is gone)" \
  "${T[@]}" --data "$WORK/case" --json
expect_refusal "emptied data.mdb (worker, even with --create)" "$WORK/case/$s/data.mdb: empty (0 bytes)" \
  "${WK[@]}" --create

fresh
size=$(stat -c %s "$WORK/data/$s/data.mdb")
truncate -s 8192 "$WORK/case/$s/data.mdb"
expect_refusal "data.mdb truncated to 8 KiB" \
  "$WORK/case/$s/data.mdb: truncated: 8192 bytes, but its meta (transaction" "${T[@]}" --data "$WORK/case" --json
truncate -s $((size / 2)) "$WORK/case/$s/data.mdb"
expect_refusal "data.mdb truncated to half" "truncated: $((size / 2)) bytes, but its meta" \
  "${T[@]}" --data "$WORK/case" --recount

fresh
rm "$WORK/case/$s/data.mdb"
expect_refusal "data.mdb deleted (worker)" \
  "pingyi-worker error: $WORK/case/$s: its files are gone (no data.mdb), but its manifest $WORK/case/$s.manifest says it held" \
  "${WK[@]}" --create
expect_refusal "data.mdb deleted (tally)" "pingyi tally: shard $n: $WORK/case/$s: its files are gone (no data.mdb)" \
  "${T[@]}" --data "$WORK/case" --json

fresh
rm -r "${WORK:?}/case/$s"
expect_refusal "shard directory deleted (tally)" \
  "pingyi tally: shard $n: $WORK/case/$s is missing, but its manifest $WORK/case/$s.manifest is there" \
  "${T[@]}" --data "$WORK/case" --json

fresh
rm "$WORK/case/$s.manifest"
expect_refusal "manifest deleted (worker without --create)" \
  "pingyi-worker error: $WORK/case/$s: has no manifest ($WORK/case/$s.manifest): only a first start (pingyi-worker --create) adopts a shard without one" \
  "${WK[@]}"
rc=0
"${T[@]}" --data "$WORK/case" --json >"$WORK/case.json" 2>"$WORK/case.err" || rc=$?
[ $rc -eq 0 ] && cmp -s "$WORK/case.json" "$WORK/baseline.json" \
  || fail "manifest deleted: tally exit $rc or other figures"
grep -qF "pingyi: shard $n: unverified (no manifest ($WORK/case/$s.manifest)): its figures are read as they are" \
  "$WORK/case.err" || fail "manifest deleted: tally did not say unverified: $(cat "$WORK/case.err")"
pass "manifest deleted: tally prints the figures and says unverified"

fresh
rm -r "${WORK:?}/case/$s"
cp -a "$WORK/early/$s" "$WORK/case/$s"
seq_now=$(sed -n 's/^sequence //p' "$WORK/case/$s.manifest")
expect_refusal "rolled back to an earlier copy" \
  "$WORK/case/$s: rolled back: holds " "${T[@]}" --data "$WORK/case" --json
grep -qF "but its manifest $WORK/case/$s.manifest says it held $seq_now: acknowledged ballots are missing" \
  "$WORK/case.err" || fail "rollback message: $(cat "$WORK/case.err")"
expect_refusal "rolled back (worker)" "$WORK/case/$s: rolled back: holds " "${WK[@]}" --create

# a worker's first start with --create on an empty data directory makes the
# shard and its manifest; without --create it refuses
rm -rf "$WORK/new"
expect_refusal "no shard, no --create" \
  "pingyi-worker error: $WORK/new/$s: no such shard (no data.mdb, no manifest $WORK/new/$s.manifest): a shard is created only by a first start (pingyi-worker --create)" \
  "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id "$w" --broker "tcp://127.0.0.1:9" --data "$WORK/new" --shards "$n"

python3 "$SRC/tests/integration/damage.py" "$BIN" "$WORK/deploy" "$WORK/data" "$WORK/early" \
  "$WORK/baseline.json" "$WORK" --flips "${PINGYI_DAMAGE_FLIPS:-240}" >"$WORK/damage.json" 2>"$WORK/damage.err" \
  || fail "damage.py: $(head -c 3000 "$WORK/damage.err") $(cat "$WORK/damage.json")"
python3 - "$WORK/damage.json" <<'PY' || fail "damage outcome: $(cat "$WORK/damage.json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["failures"] == 0, o
assert o["cases"] >= 300, o
assert o["refused"] >= 15 and o["recount_refused"] >= 10, o
assert o["recounts"] >= 60 and o["worker_opens"] >= 40, o
print("damage cases:", json.dumps(o))
PY
pass "$(cat "$WORK/damage.json")"
