#!/usr/bin/env bash
# Watching the count live must not reveal a ballot (docs/SECURITY.md,
# invariant 7: released figures are k-anonymous).
#
# A definition with k_anonymity 10; one venue, v01, fed 127 ballots slowly
# through `pingyi-client --input -` (a pipe, one line every 50 ms, as a
# scanner would), then closed.  127 is not a multiple of 10: the client's
# mixing pool lets the last 7 go at the end of input, before the close, and
# only the worker's release (nothing released but in steps of k, or at the
# close) can hold them back until the close.  Meanwhile this test polls
# GET /api/v1/tally, /api/v1/summary and /api/v1/view every ~100 ms and
# records every distinct state of the venue it sees.  It asserts:
#   - before the close, no two states seen differ by fewer than k accepted
#     ballots of the venue (a counter, a figure, a cell never moves without
#     the venue's accepted ballots moving by k or more); the summary's
#     totals and the city row likewise;
#   - no counter of a (venue, category) group with fewer than k ballots is
#     ever listed, and no by_category figure below k; no view cell drawn
#     from fewer than k ballots is ever shown (its figures null);
#   - the history store holds no record between two release steps;
#   - after the close the venue's figures and every counter equal the
#     expectation computed here from the ballots fed, exactly (every
#     category ends with 10 ballots or more, so nothing is withheld).
source "$(dirname "$0")/../integration/lib.sh"

K=10
N=${PINGYI_SEC_BALLOTS:-127}
python3 - "$SRC/examples/2022-district-review.json" "$WORK/election.json" "$K" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
d["k_anonymity"] = int(sys.argv[3])
for v in d["venues"]:
    v.pop("issued", None)  # a drill: more ballots than the meeting issued
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
setup_deploy "$WORK/election.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

HTTP_PORT=$(free_port)
AGG="http://127.0.0.1:$HTTP_PORT"
"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$HTTP_PORT" \
  --interval-ms 100 --stale-ms 5000 --data "$WORK/agg-data" >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "listening on" 10

# The ballots of v01 (categories in turn, so each ends with 31 or 32) and
# their expected tally, computed here.
python3 - "$WORK/election.json" "$N" "$WORK/ballots.csv" "$WORK/expect.json" <<'PY'
import hashlib, json, random, sys
path, n, out, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
d = json.load(open(path, encoding="utf-8"))
venue = next(v for v in d["venues"] if v["id"] == "v01")
items = [i["id"] for i in d["items"]]
labels = [g["label"] for g in d["grades"]]
cats = [c["id"] for c in d["categories"]]
cells = [f"{s}:{i}" for s in venue["subjects"] for i in items]
rnd = random.Random(2024)
lines, counts = ["category," + ",".join(cells)], {}
for b in range(n):
    cat = cats[b % len(cats)]
    row = [cat]
    for cell in cells:
        r = rnd.random()
        if r < 0.06:
            v, mark = "", "BLANK"
        elif r < 0.09:
            v, mark = labels[0] + "|" + labels[2], "OVER"
        else:
            v = mark = rnd.choice(labels)
        row.append(v)
        s, it = cell.split(":")
        counts[(s, it, cat, mark)] = counts.get((s, it, cat, mark), 0) + 1
    lines.append(",".join(row))
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
json.dump({"election": hashlib.sha256(open(path, "rb").read()).hexdigest(), "venue": "v01", "ballots": n,
           "blank_ballots": 0,
           "counters": [{"subject": s, "item": i, "category": c, "mark": m, "count": k}
                        for (s, i, c, m), k in sorted(counts.items())]},
          open(expect, "w", encoding="utf-8"), ensure_ascii=False)
PY

# The watcher: polls until the venue is closed with every ballot, records
# every distinct state, and writes them out for the checks below.
# Each endpoint is one track of states (one GET is one consistent moment of
# the count; three GETs in a row may straddle a merge).
cat >"$WORK/watch.py" <<'PY'
import json, sys, time, urllib.request
agg, out, deadline, n = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3]), int(sys.argv[4])
def get(path):
    with urllib.request.urlopen(agg + path, timeout=5) as r:
        return json.load(r)
def tally_state(d):
    v = next(x for x in d["venues"] if x["venue"] == "v01")
    return {"accepted": v["accepted"], "closed": v["closed"], "blank": v["blank"],
            "by_category": v["by_category"], "suppressed": v["suppressed_categories"],
            "counters": {"|".join((c["subject"], c["item"], c["category"], c["mark"])): c["count"]
                         for c in d["counters"] if c["venue"] == "v01"}}
def summary_state(d):
    st = d["status"]
    return {"accepted": st["accepted"], "closed": st["closed"] + st["reconciled"] + st["void"] > 0,
            "status": st, "city": d["city"]}
def view_state(d):
    v = next(x for x in d["venues"] if x["venue"] == "v01")
    return {"accepted": v["accepted"], "closed": v["closed"], "city": d["levels"]["city"][0],
            "s01": next(r for r in d["levels"]["subject"] if r["id"] == "s01")}
tracks = {"tally": ([], "/api/v1/tally", tally_state), "summary": ([], "/api/v1/summary", summary_state),
          "view": ([], "/api/v1/view", view_state)}
polls, done = 0, False
while time.time() < deadline and not done:
    t0 = time.time()
    polls += 1
    for name, (states, path, fn) in tracks.items():
        try:
            state = fn(get(path))
        except OSError:
            continue
        if not states or state != {k: x for k, x in states[-1].items() if k != "t"}:
            state["t"] = round(time.time(), 3)
            states.append(state)
        done = done or (name == "tally" and state["closed"] and state["accepted"] == n)
    time.sleep(max(0.0, 0.1 - (time.time() - t0)))
