#!/usr/bin/env python3
"""make_encoded_csv.py DEFINITION VENUE OUT.csv EXPECT.json SEED — a venue's
CSV input as a clerk on a Chinese Windows PC makes it, written as UTF-8
without a BOM (the test converts it to GB18030 or adds a BOM): categories by
Chinese name (some by id), grades by Chinese label, letters in full width
(Ａ, ｂ), values padded with the ideographic space U+3000, over-marks joined
by 、 or by a full-width ｜, blank cells and blank ballots, Excel's cleared
rows (only commas) between the ballots, CRLF. Writes the expected tally of
the ballots, computed here, independently of pingyi (docs/ballot-input.md,
"Normalisation"); prints the number of ballots and of blank ballots."""
import json, random, sys
defn = json.load(open(sys.argv[1], encoding="utf-8"))
venue = next(v for v in defn["venues"] if v["id"] == sys.argv[2])
items = [i["id"] for i in defn["items"]]
labels = [g["label"] for g in defn["grades"]]
letters = [g["letter"] for g in defn["grades"]]
full = lambda s: "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in s)
cats = [c["name"] for c in defn["categories"]] * 3 + [c["id"] for c in defn["categories"]]
catid = {c["name"]: c["id"] for c in defn["categories"]}
cells = [f"{s}:{i}" for s in venue["subjects"] for i in items]
rnd = random.Random(int(sys.argv[5]))
order = cells[:]; rnd.shuffle(order)
lines = ["category," + ",".join(order)]
counts = {}
good = blank_ballots = 0
for n in range(200):
    if rnd.random() < 0.05:
        lines.append("," * len(order))  # a row Excel cleared
    cat = rnd.choice(cats); cid = catid.get(cat, cat)
    if rnd.random() < 0.1: cat = "\u3000" + cat + " "
    row = [cat]
    allblank = rnd.random() < 0.05
    for cell in order:
        r = rnd.random()
        if allblank or r < 0.05: v, mark = rnd.choice(["", "\u3000", " "]), "BLANK"
        elif r < 0.08:
            a, b = rnd.sample(range(4), 2)
            v, mark = rnd.choice([f"{labels[a]}、{labels[b]}", f"{labels[a]}｜{labels[b]}"]), "OVER"
        else:
            g = rnd.randrange(4); mark = labels[g]
            k = rnd.random()
            v = labels[g] if k < 0.6 else full(letters[g]) if k < 0.75 else full(letters[g].lower()) if k < 0.85 else letters[g]
            if rnd.random() < 0.1: v = "\u3000" + v + "\u3000"
        row.append(v); s, it = cell.split(":")
        counts[(s, it, cid, mark)] = counts.get((s, it, cid, mark), 0) + 1
    good += 1; blank_ballots += allblank
    lines.append(",".join(row))
open(sys.argv[3], "w", encoding="utf-8", newline="").write("\r\n".join(lines) + "\r\n")
fp = __import__("hashlib").sha256(open(sys.argv[1], "rb").read()).hexdigest()
json.dump({"election": fp, "venue": venue["id"], "ballots": good, "blank_ballots": blank_ballots,
           "counters": [{"subject": s, "item": i, "category": c, "mark": m, "count": n} for (s, i, c, m), n in sorted(counts.items())]},
          open(sys.argv[4], "w", encoding="utf-8"), ensure_ascii=False)
print(good, blank_ballots)
