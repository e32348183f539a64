#!/usr/bin/env bash
# Nothing the outbox lets go of stays in its files (DESIGN.md invariant 6,
# docs/client.md "Nothing left behind").  A venue's envelopes can be opened
# with the venue's own box key, which sits in its bundle on the same
# machine; before this test, every envelope acknowledged stayed readable in
# the free pages of the outbox's data.mdb long after it was sent, and the
# free pages also kept the order things were written in.
#
# The envelopes are read out of the outbox (mdb_dump) before they are sent;
# afterwards every file of the outbox directory is searched for each of
# them whole, and for every 32-byte slice of each one's ciphertext.
#   1. a drill of 400 ballots (file input: one shuffled window), sent to the
#      end and closed: nothing of any envelope may remain;
#   2. live input (a pipe, the mixing pool): 25 ballots sent while no worker
#      runs (they stay pending), then, with a worker, acknowledged while 5
#      more wait in the pool (fewer than k = 10, so never sent) and the
#      client is stopped: nothing of the 25 may remain, and the 5 are still
#      there, pooled, for the next run.
source "$(dirname "$0")/../integration/lib.sh"
command -v mdb_dump >/dev/null || fail "mdb_dump (lmdb-utils, scripts/install-deps) is needed"

N=400
setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1

# dump_db OUTBOX DB OUT: the records of one database of an outbox, as
# "key-hex value-hex" lines.
dump_db() {
  mdb_dump -s "$2" "$1" | python3 -c '
import sys
rows = [l[1:].rstrip("\n") for l in sys.stdin if l.startswith(" ")]
for k, v in zip(rows[0::2], rows[1::2]):
    print(k, v)' >"$3"
}

# residue OUTBOX ENVELOPES: fail if any envelope (whole, or any 32-byte
# slice of its ciphertext) occurs in any file of the outbox directory.
residue() {
  python3 - "$1" "$2" <<'PY'
import os, sys
outbox, listing = sys.argv[1], sys.argv[2]
envs = [bytes.fromhex(l.split()[1]) for l in open(listing) if l.strip()]
assert envs, "no envelopes to look for"
# envelope: version, fingerprint (32), L, venue (L), id (16), nonce (24), ciphertext
slices = set()
for e in envs:
    ct = e[74 + e[33]:]
    for o in range(len(ct) - 31):
        slices.add(ct[o:o + 32])
hits = {}
for name in sorted(os.listdir(outbox)):
    data = open(os.path.join(outbox, name), "rb").read()
    whole = sum(1 for e in envs if e in data)
    sliced = sum(1 for p in range(len(data) - 31) if data[p:p + 32] in slices)
    if whole or sliced:
        hits[name] = (whole, sliced)
print("%d envelopes (%d ciphertext slices) looked for in %s: %s" %
      (len(envs), len(slices), " ".join(sorted(os.listdir(outbox))),
       "none found" if not hits else ", ".join("%s: %d whole, %d slices" % (n, w, s) for n, (w, s) in hits.items())))
sys.exit(1 if hits else 0)
PY
}

# 1. File input, to the end.
client() {
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate "$N" --seed 11 \
    --outbox "$WORK/outbox" --json "$@"
}
client --ingest-only >/dev/null 2>"$WORK/ingest.log" || fail "ingest-only failed: $(tail -3 "$WORK/ingest.log")"
dump_db "$WORK/outbox" pending "$WORK/sent.txt"
[ "$(wc -l <"$WORK/sent.txt")" -eq "$N" ] || fail "expected $N pending envelopes after ingest, found $(wc -l <"$WORK/sent.txt")"
client --close --issued "$N" >"$WORK/client.json" 2>"$WORK/client.log" || fail "client failed: $(tail -3 "$WORK/client.log")"
python3 - "$WORK/client.json" "$N" <<'PY' || fail "client summary: $(cat "$WORK/client.json")"
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert s["accepted"] == n and s["pending"] == 0 and s["receipt_count"] == n, s
PY
dump_db "$WORK/outbox" done "$WORK/done.txt"
[ "$(wc -l <"$WORK/done.txt")" -eq "$N" ] || fail "the outbox should keep $N receipts"
residue "$WORK/outbox" "$WORK/sent.txt" || fail "envelopes sent and acknowledged are still in the outbox"
pass "file input: none of $N acknowledged envelopes left in the outbox, $N receipts kept"

# 2. Live input through the pool, stopped half-way.
python3 - "$SRC/examples/2022-district-review.json" "$WORK/live.csv" <<'PY'
import json, random, sys
defn = json.load(open(sys.argv[1], encoding="utf-8"))
venue = next(v for v in defn["venues"] if v["id"] == "v01")
cells = ["%s:%s" % (s, i["id"]) for s in venue["subjects"] for i in defn["items"]]
labels = [g["label"] for g in defn["grades"]]
rnd = random.Random(5)
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write("category," + ",".join(cells) + "\n")
    for _ in range(30):
        f.write(",".join([rnd.choice(defn["categories"])["id"]] + [rnd.choice(labels) for _ in cells]) + "\n")
PY
head -n 26 "$WORK/live.csv" >"$WORK/live25.csv"
live() {   # INPUT-FILE GIVE-UP-S: the pipe stays open (no end of input) until after the client gives up
  { cat "$1"; sleep $(($2 + 1)); } | "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" \
    --input - --outbox "$WORK/live" --timeout-ms 500 --give-up-s "$2" --json >>"$WORK/live.json" 2>>"$WORK/live.log"
}
stop worker1
set +e
live "$WORK/live25.csv" 2 # 25 ballots: k reached, the pool goes, nobody acknowledges
rc=$?
set -e
[ $rc -eq 3 ] || fail "the live client exited $rc, expected 3 (gave up): $(tail -3 "$WORK/live.log")"
dump_db "$WORK/live" pending "$WORK/live-sent.txt"
dump_db "$WORK/live" pool "$WORK/live-pool.txt"
[ "$(wc -l <"$WORK/live-sent.txt")" -eq 25 ] || fail "expected 25 pending envelopes, found $(wc -l <"$WORK/live-sent.txt")"
[ ! -s "$WORK/live-pool.txt" ] || fail "25 >= k ballots should have left the pool"

start_worker 1 0-7
wait_workers 2
set +e
live "$WORK/live.csv" 4 # the same 25 (skipped) and 5 more: pooled, never sent
rc=$?
set -e
[ $rc -eq 3 ] || fail "the live client exited $rc, expected 3 (gave up): $(tail -3 "$WORK/live.log")"
python3 - "$WORK/live.json" <<'PY' || fail "live summary: $(tail -1 "$WORK/live.json")"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])][-1]
assert s["accepted"] == 25 and s["pending"] == 5 and s["ballots_read"] == 30, s
PY
dump_db "$WORK/live" pool "$WORK/live-pool.txt"
dump_db "$WORK/live" pending "$WORK/live-pending.txt"
[ "$(wc -l <"$WORK/live-pool.txt")" -eq 5 ] || fail "5 ballots (< k) should still wait in the pool"
[ "$(wc -l <"$WORK/live-pending.txt")" -eq 5 ] || fail "the 5 pooled envelopes should still be pending"
residue "$WORK/live" "$WORK/live-sent.txt" || fail "live: acknowledged envelopes are still in the outbox"
pass "live input: none of 25 acknowledged envelopes left, 5 still pooled (fewer than k) after the client stopped"
