#!/usr/bin/env python3
"""compare.py TALLY.json EXPECTED.json... — exact comparison of a count.

TALLY.json is `pingyi tally --json`; each EXPECTED.json is what a venue
client's generator (--expect) says it generated, or what a test computed by
itself. Every counter of every expected venue must equal the tally's, no
other counter may exist for those venues, and each venue's accepted and
blank figures must equal the expected ballots and blank ballots.
Options: --dup N  each venue's duplicates figure must be N (default: not checked)
"""
import json
import sys


def main(argv):
    dup = None
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--dup":
            dup = int(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    tally = json.load(open(args[0], encoding="utf-8"))
    got = {}
    for c in tally["counters"]:
        key = (c["venue"], c["subject"], c["item"], c["category"], c["mark"])
        got[key] = got.get(key, 0) + c["count"]
    figures = {v["venue"]: v for v in tally["venues"]}
    problems = []
    checked = 0
    for path in args[1:]:
        exp = json.load(open(path, encoding="utf-8"))
        venue = exp["venue"]
        if exp["election"] != tally["election"]:
            problems.append(f"{path}: election {exp['election']} != tally {tally['election']}")
        want = {}
        for c in exp["counters"]:
            key = (venue, c["subject"], c["item"], c["category"], c["mark"])
            want[key] = want.get(key, 0) + c["count"]
        have = {k: v for k, v in got.items() if k[0] == venue}
        for key in sorted(set(want) | set(have)):
            if want.get(key, 0) != have.get(key, 0):
                problems.append(f"{key}: expected {want.get(key, 0)}, tally has {have.get(key, 0)}")
            checked += 1
        f = figures.get(venue)
        if f is None:
            problems.append(f"venue {venue}: no figures in the tally")
            continue
        if f["accepted"] != exp["ballots"]:
            problems.append(f"venue {venue}: accepted {f['accepted']}, expected {exp['ballots']}")
        if f["blank"] != exp["blank_ballots"]:
            problems.append(f"venue {venue}: blank {f['blank']}, expected {exp['blank_ballots']}")
        if dup is not None and f["duplicates"] != dup:
            problems.append(f"venue {venue}: duplicates {f['duplicates']}, expected {dup}")
    for p in problems[:20]:
        print("MISMATCH", p)
    if problems:
        print(f"{len(problems)} mismatches")
        return 1
    print(f"{checked} counters match exactly across {len(args) - 1} venues")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
