#!/usr/bin/env bash
# `pingyi query --data`: 3 venues × 2,000 generated ballots through broker
# and two workers, then the view read offline from the shards.  Every
# subject row's choices, blank and over (overall item and one single item,
# all categories and each category) equal sums computed here from the
# generators' expected tallies (not from pingyi); rates and the weighted
# score equal the formulas applied here to the definition's points and
# weights; unit, town, department, kind, district and city rows equal the
# sums of their subjects; every venue is reconciled and the count FINAL.
# CSV starts with the BOM and has CRLF lines; the XLSX export unzips; the
# table lines up; bad flags exit 2, unreadable data exits 1.
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_BALLOTS:-2000}
DEF="$(drill_definition)"
setup_deploy "$DEF" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

clients=()
seed=31
for v in v01 v02 v03; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT" --generate "$N" --seed $seed \
    --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" --json \
    >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  clients+=($!)
  seed=$((seed + 1))
done
for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero"; done
stop worker1
stop worker2
stop broker

Q=("$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data")
for level in subject unit town department kind district city; do
  "${Q[@]}" --by $level --format json >"$WORK/$level.json" || fail "query --by $level"
done
"${Q[@]}" --by subject --item duty --format json >"$WORK/subject-duty.json" || fail "query --item duty"
"${Q[@]}" --by subject --category leaders --format json >"$WORK/subject-leaders.json" || fail "query --category"
"${Q[@]}" --by subject --district d1 --format json >"$WORK/subject-d1.json" || fail "query --district d1"

python3 - "$DEF" "$WORK" "$N" <<'PY' || fail "the view differs from the generators' expectation"
import json, math, sys
from collections import defaultdict

definition, work, n = json.load(open(sys.argv[1], encoding="utf-8")), sys.argv[2], int(sys.argv[3])
labels = [g["label"] for g in definition["grades"]]
points = {g["label"]: g["points"] for g in definition["grades"]}
fav = {g["label"] for g in definition["grades"] if g.get("favourable")}
unfav = {g["label"] for g in definition["grades"] if g.get("unfavourable")}
weights = {c["id"]: c.get("weight", 1) for c in definition["categories"]}
unit_of = {s["id"]: s["unit"] for s in definition["subjects"]}
units = {u["id"]: u for u in definition["units"]}

# raw[(subject, item, category, mark)] summed over the three venues
raw = defaultdict(int)
fingerprint = None
for v in ("v01", "v02", "v03"):
    exp = json.load(open(f"{work}/expect-{v}.json", encoding="utf-8"))
    fingerprint = exp["election"]
    for c in exp["counters"]:
        raw[(c["subject"], c["item"], c["category"], c["mark"])] += c["count"]

def cell(subjects, item, cats):
    """Counts, rates and score for a set of subjects, computed from raw."""
    ch = {l: sum(raw[(s, item, c, l)] for s in subjects for c in cats) for l in labels}
    blank = sum(raw[(s, item, c, "BLANK")] for s in subjects for c in cats)
    over = sum(raw[(s, item, c, "OVER")] for s in subjects for c in cats)
    valid = sum(ch.values())
    good = sum(ch[l] for l in fav) / valid if valid else None
    bad = sum(ch[l] for l in unfav) / valid if valid else None
    num = den = 0.0
    for c in cats:
        vc = sum(raw[(s, item, c, l)] for s in subjects for l in labels)
        if vc:
            avg = sum(points[l] * raw[(s, item, c, l)] for s in subjects for l in labels) / vc
            w = weights[c] if len(cats) > 1 else 1.0
            num += w * avg
            den += w
    score = num / den if den else None
    return dict(choices=ch, blank=blank, over=over, valid=valid, good_rate=good, bad_rate=bad, score=score)

def same(a, b):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)

def check_row(row, want, where):
    for k in ("choices", "blank", "over", "valid"):
        assert row[k] == want[k], (where, k, row[k], want[k])
    for k in ("good_rate", "bad_rate", "score"):
        assert same(row[k], want[k]), (where, k, row[k], want[k])

