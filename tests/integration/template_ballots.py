#!/usr/bin/env python3
"""template_ballots.py DEFINITION VENUE TEMPLATE.csv OUT.csv EXPECT.json [N]

Appends N ballot lines (default 300) to the header of a `pingyi template`
CSV, keeping its BOM, header and CRLF line ends byte for byte, and writes
the expected tally of those ballots (compare.py's format), computed here
from the definition, independently of pingyi. The ballots use labels,
letters in both cases, BLANK cells, OVER cells (two labels joined by |),
blank ballots, and categories by id and by name. The header is read from
the template only: the column order is whatever the template says."""
import csv, hashlib, io, json, random, sys

defn_path, venue_id, tpl_path, out_path, expect_path = sys.argv[1:6]
n = int(sys.argv[6]) if len(sys.argv) > 6 else 300
raw = open(defn_path, "rb").read()
defn = json.loads(raw)
sets = {"grades": defn["grades"]}
for s in defn.get("choice_sets", []):
    sets[s["id"]] = s["choices"]
items = {i["id"]: sets[i.get("choice_set", "grades")] for i in defn["items"]}
maxc = {i["id"]: i.get("max_choices", 1) for i in defn["items"]}
cats = [(c["id"], c["id"]) for c in defn["categories"]] + [(c["name"], c["id"]) for c in defn["categories"]]

tpl = open(tpl_path, "rb").read()
assert tpl.startswith(b"\xef\xbb\xbf") and tpl.endswith(b"\r\n") and tpl.count(b"\n") == 1, "template shape"
header = next(csv.reader(io.StringIO(tpl[3:].decode("utf-8").rstrip("\r\n"))))
assert header[0] == "category"
cells = [tuple(h.split(":", 1)) for h in header[1:]]

rnd = random.Random(2022)
counts, lines, blank_ballots = {}, [], 0
for _ in range(n):
    shown, cid = rnd.choice(cats)
    allblank = rnd.random() < 0.05
    row = [shown]
    for subject, item in cells:
        choices = items[item]
        r = rnd.random()
        if allblank or r < 0.06:
            v, mark = "", "BLANK"
        elif r < 0.10 and len(choices) > maxc[item]:
            picks = rnd.sample(range(len(choices)), maxc[item] + 1)
            v, mark = "|".join(choices[p]["label"] for p in picks), "OVER"
        else:
            c = choices[rnd.randrange(len(choices))]
            if c.get("letter") and rnd.random() < 0.4:
                v = c["letter"] if rnd.random() < 0.5 else c["letter"].lower()
            else:
                v = c["label"]
            mark = c["label"]
        row.append(v)
        k = (subject, item, cid, mark)
        counts[k] = counts.get(k, 0) + 1
    blank_ballots += allblank
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    lines.append(buf.getvalue())
with open(out_path, "wb") as f:
    f.write(tpl + "".join(l + "\r\n" for l in lines).encode("utf-8"))
json.dump({"election": hashlib.sha256(raw).hexdigest(), "venue": venue_id, "ballots": n,
           "blank_ballots": blank_ballots,
           "counters": [{"subject": s, "item": i, "category": c, "mark": m, "count": k}
                        for (s, i, c, m), k in sorted(counts.items())]},
          open(expect_path, "w", encoding="utf-8"), ensure_ascii=False)
print(n, blank_ballots)
