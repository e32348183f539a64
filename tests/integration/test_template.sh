#!/usr/bin/env bash
# `pingyi template`: the CSV template's header plus ballot lines written by
# a script is read by a real pingyi-client and counted exactly through a
# real broker and worker; the GB18030 template decodes to the same header;
# the workbook is a zip whose ballot sheet holds exactly the machine header
# in row 1 (so "Save as CSV" gives a file the client reads) and drop-down
# validations; an unknown venue is refused with the known ids, exit 2.
source "$(dirname "$0")/lib.sh"

DEF="$SRC/examples/2022-district-review.json"
setup_deploy "$DEF" 1
cd "$WORK"

# --- CSV: the same bytes from the deploy directory and from the definition
"$BIN/pingyi" template --deploy deploy --venue v01 --out tpl.csv || fail "template --deploy"
"$BIN/pingyi" template --definition "$DEF" --venue v01 >tpl-stdout.csv || fail "template --definition"
cmp tpl.csv tpl-stdout.csv || fail "--deploy and --definition give different templates"
python3 - tpl.csv "$DEF" <<'PY' || fail "CSV template header"
import json, sys
raw = open(sys.argv[1], "rb").read()
d = json.load(open(sys.argv[2], encoding="utf-8"))
v = next(v for v in d["venues"] if v["id"] == "v01")
want = "category," + ",".join(f"{s}:{i['id']}" for s in v["subjects"] for i in d["items"])
assert raw == b"\xef\xbb\xbf" + want.encode() + b"\r\n", raw[:200]
print("header ok:", len(want.split(",")) - 1, "cells")
PY
pass "CSV template: BOM, category + every cell in form order, CRLF, nothing else"

# --- the template filled by a script, read by the real client, counted exactly
start_broker
start_worker 1 0-7
wait_workers 1
python3 "$SRC/tests/integration/template_ballots.py" "$DEF" v01 tpl.csv ballots.csv expect.json 300 >/dev/null
"$BIN/pingyi-client" --deploy deploy --venue v01 --broker "$ENDPOINT" --input ballots.csv --outbox outbox --json \
  >client.json 2>client.log || fail "the client refused the filled template: $(tail -5 client.log)"
python3 - client.json <<'PY' || fail "client summary: $(cat client.json)"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["ballots_read"] == 300 and s["bad_lines"] == 0 and s["accepted"] == 300, s
PY
"$BIN/pingyi" tally --deploy deploy --data data --json >tally.json
python3 "$SRC/tests/integration/compare.py" tally.json expect.json || fail "the filled template was not counted exactly"
pass "filled CSV template: 300 ballots read by pingyi-client, counted exactly"

# --- GB18030: decodes to the same header (no BOM), CRLF
"$BIN/pingyi" template --definition "$DEF" --venue v02 --encoding gb18030 --out tpl-gb.csv || fail "gb18030"
"$BIN/pingyi" template --definition "$DEF" --venue v02 --out tpl-v02.csv
iconv -f GB18030 -t UTF-8 tpl-gb.csv >tpl-gb-utf8.csv || fail "the GB18030 template does not decode"
printf '\xef\xbb\xbf' | cat - tpl-gb-utf8.csv | cmp - tpl-v02.csv || fail "GB18030 header differs from UTF-8 header"
# a Chinese id really goes through GB18030
python3 - "$DEF" cn.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
d["venues"][0]["id"] = "会场一"
d["items"][0]["id"] = "总体"
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
"$BIN/pingyi" template --definition cn.json --venue 会场一 --encoding gb18030 --out cn-gb.csv || fail "gb18030 (cn)"
"$BIN/pingyi" template --definition cn.json --venue 会场一 --out cn-utf8.csv
python3 - cn-gb.csv cn-utf8.csv <<'PY' || fail "GB18030 of a Chinese header"
import sys
gb = open(sys.argv[1], "rb").read(); u = open(sys.argv[2], "rb").read()
assert gb != u[3:] and gb.decode("gb18030") == u[3:].decode("utf-8") and ":总体," in gb.decode("gb18030"), gb[:80]
PY
pass "GB18030 template decodes with iconv -f GB18030 to the same header"

