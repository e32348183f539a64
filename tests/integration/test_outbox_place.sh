#!/usr/bin/env bash
# One outbox per venue wherever the client is started (docs/client.md, "One
# outbox per venue"): the same CSV run from two working directories without
# --outbox goes to the one outbox in the venue's bundle folder, so the second
# run sends nothing new; a fresh outbox on a venue whose shard already holds
# ballots the outbox does not account for is refused (exit 2, the exact
# reason, nothing sent) unless --append says it is a further batch, which is
# then counted exactly once; a restart of the appended outbox goes through.
source "$(dirname "$0")/lib.sh"

DEF="$SRC/examples/2022-district-review.json"
setup_deploy "$DEF" 1
start_broker
start_worker 1 0-7
wait_workers 1

cd "$WORK"
python3 "$SRC/tests/integration/make_encoded_csv.py" "$DEF" v01 a.csv a.json 21 >/dev/null
python3 "$SRC/tests/integration/make_encoded_csv.py" "$DEF" v01 b.csv b.json 22 >/dev/null
NA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ballots"])' a.json)
NB=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ballots"])' b.json)
python3 - a.json b.json >ab.json <<'PY'
import json, sys
a, b = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:])
total = {}
for c in a["counters"] + b["counters"]:
    k = (c["subject"], c["item"], c["category"], c["mark"])
    total[k] = total.get(k, 0) + c["count"]
a["counters"] = [dict(subject=k[0], item=k[1], category=k[2], mark=k[3], count=v) for k, v in sorted(total.items())]
a["ballots"] += b["ballots"]
a["blank_ballots"] += b["blank_ballots"]
json.dump(a, sys.stdout, ensure_ascii=False)
PY
client() { # DEPLOY FILE [extra flags]
  local deploy=$1 file=$2
  shift 2
  "$BIN/pingyi-client" --deploy "$deploy" --venue v01 --broker "$ENDPOINT" --input "$file" --timeout-ms 1000 \
    --give-up-s 60 --json "$@"
}
tally() { "$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$1"; }
summary() { # FILE ACCEPTED DUPLICATES PENDING
  python3 - "$@" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
want = tuple(int(x) for x in sys.argv[2:])
got = (s["accepted"], s["duplicates"], s["pending"])
assert got == want, (got, want, s)
PY
}

# 1. The same file from two working directories, no --outbox: one outbox.
mkdir -p desk1 desk2
ln -s "$WORK/deploy" deploy-link
(cd desk1 && client ../deploy ../a.csv >../run1.json 2>../run1.log) || fail "first run: $(cat run1.log)"
OUTBOX="$(realpath "$WORK/deploy/venue/v01")/outbox"
[ -f "$OUTBOX/data.mdb" ] || fail "no outbox in the venue's bundle folder ($OUTBOX): $(ls -R "$WORK" | head -40)"
[ "$(stat -c %a "$OUTBOX")" = 700 ] || fail "the outbox is mode $(stat -c %a "$OUTBOX"), expected 700"
[ ! -e desk1/outbox-v01 ] || fail "an outbox was made in the working directory"
summary run1.json "$NA" 0 0 || fail "first run summary: $(cat run1.json)"
tally t1.json
python3 "$SRC/tests/integration/compare.py" --dup 0 t1.json a.json || fail "first count"
# from elsewhere, the deploy named through a symbolic link: the same outbox
(cd desk2 && client "$WORK/deploy-link" "$WORK/a.csv" >../run2.json 2>../run2.log) || fail "second run: $(cat run2.log)"
[ ! -e desk2/outbox-v01 ] || fail "an outbox was made in the second working directory"
summary run2.json "$NA" 0 0 || fail "second run summary (same outbox, nothing new): $(cat run2.json)"
python3 - run2.json "$OUTBOX" <<'PY' || fail "second run used another outbox: $(cat run2.json)"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["receipts"] == sys.argv[2] + "/receipts.txt", s["receipts"]
PY
tally t2.json
python3 "$SRC/tests/integration/compare.py" --dup 0 t2.json a.json || fail "counts moved on the second run"
pass "the same file from two working directories: one outbox ($OUTBOX, 0700), counted once"

# 2. A fresh explicit outbox on the same file: refused, nothing sent.
set +e
client deploy a.csv --outbox "$WORK/fresh" >fresh.json 2>fresh.log
rc=$?
set -e
[ $rc -eq 2 ] || fail "a fresh outbox on a venue the shard holds ballots of: exit $rc, expected 2: $(cat fresh.log)"
grep -qxF "pingyi-client error: venue v01: the shard already holds $NA ballots of this venue but this outbox ($WORK/fresh) sent none of them: is this the same ballot file run from another outbox? If it is a further batch of ballots, run again with --append" <(untimed fresh.log) ||
  fail "the refusal is not the one expected: $(cat fresh.log)"
tally t3.json
python3 "$SRC/tests/integration/compare.py" --dup 0 t3.json a.json || fail "counts moved on a refused run"
pass "a fresh outbox on the same file: refused with the reason, exit 2, counts unchanged"

# 3. A further batch: refused without --append, counted exactly with it.
set +e
client deploy b.csv --outbox "$WORK/batch2" >b1.json 2>b1.log
rc=$?
set -e
[ $rc -eq 2 ] || fail "a second batch without --append: exit $rc, expected 2: $(cat b1.log)"
grep -qF "this outbox ($WORK/batch2) sent none of them" b1.log || fail "second batch refusal: $(cat b1.log)"
tally t4.json
python3 "$SRC/tests/integration/compare.py" --dup 0 t4.json a.json || fail "counts moved on a refused batch"
client deploy b.csv --outbox "$WORK/batch2" --append >b2.json 2>b2.log || fail "--append: $(cat b2.log)"
summary b2.json "$NB" 0 0 || fail "--append summary: $(cat b2.json)"
tally t5.json
python3 "$SRC/tests/integration/compare.py" --dup 0 t5.json ab.json || fail "the further batch was not counted exactly"
# a restart of the appended outbox needs no --append again
client deploy b.csv --outbox "$WORK/batch2" >b3.json 2>b3.log || fail "restart of the appended outbox: $(cat b3.log)"
summary b3.json "$NB" 0 0 || fail "restart summary: $(cat b3.json)"
# the first batch's outbox has nothing more to send: a re-run goes through
(cd desk2 && client ../deploy ../a.csv >../run3.json 2>../run3.log) || fail "re-run of batch 1: $(cat run3.log)"
tally t6.json
python3 "$SRC/tests/integration/compare.py" --dup 0 t6.json ab.json || fail "counts moved on the restarts"
pass "a further batch: refused without --append, counted exactly once with it ($NA + $NB)"
