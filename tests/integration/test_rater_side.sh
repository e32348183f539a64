#!/usr/bin/env bash
# The rater side (docs/rollup.md "The rater side"): a generated city of 3
# districts × 3 venues where every venue also rates s1 (of d1's unit u1), so
# s1 is rated in every district; v6 has only a few ballots, so its groups
# are below k and withheld.  `pingyi query --side rater --by venue|district|
# category` (--subject s1, --unit u2, the city) and the aggregator's
# /api/v1/rollup?side=rater are compared cell by cell (every choice, blank,
# over, valid, rates, weighted score; every category and all categories)
# with sums computed here from the generators' --expect files.  A cell is
# expected withheld exactly when one of its (venue, category) groups is
# withheld by the release (the aggregator's released tally names them), and
# every group with 0 < ballots < k must be one of those (rule 1, checked
# here from the expect files alone).  CSV, table and XLSX render the same rows.
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_BALLOTS:-120}
SMALL=6
DEF=$WORK/rater-election.json
"$BIN/pingyi" gen-election --districts 3 --venues-per-district 3 --subjects 6 --form-subjects 2 --items 2 \
  --shards 8 --seed 7 --out "$WORK/gen.json" || fail "gen-election"
python3 - "$WORK/gen.json" "$DEF" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
for v in d["venues"]:
    v.pop("issued", None)
    if "s1" not in v["subjects"]:
        v["subjects"].append("s1")   # s1 is rated in every district
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
setup_deploy "$DEF" 1
start_broker
start_worker 1 0-7
wait_workers 1
VENUES="v1 v2 v3 v4 v5 v6 v7 v8 v9"
clients=()
seed=71
total=0
for v in $VENUES; do
  n=$N
  [ "$v" = v6 ] && n=$SMALL
  total=$((total + n))
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT" --generate "$n" --seed $seed \
    --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --close --issued "$n" --collected "$n" --json \
    >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  clients+=($!)
  seed=$((seed + 1))
done
for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero"; done

start_agg
URL=$AGG_URL
wait_agg_whole "$total" 9 "$WORK/released-tally.json"

Q=("$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data")
cases=()
for by in venue district category; do
  for of in "--subject s1" "--unit u2" ""; do
    for cat in "" "--category leaders"; do
      tag="$by-$(echo "$of $cat" | tr -c 'a-z0-9' '_')"
      # shellcheck disable=SC2086
      "${Q[@]}" --side rater --by $by $of $cat --format json >"$WORK/q-$tag.json" ||
        fail "query --side rater --by $by $of $cat"
      qs="side=rater&by=$by"
      [ -n "$of" ] && qs="$qs&$(echo "$of" | sed 's/^--\([a-z]*\) /\1=/')"
      [ -n "$cat" ] && qs="$qs&category=leaders"
      curl -sf "$URL/api/v1/rollup?$qs" >"$WORK/a-$tag.json" || fail "GET /api/v1/rollup?$qs"
      # shellcheck disable=SC2086
      "$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$URL" --side rater --by $by $of $cat --format json \
        >"$WORK/g-$tag.json" || fail "query --agg --side rater --by $by $of $cat"
      cases+=("$tag|$by|$of|$cat")
    done
  done
done
for l in subject unit city; do
  "${Q[@]}" --by $l --format json >"$WORK/subject-side-$l.json" || fail "query --by $l"
done
# --by venue without --side is the same grouping
"${Q[@]}" --by venue --subject s1 --format json >"$WORK/plain-venue.json" || fail "query --by venue"
cmp -s "$WORK/plain-venue.json" "$WORK/q-venue-$(echo "--subject s1 " | tr -c 'a-z0-9' _).json" || fail "--by venue differs from --side rater --by venue"

# --agg: the aggregator's released view and tally, regrouped here, give the
# very rows --data gives (withheld cells included)
python3 - "$WORK" "${cases[@]}" <<'PY' || fail "query --agg --side rater differs from --data"
import json, sys
work, cases = sys.argv[1], sys.argv[2:]
withheld = 0
for case in cases:
    tag = case.split("|")[0]
    q = json.load(open(f"{work}/q-{tag}.json", encoding="utf-8"))
    g = json.load(open(f"{work}/g-{tag}.json", encoding="utf-8"))
    assert q["rows"] == g["rows"], f"{tag}: rows differ"
    withheld += sum(r["suppressed"] for r in g["rows"])
    withheld += sum(c["suppressed"] for r in g["rows"] for c in r.get("by_category", {}).values())
assert withheld > 0, "no withheld cell was compared"
print(f"ok: query --agg --side rater = --data in {len(cases)} cases ({withheld} withheld cells among them)")
PY
"$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$URL" --side rater --by district --subject s1 --width 120 \
  >"$WORK/g-table.txt" || fail "query --agg --side rater (table)"
"${Q[@]}" --side rater --by district --subject s1 --width 120 >"$WORK/q-table.txt" || fail "query --side rater (table)"
diff <(grep -v '快照时间' "$WORK/q-table.txt") <(grep -v '快照时间' "$WORK/g-table.txt") >/dev/null ||
  fail "the --agg table differs from the --data table"
