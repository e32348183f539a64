#!/usr/bin/env bash
# Contests as first-class items (docs/rollup.md "Contests"): a statewide race
# made by make_contest.py — 14 counties (districts) of 3..8 precincts
# (venues), one contest subject whose unit is in the first county, three
# items without grades or points: a plurality race (three candidates, one
# seat; an exact tie in county c02), a 同意/不同意/弃权 measure, an approval
# race (four candidates, two seats; a tie at the second seat in c03).
# Every precinct's CSV goes through the real client, broker and worker.
# `pingyi query --side rater --by district|venue` and the aggregator's
# /api/v1/rollup?side=rater are compared with the expectation computed in
# Python from the ballots (counts, blank, over, votes, shares, winners,
# ties, approval rate), the state row on the subject side too; the CSV,
# the table and the view of each kind show their own columns.
source "$(dirname "$0")/lib.sh"

python3 "$SRC/tests/integration/make_contest.py" "$WORK" >"$WORK/made.txt" || fail "make_contest.py"
DEF=$WORK/contest.json
"$BIN/pingyi" check "$DEF" >"$WORK/check.txt" || fail "pingyi check refused a definition of contests"
grep -q 'gov .*\[cands, plurality, choose up to 1, 1 seat\]' "$WORK/check.txt" || fail "check: the plurality item"
grep -q 'council .*\[council, approval, choose up to 4, 2 seats\]' "$WORK/check.txt" || fail "check: the approval item"
"$BIN/pingyi" check "$SRC/examples/contests.json" >"$WORK/check-example.txt" || fail "examples/contests.json"
"$BIN/pingyi" template --definition "$DEF" --venue p001 --out "$WORK/template.csv" || fail "template (csv)"
[ "$(head -c 200 "$WORK/template.csv" | sed 's/^\xef\xbb\xbf//' | tr -d '\r' | head -1)" = "category,race:gov,race:measure,race:council" ] ||
  fail "template header: $(head -1 "$WORK/template.csv")"
"$BIN/pingyi" template --definition "$DEF" --venue p001 --format xlsx --out "$WORK/template.xlsx" ||
  fail "template (xlsx)"
python3 - "$WORK/template.xlsx" <<'PY' || fail "the template's legend lists the candidates, no empty grades"
import sys, zipfile
s = zipfile.ZipFile(sys.argv[1]).read("xl/sharedStrings.xml").decode()
assert "选项：cands" in s and "甲" in s and "选项：grades" not in s
PY
pass "pingyi check: a definition with no grades and no points"

