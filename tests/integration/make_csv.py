#!/usr/bin/env python3
"""make_csv.py DEFINITION OUT.csv EXPECT.json ERRORS.txt — a venue v01 CSV
input with 297 good lines (labels, letters, BLANK, OVER as 好|一般, blank
ballots, categories by id and by name, shuffled header, BOM, CRLF) and 3 bad
lines at known places; writes the expected tally of the good lines computed
here, independently of pingyi, and the exact error lines the client must
print for the bad ones."""
import json, random, sys
defn = json.load(open(sys.argv[1], encoding="utf-8"))
venue = next(v for v in defn["venues"] if v["id"] == "v01")
items = [i["id"] for i in defn["items"]]
labels = [g["label"] for g in defn["grades"]]
letters = [g["letter"] for g in defn["grades"]]
cats = [c["id"] for c in defn["categories"]] + [c["name"] for c in defn["categories"]]
catid = {c["name"]: c["id"] for c in defn["categories"]}
cells = [f"{s}:{i}" for s in venue["subjects"] for i in items]
rnd = random.Random(7)
order = cells[:]; rnd.shuffle(order)
lines = ["category," + ",".join(order)]
counts = {}
good = blank_ballots = 0
bad = {7: "grade", 12: "fields", 20: "category"}
for lineno in range(2, 302):
    if lineno in bad:
        kind = bad[lineno]
        row = [rnd.choice(cats)] + [rnd.choice(labels) for _ in order]
        if kind == "grade": row[4] = "优"
        if kind == "fields": row = row[:-1]
        if kind == "category": row[0] = "群众代表"
        lines.append(",".join(row)); continue
    cat = rnd.choice(cats); cid = catid.get(cat, cat)
    row = [cat]; marks = {}
    allblank = rnd.random() < 0.05
    for cell in order:
        r = rnd.random()
        if allblank or r < 0.05: v, mark = "", "BLANK"
        elif r < 0.08:
            a, b = rnd.sample(range(4), 2); v, mark = f"{labels[a]}|{labels[b]}", "OVER"
        else:
            g = rnd.randrange(4); v = labels[g] if rnd.random() < 0.5 else letters[g]; mark = labels[g]
        row.append(v); s, it = cell.split(":")
        k = (s, it, cid, mark); counts[k] = counts.get(k, 0) + 1
    good += 1; blank_ballots += allblank
    lines.append(",".join(row))
open(sys.argv[2], "w", encoding="utf-8").write("\ufeff" + "\r\n".join(lines) + "\r\n")
fp = __import__("hashlib").sha256(open(sys.argv[1], "rb").read()).hexdigest()
json.dump({"election": fp, "venue": "v01", "ballots": good, "blank_ballots": blank_ballots,
           "counters": [{"subject": s, "item": i, "category": c, "mark": m, "count": n} for (s, i, c, m), n in sorted(counts.items())]},
          open(sys.argv[3], "w", encoding="utf-8"), ensure_ascii=False)
name = sys.argv[2]
want = [
    f'{name}:7:5: unknown grade "优" for {order[3]} (expected 好/较好/一般/差 or A/B/C/D)',
    f"{name}:12:{len(order) + 1}: expected {len(order) + 1} fields, found {len(order)}",
    f'{name}:20:1: unknown category "群众代表" (expected leaders/middle/staff/served or 领导班子成员/中层干部/一般干部/服务对象)',
]
open(sys.argv[4], "w", encoding="utf-8").write("\n".join(want) + "\n")
print(good, blank_ballots)