pass "query --agg --side rater renders what --data renders"

# subjects and units by name as well as by id (the id first)
S1_NAME=$(python3 -c 'import json,sys; print(next(s["name"] for s in json.load(open(sys.argv[1]))["subjects"] if s["id"] == "s1"))' "$DEF")
"${Q[@]}" --side rater --by district --subject "$S1_NAME" --format json >"$WORK/by-name.json" ||
  fail "query --subject by name"
cmp -s "$WORK/by-name.json" "$WORK/q-district-$(echo "--subject s1 " | tr -c 'a-z0-9' _).json" ||
  fail "--subject NAME differs from --subject s1"
ENC=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$S1_NAME")
curl -sf "$URL/api/v1/rollup?side=rater&by=district&subject=$ENC" >"$WORK/a-by-name.json" || fail "API subject by name"
python3 - "$WORK/a-by-name.json" "$WORK/a-district-$(echo "--subject s1 " | tr -c 'a-z0-9' _).json" <<'PY' ||
import json, sys
a, b = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:])
assert a["rows"] == b["rows"] and a["of"] == b["of"] == {"level": "subject", "id": "s1"}, (a["of"], b["of"])
PY
  fail "the API's subject by name differs from by id"
"${Q[@]}" --side rater --by district --subject 无此人 --format json >/dev/null 2>"$WORK/noname.err" &&
  fail "an unknown subject was accepted"
grep -qx 'pingyi query: no subject "无此人" in this election (neither an id nor a name)' "$WORK/noname.err" ||
  fail "unknown subject: $(cat "$WORK/noname.err")"
pass "--subject and subject= take a name: $S1_NAME"

python3 - "$DEF" "$WORK" "$SMALL" "${cases[@]}" <<'PY' || fail "the rater side differs from the expectation"
import json, math, sys
from collections import defaultdict

d = json.load(open(sys.argv[1], encoding="utf-8"))
work, cases = sys.argv[2], sys.argv[4:]
k = d.get("k_anonymity", 10)
labels = [g["label"] for g in d["grades"]]
points = {g["label"]: g["points"] for g in d["grades"]}
fav = {g["label"] for g in d["grades"] if g.get("favourable")}
unfav = {g["label"] for g in d["grades"] if g.get("unfavourable")}
cats = [c["id"] for c in d["categories"]]
weights = {c["id"]: c.get("weight", 1) for c in d["categories"]}
venue_district = {v["id"]: v["district"] for v in d["venues"]}
venue_subjects = {v["id"]: v["subjects"] for v in d["venues"]}
unit_of = {s["id"]: s["unit"] for s in d["subjects"]}
items = [i["id"] for i in d["items"]]
overall = next((i["id"] for i in d["items"] if i.get("overall")), items[0])

raw = defaultdict(int)          # (venue, subject, item, category, mark)
for v in venue_district:
    exp = json.load(open(f"{work}/expect-{v}.json", encoding="utf-8"))
    for c in exp["counters"]:
        raw[(v, c["subject"], c["item"], c["category"], c["mark"])] += c["count"]
# B(v, c): ballots of a group = marks of any one (subject, item) cell (one mark per ballot)
B = {(v, c): max(sum(raw[(v, s, it, c, m)] for m in labels + ["BLANK", "OVER"])
                 for s in venue_subjects[v] for it in items)
     for v in venue_district for c in cats}
released = json.load(open(f"{work}/released-tally.json", encoding="utf-8"))
hidden = {(v["venue"], c) for v in released["venues"] for c in v.get("suppressed_categories", [])}
small = {g for g, b in B.items() if 0 < b < k}
assert small, "the test wants some small groups (v6)"
assert small <= hidden, f"small groups published: {small - hidden}"

def expect(venues, subjects, item, cset, weighted):
    ch = {l: sum(raw[(v, s, item, c, l)] for v in venues for s in subjects for c in cset) for l in labels}
    blank = sum(raw[(v, s, item, c, "BLANK")] for v in venues for s in subjects for c in cset)
    over = sum(raw[(v, s, item, c, "OVER")] for v in venues for s in subjects for c in cset)
    valid = sum(ch.values())
    num = den = 0.0
    for c in cset:
        vc = sum(raw[(v, s, item, c, l)] for v in venues for s in subjects for l in labels)
        if vc:
            avg = sum(points[l] * raw[(v, s, item, c, l)] for v in venues for s in subjects for l in labels) / vc
            w = weights[c] if weighted else 1.0
            num += w * avg
            den += w
    return {"choices": ch, "blank": blank, "over": over, "valid": valid,
            "good_rate": sum(ch[l] for l in fav) / valid if valid else None,
            "bad_rate": sum(ch[l] for l in unfav) / valid if valid else None,
            "score": num / den if den else None}

def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)

