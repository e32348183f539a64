#!/usr/bin/env bash
# The CI variant of scripts/chaos: 40,000 ballots from 4 venues, 2 workers over
# 8 shards; a random worker kill -9'd and restarted every 2-5 s, the broker and
# one client kill -9'd and restarted once. The script's one JSON line must say
# exact (0 lost, 0 doubled, recount ok, every venue reconciled) with at least 3
# worker kills; and, not taking the script's word for it, the kept shards are
# tallied and recounted here against the generators' expectations.
# A small window (4 envelopes in flight per venue) paces the run to ~40 s on a
# 2-core machine, so the faults land mid-run, under ASan too.
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_CHAOS_BALLOTS:-40000}
rc=0
"$SRC/scripts/chaos" --bin "$BIN" --ballots "$N" --venues 4 --workers 2 --window 4 --timeout 170 --keep \
  >"$WORK/chaos.json" 2>"$WORK/chaos.err" || rc=$?
if [ $rc -ne 0 ]; then
  grep '^chaos:' "$WORK/chaos.err" | tail -n 40 || true
  fail "scripts/chaos exited $rc: $(cat "$WORK/chaos.json")"
fi
grep '^chaos: \[' "$WORK/chaos.err" | tail -n 30

[ "$(wc -l <"$WORK/chaos.json")" -eq 1 ] || fail "scripts/chaos printed $(wc -l <"$WORK/chaos.json") lines on stdout, not one"
chaos_work=$(python3 - "$WORK/chaos.json" "$N" <<'PY'
import json, sys
f = json.loads(open(sys.argv[1]).read())
n = int(sys.argv[2])
want = {"ok": True, "ballots": n, "sent": n, "accepted": n, "lost": 0, "doubled": 0, "counter_mismatches": 0,
        "reconciled": 4, "recount_ok": True, "shards_recounted": 8}
bad = {k: (f.get(k), v) for k, v in want.items() if f.get(k) != v}
k = f["kills"]
if k["worker"] < 3: bad["kills.worker"] = (k["worker"], ">= 3")
if k["broker"] != 1: bad["kills.broker"] = (k["broker"], 1)
if k["client"] != 1: bad["kills.client"] = (k["client"], 1)
if bad:
    sys.exit("figures (got, want): %s in %s" % (bad, f))
print(f["work"])
PY
) || fail "the chaos figures are not right"
[ -d "$chaos_work/data" ] || fail "no kept work directory in the figures"
mv "$chaos_work" "$WORK/run"   # removed with $WORK at exit

# independent of the script's own arithmetic: the shards against the
# generators' expectations, and the recount of every shard
"$BIN/pingyi" tally --deploy "$WORK/run/deploy" --data "$WORK/run/data" --json >"$WORK/tally.json" ||
  fail "pingyi tally of the chaos run"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK"/run/expect-v0*.json ||
  fail "the chaos run lost or doubled ballots"
[ "$(ls "$WORK"/run/expect-v0*.json | wc -l)" -eq 4 ] || fail "not 4 expectation files"
python3 - "$WORK/tally.json" <<'PY' || fail "venues not closed and reconciled"
import json, sys
t = json.load(open(sys.argv[1]))
assert len(t["venues"]) == 4, t["venues"]
for v in t["venues"]:
    assert v["closed"] is True and v["rejected"] == 0, v
    assert v["issued"] == v["collected"] == v["sent"] == v["accepted"], v
PY
"$BIN/pingyi" tally --deploy "$WORK/run/deploy" --data "$WORK/run/data" --recount >/dev/null 2>"$WORK/recount.log" ||
  fail "recount differs: $(cat "$WORK/recount.log")"
[ "$(grep -c 'matches counters and digest' "$WORK/recount.log")" -eq 8 ] || fail "not every shard was recounted"
pass "chaos: $(python3 -c 'import json,sys; f=json.load(open(sys.argv[1])); k=f["kills"]
print("%d ballots, %d worker / %d broker / %d client kills, %d duplicates answered, %.0f s, seed %d: exact, recount clean"
      % (f["accepted"], k["worker"], k["broker"], k["client"], f["duplicates"], f["seconds"], f["seed"]))' "$WORK/chaos.json")"