json.dump({"polls": polls, "tracks": {k: v[0] for k, v in tracks.items()}}, open(out, "w"), ensure_ascii=False)
PY
python3 "$WORK/watch.py" "$AGG" "$WORK/states.json" 120 "$N" &
watcher=$!

# the venue's scanner: one line every 50 ms into the client's stdin
(
  while IFS= read -r line; do
    printf '%s\n' "$line"
    sleep 0.05
  done <"$WORK/ballots.csv"
) | "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --input - \
  --outbox "$WORK/outbox-v01" --close --issued "$N" --collected "$N" --json \
  >"$WORK/client.json" 2>"$WORK/client.log" || fail "the client exited non-zero: $(tail -5 "$WORK/client.log")"
wait "$watcher" || fail "the watcher failed"

python3 - "$WORK/states.json" "$K" "$N" <<'PY' || fail "a released figure moved by fewer than k ballots"
import json, sys
doc, k, n = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
problems = []
for name, states in doc["tracks"].items():
    assert states, "%s: nothing seen" % name
    seen = sorted({s["accepted"] for s in states if not s["closed"]})
    print("%s: %d polls, %d distinct states; accepted before the close: %s"
          % (name, doc["polls"], len(states), seen))
    assert len(seen) >= 3, "%s: too few steps seen to say anything: %s" % (name, seen)
    for a, b in zip(states, states[1:]):
        if b["closed"]:
            continue  # the close releases what is left, whatever its size
        step = b["accepted"] - a["accepted"]
        moved = sorted(key for key in a if key not in ("t", "accepted") and a[key] != b.get(key))
        if moved and not step >= k:
            problems.append("%s at %.3f: %s moved with a step of %d accepted ballots (%d -> %d)"
                            % (name, b["t"], "/".join(moved), step, a["accepted"], b["accepted"]))
        if step and step < k:
            problems.append("%s at %.3f: accepted moved by %d (< k = %d)" % (name, b["t"], step, k))
    for s in states:
        if 0 < s["accepted"] < k and not s["closed"]:
            problems.append("%s at %.3f: %d accepted ballots shown (< k)" % (name, s["t"], s["accepted"]))
for s in doc["tracks"]["tally"]:
    for cat, count in s["by_category"].items():
        if count < k:
            problems.append("tally at %.3f: by_category %s = %d (< k)" % (s["t"], cat, count))
    for key in s["counters"]:
        if key.split("|")[2] not in s["by_category"]:
            problems.append("tally at %.3f: counter %s listed, its group's ballots not released" % (s["t"], key))
# no cell of fewer than k ballots is shown: the marks of one (row, item,
# category) cell are its ballots (one mark per ballot per subject)
for s in doc["tracks"]["view"]:
    for name in ("city", "s01"):
        for item in s[name]["cells"]:
            for cell in item:
                if cell is not None and 0 < sum(cell[:-1]) < k:
                    problems.append("view at %.3f: %s shows a cell of %d ballots" % (s["t"], name, sum(cell[:-1])))
for s in doc["tracks"]["summary"]:
    for cat, cell in s["city"]["by_category"].items():
        if not cell["suppressed"] and 0 < cell["valid"] + cell["blank"] + cell["over"] < k:
            problems.append("summary at %.3f: city %s shown from fewer than k ballots" % (s["t"], cat))
last = doc["tracks"]["tally"][-1]
assert last["closed"] and last["accepted"] == n, last
for p in problems[:20]:
    print("PROBLEM", p)
sys.exit(1 if problems else 0)
PY
pass "live: no released figure moved by fewer than $K ballots of v01 before its close"

# history: one record per release step, never between two
get_json() { python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
get_json "$AGG/api/v1/history?limit=10000" >"$WORK/history.json" || fail "history"
python3 - "$WORK/history.json" "$K" "$N" <<'PY' || fail "the history store moved by fewer than k ballots"
import json, sys
d, k, n = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
records = list(reversed(d["records"]))
accepted = [r["accepted"] for r in records]
print("history: %d records, accepted %s" % (len(records), accepted))
assert accepted[-1] == n, accepted
for a, b in zip(records, records[1:]):
    step = b["accepted"] - a["accepted"]
    final = b["venues"]["reconciled"] + b["venues"]["closed"] > 0
    assert step >= k or final or step == 0, (a, b)
PY
pass "history: a record per release step"

# after the close: every figure and counter of v01 exactly as fed
get_json "$AGG/api/v1/tally" >"$WORK/tally.json" || fail "tally"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally.json" "$WORK/expect.json" \
  || fail "after the close, /api/v1/tally differs from the ballots fed"
python3 - "$WORK/tally.json" "$N" <<'PY' || fail "after the close, the venue's figures"
import json, sys
v = next(x for x in json.load(open(sys.argv[1]))["venues"] if x["venue"] == "v01")
n = int(sys.argv[2])
assert v["closed"] and v["accepted"] == n and v["issued"] == n and v["collected"] == n, v
assert v["suppressed_categories"] == [] and sum(v["by_category"].values()) == n, v
PY
"$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data" --format json >"$WORK/q-data.json" || fail "query --data"
"$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$AGG" --format json >"$WORK/q-agg.json" || fail "query --agg"
cmp -s "$WORK/q-data.json" "$WORK/q-agg.json" || fail "query --data and --agg differ after the close"
pass "after the close: v01's figures and counters equal the ballots fed, exactly"