all_cats = list(weights)
members = {  # level -> row id -> subjects
    "subject": {s["id"]: [s["id"]] for s in definition["subjects"]},
    "unit": {u: [s for s in unit_of if unit_of[s] == u] for u in units},
    "town": {u: [s for s in unit_of if unit_of[s] == u] for u in units if units[u]["kind"] == "town"},
    "department": {u: [s for s in unit_of if unit_of[s] == u] for u in units if units[u]["kind"] == "department"},
    "kind": {},
    "district": {d["id"]: [s for s in unit_of if units[unit_of[s]]["district"] == d["id"]]
                 for d in definition["districts"]},
    "city": {"city": list(unit_of)},
}
for u in units.values():
    members["kind"].setdefault(u["kind"], []).extend(s for s in unit_of if unit_of[s] == u["id"])

checked = 0
for level, rows_want in members.items():
    doc = json.load(open(f"{work}/{level}.json", encoding="utf-8"))
    assert doc["api"] == 1 and doc["level"] == level and doc["item"] == "overall" and doc["category"] is None
    assert doc["election"]["fingerprint"] == fingerprint
    assert doc["final"] is True and doc["provisional"] == [], (doc["status"], doc["provisional"])
    assert doc["status"]["reconciled"] == 3 and doc["status"]["venues"] == 3, doc["status"]
    assert doc["status"]["accepted"] == 3 * n
    assert doc["labels"] == labels
    got_ids = [r["id"] for r in doc["rows"]]
    want_ids = [k for k in rows_want]
    if level == "kind":  # definition order of kinds
        order = ["town", "department", "enterprise", "school", "other"]
        want_ids = [k for k in order if k in rows_want]
    assert got_ids == want_ids, (level, got_ids, want_ids)
    for row in doc["rows"]:
        subjects = rows_want[row["id"]]
        check_row(row, cell(subjects, "overall", all_cats), (level, row["id"]))
        for c in all_cats:
            check_row(row["by_category"][c], cell(subjects, "overall", [c]), (level, row["id"], c))
        checked += 1
    # ranks: by score, descending, ties share
    scores = {r["id"]: r["score"] for r in doc["rows"]}
    for r in doc["rows"]:
        if r["score"] is None:
            assert r["rank"] is None
        else:
            better = sum(1 for s in scores.values() if s is not None and s > r["score"] + 1e-9 * max(1, abs(s)))
            assert r["rank"] == better + 1, (level, r["id"], r["rank"], better + 1)
    for v in doc["venues"]:
        assert v["status"] == "reconciled" and v["issued"] == n and v["collected"] == n and v["accepted"] == n, v

# district and city rows are the sums of their subjects' rows
subj = {r["id"]: r for r in json.load(open(f"{work}/subject.json", encoding="utf-8"))["rows"]}
for level in ("district", "city"):
    for row in json.load(open(f"{work}/{level}.json", encoding="utf-8"))["rows"]:
        ss = members[level][row["id"]]
        for l in labels:
            assert row["choices"][l] == sum(subj[s]["choices"][l] for s in ss), (level, l)
        assert row["blank"] == sum(subj[s]["blank"] for s in ss)
        assert row["over"] == sum(subj[s]["over"] for s in ss)

doc = json.load(open(f"{work}/subject-duty.json", encoding="utf-8"))
assert doc["item"] == "duty"
for row in doc["rows"]:
    check_row(row, cell([row["id"]], "duty", all_cats), ("duty", row["id"]))
doc = json.load(open(f"{work}/subject-leaders.json", encoding="utf-8"))
assert doc["category"] == "leaders" and all("by_category" not in r for r in doc["rows"])
for row in doc["rows"]:
    check_row(row, cell([row["id"]], "overall", ["leaders"]), ("leaders", row["id"]))
doc = json.load(open(f"{work}/subject-d1.json", encoding="utf-8"))
assert doc["district"] == "d1" and len(doc["rows"]) == len(definition["subjects"])
print(f"{checked} rows at 7 levels equal the generators' expectation")
PY