def check(where, got, venues, subjects, item, cset, weighted, suppressed):
    assert got["suppressed"] == suppressed, f"{where}: suppressed {got['suppressed']} != {suppressed}"
    if suppressed:
        assert got["choices"] is None and got["valid"] is None and got["score"] is None, where
        return 1
    want = expect(venues, subjects, item, cset, weighted)
    for key in ("blank", "over", "valid"):
        assert got[key] == want[key], f"{where}: {key} {got[key]} != {want[key]}"
    assert got["choices"] == want["choices"], f"{where}: choices {got['choices']} != {want['choices']}"
    for key in ("good_rate", "bad_rate", "score"):
        assert close(got[key], want[key]), f"{where}: {key} {got[key]} != {want[key]}"
    return 1

checked = 0
withheld = 0
for case in cases:
    tag, by, of, cat = case.split("|")
    if of.startswith("--subject"):
        subjects = [of.split()[1]]
    elif of.startswith("--unit"):
        subjects = [s for s, u in unit_of.items() if u == of.split()[1]]
    else:
        subjects = list(unit_of)
    rated = [v for v in venue_district if any(s in venue_subjects[v] for s in subjects)]
    of_level, of_id = (of.split()[0][2:], of.split()[1]) if of else ("city", "city")
    subject_row = next(r for r in json.load(open(f"{work}/subject-side-{of_level}.json", encoding="utf-8"))["rows"]
                       if r["id"] == of_id)
    cat_shown = cat.split()[1] if cat else None
    for src in ("q", "a"):
        doc = json.load(open(f"{work}/{src}-{tag}.json", encoding="utf-8"))
        assert doc["side"] == "rater" and doc["by"] == by and doc["level"] == by, f"{src}-{tag}: header"
        if by == "venue":
            want_rows = [(v, [v], None) for v in venue_district if v in rated]
        elif by == "district":
            want_rows = [(x["id"], [v for v in rated if venue_district[v] == x["id"]], None) for x in d["districts"]]
        else:
            want_rows = [(c, rated, c) for c in cats]
        assert [r["id"] for r in doc["rows"]] == [w[0] for w in want_rows], f"{src}-{tag}: rows"
        for row, (rid, venues, only) in zip(doc["rows"], want_rows):
            def sup(cset):
                if by == "category":   # the subject-side cell (of row, c): the view's own decision
                    return bool(cset) and subject_row["by_category"][cset[0]]["suppressed"]
                return any((v, c) in hidden and B[(v, c)] > 0 for v in venues for c in cset)
            def cell_cats(c):
                return [c] if only is None or only == c else []
            if cat_shown:
                cs = cell_cats(cat_shown)
                s = sup(cs)
                withheld += s
                checked += check(f"{src}-{tag} {rid}", row, venues, subjects, overall, cs, False, s)
                continue
            for c in cats:
                cs = cell_cats(c)
                s = sup(cs)
                got = row["by_category"][c]
                withheld += s
                checked += check(f"{src}-{tag} {rid}/{c}", got, venues, subjects, overall, cs, False, s)
            cs = cats if only is None else [only]
            s = sup(cs)
            withheld += s
            checked += check(f"{src}-{tag} {rid}", row, venues, subjects, overall, cs, only is None, s)
    # the query and the API give the same rows
    q = json.load(open(f"{work}/q-{tag}.json", encoding="utf-8"))
    a = json.load(open(f"{work}/a-{tag}.json", encoding="utf-8"))
    assert q["rows"] == a["rows"], f"{tag}: query and API rows differ"
assert withheld > 0, "no cell was withheld: the k rule was not exercised"
assert checked > 100, checked
print(f"{checked} cells checked, {withheld} withheld")
PY

# the other formats render the same rows
"${Q[@]}" --side rater --by district --subject s1 --format csv >"$WORK/d.csv" || fail "csv"
head -c 3 "$WORK/d.csv" | od -An -tx1 | grep -q 'ef bb bf' || fail "csv without BOM"
for x in d1 d2 d3; do grep -q "^$x," "$WORK/d.csv" || fail "csv lacks row $x"; done
"${Q[@]}" --side rater --by venue --subject s1 --width 120 >"$WORK/v.txt" || fail "table"
grep -q '会场' "$WORK/v.txt" || fail "table heading"
grep -q '<k' "$WORK/v.txt" || fail "the table shows no withheld cell for v6"
"${Q[@]}" --side rater --by category --unit u1 --format xlsx --out "$WORK/c.xlsx" || fail "xlsx"
unzip -l "$WORK/c.xlsx" >/dev/null 2>&1 || fail "xlsx does not unzip"
# bad arguments
set +e
"${Q[@]}" --side rater --by unit --subject s1 >/dev/null 2>&1; rc1=$?
"${Q[@]}" --side rater --by venue --subject nobody >/dev/null 2>&1; rc2=$?
set -e
[ $rc1 -eq 2 ] || fail "--side rater --by unit not refused ($rc1)"
[ $rc2 -eq 2 ] || fail "unknown subject not refused ($rc2)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/rollup?side=rater&by=unit")
[ "$code" = 400 ] || fail "side=rater&by=unit gave $code"
pass "rater side: query and API equal the expectation cell by cell, the k rule per group"