# --- XLSX
"$BIN/pingyi" template --deploy deploy --venue v01 --format xlsx --out tpl.xlsx || fail "xlsx"
python3 -m zipfile -l tpl.xlsx >zip-list.txt || fail "the workbook is not a zip"
grep -q 'xl/worksheets/sheet1.xml' zip-list.txt || fail "no sheet1.xml"
python3 - tpl.xlsx tpl.csv <<'PY' || fail "workbook content"
import re, sys, zipfile
import xml.etree.ElementTree as ET
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
z = zipfile.ZipFile(sys.argv[1])
header = open(sys.argv[2], encoding="utf-8-sig").read().rstrip("\r\n").split(",")
sheet = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
shared = []
if "xl/sharedStrings.xml" in z.namelist():
    for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", NS):
        shared.append("".join(t.text or "" for t in si.iter("{%s}t" % NS["m"])))
root = ET.fromstring(sheet)
rows = root.findall("m:sheetData/m:row", NS)
# row 1 only: no other cell record, so "Save as CSV" writes the header and the ballots typed in
assert [r.get("r") for r in rows] == ["1"], [r.get("r") for r in rows]
values = []
for c in rows[0].findall("m:c", NS):
    v = c.find("m:v", NS)
    if c.get("t") == "s":
        values.append(shared[int(v.text)])
    elif c.get("t") == "inlineStr":
        values.append("".join(t.text or "" for t in c.iter("{%s}t" % NS["m"])))
    else:
        values.append(v.text if v is not None else "")
assert values == header, (values[:5], header[:5])
dvs = root.findall("m:dataValidations/m:dataValidation", NS)
assert "<dataValidation " in sheet and len(dvs) == len(header), len(dvs)
assert all(d.get("type") == "list" and d.get("allowBlank") == "1" for d in dvs)
sq = {d.get("sqref"): d for d in dvs}
assert "A2:A501" in sq and "领导班子成员" in sq["A2:A501"].find("m:formula1", NS).text and "leaders" in sq["A2:A501"].find("m:formula1", NS).text
assert sq["B2:B501"].find("m:formula1", NS).text == '"好,较好,一般,差"'
assert 'state="frozen"' in sheet and 'ySplit="1"' in sheet
assert re.search(r'<pageSetup[^>]*orientation="landscape"', sheet) and 'fitToPage="1"' in sheet
wb = z.read("xl/workbook.xml").decode("utf-8")
assert "_xlnm.Print_Titles" in wb and "$1:$1" in wb and "说明" in wb, wb
assert "_xlnm.Print_Area" in wb and "$501" in wb, wb
notes = z.read("xl/comments1.xml").decode("utf-8")
assert "总体评价" in notes, "human labels as notes"
legend = z.read("xl/worksheets/sheet2.xml").decode("utf-8")
assert legend and "总体评价" in "".join(shared)
print("workbook ok:", len(header), "columns,", len(dvs), "validations")
PY
pass "XLSX template: zip, row 1 = the CSV header, validations, frozen header, print set-up"

# --- unknown venue: exit 2, the known ids
set +e
"$BIN/pingyi" template --deploy deploy --venue v99 >out.txt 2>err.txt
rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown venue exited $rc, expected 2"
[ ! -s out.txt ] || fail "unknown venue wrote to stdout"
echo 'pingyi template: unknown venue "v99"; the definition has 3 venues: v01, v02, v03' | diff -u - err.txt \
  || fail "unknown venue message"
"$BIN/pingyi" gen-election --districts 2 --venues-per-district 6 --subjects 24 --form-subjects 4 --out big.json \
  >/dev/null
want=$(python3 -c 'import json,sys; v=[x["id"] for x in json.load(open("big.json"))["venues"]]; print("pingyi template: unknown venue \"nope\"; the definition has %d venues: %s, ... (%d more)" % (len(v), ", ".join(v[:10]), len(v)-10))')
set +e
"$BIN/pingyi" template --definition big.json --venue nope 2>err2.txt
rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown venue (12 venues) exited $rc, expected 2"
[ "$(cat err2.txt)" = "$want" ] || fail "unknown venue message: $(cat err2.txt) != $want"
pass "unknown venue refused, exit 2, first 10 ids and a count"