setup_deploy "$DEF" 1
start_broker
start_worker 1 0-3
wait_workers 1
VENUES=$(python3 -c 'import json,sys; print(" ".join(v["id"] for v in json.load(open(sys.argv[1]))["venues"]))' "$DEF")
total=0
count=0
pids=()
for v in $VENUES; do
  n=$(($(wc -l <"$WORK/ballots-$v.csv") - 1))
  total=$((total + n))
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue "$v" --broker "$ENDPOINT" --input "$WORK/ballots-$v.csv" \
    --outbox "$WORK/outbox-$v" --close --issued "$n" --collected "$n" >"$WORK/client-$v.log" 2>&1 &
  pids+=($!)
  count=$((count + 1))
  if [ ${#pids[@]} -ge 8 ]; then
    for p in "${pids[@]}"; do wait "$p" || fail "a client exited non-zero"; done
    pids=()
  fi
done
for p in "${pids[@]}"; do wait "$p" || fail "a client exited non-zero"; done
pass "$count precincts sent $total ballots"

start_agg
URL=$AGG_URL
wait_agg_whole "$total" "$count"

curl -sf "$URL/api/v1/summary" >"$WORK/summary.json" || fail "GET /api/v1/summary"
python3 - "$WORK/summary.json" "$WORK/expect.json" <<'PY' || fail "the summary's city row of the race"
import json, sys
s = json.load(open(sys.argv[1], encoding="utf-8"))
e = json.load(open(sys.argv[2], encoding="utf-8"))["city"]["gov"]
assert s["item"] == "gov" and s["kind"] == "plurality", (s["item"], s["kind"])
assert [i["kind"] for i in s["election"]["items"]] == ["plurality", "yes_no", "approval"]
assert [i.get("seats") for i in s["election"]["items"]] == [1, None, 2]
assert s["city"]["winners"] == e["winners"] and s["city"]["votes"] == e["votes"], (s["city"], e)
PY
Q=("$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data")
for item in gov measure council; do
  for by in district venue; do
    "${Q[@]}" --side rater --by $by --item $item --format json >"$WORK/q-$by-$item.json" ||
      fail "query --side rater --by $by --item $item"
    curl -sf "$URL/api/v1/rollup?side=rater&by=$by&item=$item" >"$WORK/a-$by-$item.json" ||
      fail "GET /api/v1/rollup?side=rater&by=$by&item=$item"
  done
  "${Q[@]}" --by city --item $item --format json >"$WORK/q-city-$item.json" || fail "query --by city --item $item"
  "${Q[@]}" --by district --item $item --format json >"$WORK/q-subject-district-$item.json" ||
    fail "query --by district --item $item"
done

python3 - "$WORK" <<'PY' || fail "the contest's figures differ from the expectation"
import json, math, sys
work = sys.argv[1]
exp = json.load(open(f"{work}/expect.json", encoding="utf-8"))
KEYS = {"gov": ["votes", "shares", "winners", "tie"], "council": ["votes", "shares", "winners", "tie"],
        "measure": ["approval_rate"]}
GRADED_ONLY = ["good_rate", "bad_rate", "score", "rank", "majority_grade", "mj_rank", "score_rank"]

def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b

def check(doc, rows_exp, item, what):
    assert doc["kind"] == {"gov": "plurality", "measure": "yes_no", "council": "approval"}[item], what
    rows = {r["id"]: r for r in doc["rows"]}
    assert set(rows) == set(rows_exp), f"{what}: rows {sorted(rows)} != {sorted(rows_exp)}"
    for rid, e in rows_exp.items():
        got = rows[rid]
        assert not got["suppressed"], f"{what} {rid}: suppressed"
        for k in ["choices", "blank", "over", "valid"] + KEYS[item]:
            assert same(got[k], e[item][k]), f"{what} {rid} {k}: got {got[k]!r}, expected {e[item][k]!r}"
        for k in GRADED_ONLY:
            assert k not in got, f"{what} {rid}: a {doc['kind']} row has {k}"
    return len(rows_exp)

cells = 0
for item in ["gov", "measure", "council"]:
    for src in "qa":
        cells += check(json.load(open(f"{work}/{src}-district-{item}.json")), exp["districts"], item,
                       f"{src} by district {item}")
        cells += check(json.load(open(f"{work}/{src}-venue-{item}.json")), exp["venues"], item,
                       f"{src} by venue {item}")
    cells += check(json.load(open(f"{work}/q-city-{item}.json")), {"city": exp["city"]}, item, f"city {item}")
    # the subject side rolls up by the contest's unit: everything in c01, nothing elsewhere
    sub = json.load(open(f"{work}/q-subject-district-{item}.json"))
    c01 = next(r for r in sub["rows"] if r["id"] == "c01")
    assert same(c01["choices"], exp["city"][item]["choices"]), f"subject side c01 {item}"
    assert all(r["valid"] == 0 for r in sub["rows"] if r["id"] != "c01"), f"subject side {item}"
d = exp["districts"]
assert d["c02"]["gov"]["winners"] == ["甲", "乙"] and d["c02"]["gov"]["tie"]
print(f"ok: {cells} rows equal the expectation (c02 gov tie {d['c02']['gov']['winners']}, "
      f"c03 council tie {d['c03']['council']['winners']})")
PY
pass "rater side by district and by venue, city, both query and API, every item's kind"

# the columns follow the kind: CSV headers, exact
"${Q[@]}" --side rater --by district --item gov --format csv >"$WORK/gov.csv" || fail "csv gov"
"${Q[@]}" --side rater --by district --item measure --format csv >"$WORK/measure.csv" || fail "csv measure"
head=$(grep -m1 '^编号' "$WORK/gov.csv" | tr -d '\r')
[ "$head" = "编号,名称,上级,甲,乙,丙,得票率（甲）,得票率（乙）,得票率（丙）,空白,无效,票数,当选" ] ||
  fail "plurality CSV header: $head"
head=$(grep -m1 '^编号' "$WORK/measure.csv" | tr -d '\r')
[ "$head" = "编号,名称,上级,同意,不同意,弃权,空白,无效,有效,同意率,同意率（选民）" ] ||
  fail "yes_no CSV header: $head"
row=$(grep '^c02,' "$WORK/gov.csv" | tr -d '\r')
case "$row" in *",并列 甲、乙") ;; *) fail "the c02 CSV row does not name the tie: $row" ;; esac
pass "CSV columns: $(grep -c . "$WORK/gov.csv") lines, the tie named"

"${Q[@]}" --side rater --by district --item gov --width 100 >"$WORK/gov.txt" || fail "table gov"
grep -q '当选' "$WORK/gov.txt" || fail "table: no 当选 column"
grep -q '^项目：省长  层级：会场所在区  类别：全部类别 ' "$WORK/gov.txt" || fail "table: a race's categories are not weighted"
grep -q '并列 甲、乙' "$WORK/gov.txt" || fail "table: the tie is not named"
grep -q '好评率\|得分\|名次' "$WORK/gov.txt" && fail "table: graded columns on a plurality item"
"${Q[@]}" --side rater --by district --item gov --width 100 --lang en >"$WORK/gov-en.txt" || fail "table en"
grep -q 'tie 甲, 乙' "$WORK/gov-en.txt" || fail "table --lang en: the tie"
"${Q[@]}" --by city --item council --format xlsx --out "$WORK/council.xlsx" || fail "xlsx council"
python3 - "$WORK/council.xlsx" <<'PY' || fail "the workbook's contest columns"
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
strings = z.read("xl/sharedStrings.xml").decode()
for want in ["得票率（赵）", "当选", "票数"]:
    assert want in strings, want
assert "好评率" not in strings
PY
pass "table and workbook show the contest's columns"