# CSV: BOM, CRLF, the header row, one line per subject
"${Q[@]}" --by subject --format csv >"$WORK/subject.csv" || fail "query --format csv"
python3 - "$WORK/subject.csv" <<'PY' || fail "CSV layout"
import sys
b = open(sys.argv[1], "rb").read()
assert b.startswith(b"\xef\xbb\xbf"), b[:8]
lines = b[3:].split(b"\r\n")
assert lines[-1] == b"" and all(b"\n" not in l for l in lines), "lines must end in CRLF"
# above the header: when the shards were read, and FINAL
import re
assert re.fullmatch(r"快照时间,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", lines[0].decode()), lines[0]
assert lines[1].decode() == "状态,FINAL", lines[1]
lines = lines[2:]
head = lines[0].decode()
assert head == ("编号,名称,上级,名次,好,较好,一般,差,弃权,多选无效,有效,好评率,差评率,得分,"
                "得分（领导班子成员）,得分（中层干部）,得分（一般干部）,得分（服务对象）"), head
assert len(lines) == 1 + 11 + 1, len(lines)
print("csv ok")
PY
"${Q[@]}" --format csv --venues >"$WORK/venues.csv" || fail "query --venues --format csv"
head -c 3 "$WORK/venues.csv" | od -An -tx1 | grep -q "ef bb bf" || fail "venues CSV without BOM"

# XLSX: written through --out, a valid zip with one sheet per level and the reconciliation
"${Q[@]}" --format xlsx --out "$WORK/view.xlsx" || fail "query --format xlsx"
[ -s "$WORK/view.xlsx" ] || fail "no xlsx written"
unzip -tq "$WORK/view.xlsx" >/dev/null || fail "the xlsx does not unzip"
[ "$(unzip -l "$WORK/view.xlsx" | grep -c 'xl/worksheets/sheet[0-9]*.xml')" -eq 7 ] || fail "expected 7 sheets"
unzip -p "$WORK/view.xlsx" xl/sharedStrings.xml | grep -q "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["election"]["fingerprint"])' "$WORK/subject.json")" \
  || fail "the fingerprint is not in the workbook"

# table: FINAL, every line the same display width (80)
"${Q[@]}" >"$WORK/table.txt" || fail "query (table)"
grep -q "最终结果 FINAL" "$WORK/table.txt" || fail "the table does not say FINAL"
grep -q "PROVISIONAL" "$WORK/table.txt" && fail "the table names something that keeps it PROVISIONAL"
grep -Eq "^快照时间 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{2}:[0-9]{2} " "$WORK/table.txt" \
  || fail "the table does not say when the shards were read"
python3 - "$WORK/table.txt" <<'PY' || fail "table widths"
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in s)
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
widths = {width(l) for l in lines}
assert widths == {80}, widths
print(f"{len(lines)} table lines, all 80 columns")
PY
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" >"$WORK/tally.txt" || fail "pingyi tally (view)"
# (but for the moment each read the shards)
cmp -s <(sed 's/^快照时间 [0-9T:+-]*/快照时间 T/' "$WORK/tally.txt") <(sed 's/^快照时间 [0-9T:+-]*/快照时间 T/' "$WORK/table.txt") \
  || fail "pingyi tally and pingyi query print different tables"

# bad flags exit 2; unreadable data exits 1
set +e
"${Q[@]}" --district nowhere >/dev/null 2>"$WORK/e1"; rc1=$?
"${Q[@]}" --format xlsx >/dev/null 2>"$WORK/e2"; rc2=$?
"${Q[@]}" --by street >/dev/null 2>"$WORK/e3"; rc3=$?
"$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/no-such-dir" >/dev/null 2>"$WORK/e4"; rc4=$?
set -e
[ $rc1 -eq 2 ] && grep -q 'unknown district "nowhere"' "$WORK/e1" || fail "unknown district: exit $rc1 $(cat "$WORK/e1")"
[ $rc2 -eq 2 ] && grep -q 'needs --out' "$WORK/e2" || fail "xlsx without --out: exit $rc2"
[ $rc3 -eq 2 ] && grep -q 'unknown level "street"' "$WORK/e3" || fail "unknown level: exit $rc3"
[ $rc4 -eq 1 ] && grep -q 'no-such-dir' "$WORK/e4" || fail "missing data dir: exit $rc4 $(cat "$WORK/e4")"
pass "pingyi query --data: every level equals the generators' expectation; CSV, XLSX and table laid out"
