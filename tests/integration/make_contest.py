#!/usr/bin/env python3
"""make_contest.py OUTDIR — a statewide race as a pingyi election, computed
here independently of pingyi: DISTRICTS counties (districts) of precincts
(venues), one contest subject on every precinct's form (its unit in the
first county only, as a real statewide office is), three items:

  gov      plurality, three candidates, one seat (no grades, no points)
  measure  yes_no 同意/不同意/弃权
  council  approval, four candidates, two seats

Writes OUTDIR/contest.json (the definition), OUTDIR/ballots-VENUE.csv
(one CSV per precinct: blank cells, over-marked cells, candidates by label
and by letter) and OUTDIR/expect.json: per venue, per county and for the
state, every item's counts, blank, over, valid votes, shares and winners
(ties named), the approval rate of the measure.  County c02's race for gov
is an exact tie between 甲 and 乙; county c03's council race ties at the
second seat."""
import json, random, sys
from collections import defaultdict

out = sys.argv[1]
DISTRICTS = 14
rnd = random.Random(2026)
cands = [("甲", "A"), ("乙", "B"), ("丙", "C")]
council = [("赵", "Z"), ("钱", "Q"), ("孙", "S"), ("李", "L")]
yn = ["同意", "不同意", "弃权"]
defn = {
    "version": 1,
    "id": "state-race",
    "title": "全省选举（演示）",
    "shards": 4,
    "k_anonymity": 5,
    "choice_sets": [
        {"id": "cands", "choices": [{"label": l, "letter": x} for l, x in cands]},
        {"id": "yn", "choices": [{"label": "同意", "favourable": True},
                                 {"label": "不同意", "unfavourable": True},
                                 {"label": "弃权"}]},
        {"id": "council", "choices": [{"label": l, "letter": x} for l, x in council]},
    ],
    "items": [
        {"id": "gov", "name": "省长", "kind": "plurality", "choice_set": "cands"},
        {"id": "measure", "name": "第1号议案", "kind": "yes_no", "choice_set": "yn"},
        {"id": "council", "name": "议员（选二）", "kind": "approval", "choice_set": "council", "seats": 2},
    ],
    "categories": [{"id": "voters", "name": "选民"}],
    "districts": [{"id": f"c{d:02d}", "name": f"第{d}县"} for d in range(1, DISTRICTS + 1)],
    "units": [{"id": "state", "name": "全省", "kind": "other", "district": "c01"}],
    "subjects": [{"id": "race", "name": "全省选举", "unit": "state"}],
    "venues": [],
}
ballots = {}  # venue -> list of (gov ticks, measure ticks, council ticks)
n_venue = 0
for d in range(1, DISTRICTS + 1):
    district = f"c{d:02d}"
    for p in range(rnd.randint(3, 8)):
        n_venue += 1
        vid = f"p{n_venue:03d}"
        defn["venues"].append({"id": vid, "name": f"{district}第{p + 1}投票站", "district": district,
                               "subjects": ["race"]})
        n = rnd.randint(12, 45)
        if d in (2, 3):
            n += n % 2  # the ties below need an even number in every precinct
        # every county leans its own way
        lean = [1 + ((d + i) % 3) * 2 for i in range(3)]
        rows = []
        for b in range(n):
            r = rnd.random()
            if d == 2:  # an exact tie: 甲 and 乙 alternate, nothing else
                gov = [0] if b % 2 == 0 else [1]
            elif r < 0.05:
                gov = []
            elif r < 0.08:
                gov = rnd.sample(range(3), 2)
            else:
                gov = [rnd.choices(range(3), weights=lean)[0]]
            r = rnd.random()
            measure = [] if r < 0.04 else rnd.sample(range(3), 2) if r < 0.06 else \
                [rnd.choices(range(3), weights=[5, 3, 1])[0]]
            if d == 3:  # 赵 on every ballot, 钱 and 孙 on alternate ones: a tie at seat 2
                council_t = [0, 1] if b % 2 == 0 else [0, 2]
            else:
                k = rnd.choice([0, 1, 1, 2, 2, 3, 4])
                council_t = rnd.sample(range(4), k)
            rows.append((gov, measure, council_t))
        ballots[vid] = rows

venue_district = {v["id"]: v["district"] for v in defn["venues"]}
json.dump(defn, open(f"{out}/contest.json", "w", encoding="utf-8"), ensure_ascii=False, indent=1)

items = [("gov", cands, 1, 1), ("measure", [(l, None) for l in yn], 1, 0), ("council", council, 4, 2)]


def cell_text(ticks, choices, rnd):
    if not ticks:
        return ""
    parts = [choices[t][1] if choices[t][1] and rnd.random() < 0.3 else choices[t][0] for t in ticks]
    return rnd.choice(["|", "、"]).join(parts)


for vid, rows in ballots.items():
    lines = ["category,race:gov,race:measure,race:council"]
    for gov, measure, council_t in rows:
        lines.append(",".join([rnd.choice(["voters", "选民"]), cell_text(gov, cands, rnd),
                               cell_text(measure, [(l, None) for l in yn], rnd),
                               cell_text(council_t, council, rnd)]))
    open(f"{out}/ballots-{vid}.csv", "w", encoding="utf-8").write("\n".join(lines) + "\n")


def figures(rows, idx, choices, max_ticks, seats):
    ch = [0] * len(choices)
    blank = over = 0
    for r in rows:
        t = r[idx]
        if not t:
            blank += 1
        elif len(t) > max_ticks:
            over += 1
        else:
            for x in t:
                ch[x] += 1
    votes = sum(ch)
    f = {"choices": {choices[m][0]: ch[m] for m in range(len(choices))}, "blank": blank, "over": over,
         "valid": votes}
    if seats:
        ranked = sorted((c for c in ch if c), reverse=True)
        winners, tie = [], False
        if ranked:
            bar = ranked[min(seats, len(ranked)) - 1]
            winners = [choices[m][0] for m in range(len(choices)) if ch[m] and ch[m] >= bar]
            tie = len(winners) > seats
        f.update({"votes": votes, "shares": {choices[m][0]: (ch[m] / votes if votes else None)
                                              for m in range(len(choices))},
                  "winners": winners, "tie": tie})
    else:
        f["approval_rate"] = ch[0] / votes if votes else None
    return f


def group(rows):
    return {name: figures(rows, i, ch, mx, seats) for i, (name, ch, mx, seats) in enumerate(items)}


by_district = defaultdict(list)
for vid, rows in ballots.items():
    by_district[venue_district[vid]].extend(rows)
expect = {"venues": {vid: group(rows) for vid, rows in ballots.items()},
          "districts": {d["id"]: group(by_district[d["id"]]) for d in defn["districts"]},
          "city": group([r for rows in ballots.values() for r in rows]),
          "ballots": {vid: len(rows) for vid, rows in ballots.items()}}
assert expect["districts"]["c02"]["gov"]["tie"] and expect["districts"]["c02"]["gov"]["winners"] == ["甲", "乙"]
assert expect["districts"]["c03"]["council"]["tie"]
json.dump(expect, open(f"{out}/expect.json", "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print(len(ballots), sum(len(r) for r in ballots.values()))
