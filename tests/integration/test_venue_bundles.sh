#!/usr/bin/env bash
# Venue bundles that fit (docs/keys.md, docs/election-definition.md "Venue
# extracts"): a venue bundle holds its own two secrets, three keyring lines
# and its extract of the definition, so a gen-election of 10,000 venues gives
# bundles and archives well under 1 GB; the extract keeps the whole
# definition's indices and fingerprint; a venue counts exactly from its
# archive unpacked on its own; only a venue host accepts an extract.
source "$(dirname "$0")/lib.sh"
cd "$WORK"

# --- 10,000 venues: 100 districts x 100, 20,000 subjects, 40 on each form
"$BIN/pingyi" gen-election --districts 100 --venues-per-district 100 --subjects 20000 --form-subjects 40 \
  --shards 32 --seed 7 --out big.json
"$BIN/pingyi" init big.json big --workers 4 --venue-archive big-archives >/dev/null
python3 - big.json big big-archives <<'PY' || fail "10,000 venue bundles"
import hashlib, json, os, random, sys, tarfile
whole_path, deploy, archives = sys.argv[1:]
raw = open(whole_path, "rb").read()
whole = json.loads(raw)
fp = hashlib.sha256(raw).hexdigest()
venues = whole["venues"]
assert len(venues) == 10000, len(venues)

def disk(path):  # bytes on disk (blocks), like du
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total

bundles, archived = disk(os.path.join(deploy, "venue")), disk(archives)
print(f"10,000 venue bundles: {bundles / 1e6:.0f} MB on disk; archives: {archived / 1e6:.0f} MB; "
      f"definition {len(raw) / 1e6:.1f} MB (whole copies would be {10000 * len(raw) / 1e9:.0f} GB)")
assert bundles < 1e9 and archived < 1e9, (bundles, archived)

index = {c: {e["id"]: i for i, e in enumerate(whole[c])} for c in ("districts", "units", "subjects", "venues")}
for v in random.Random(1).sample(range(10000), 25) + [0, 9999]:
    vid = venues[v]["id"]
    folder = os.path.join(deploy, "venue", vid)
    assert sorted(os.listdir(folder)) == ["box.secret", "curve.secret", "election.json", "keyring.tsv"], vid
    lines = [l.split("\t")[0] for l in open(os.path.join(folder, "keyring.tsv")) if not l.startswith("#")]
    assert lines == ["broker", "venue", "shard"], (vid, lines)
    x = json.load(open(os.path.join(folder, "election.json"), encoding="utf-8"))
    assert x["extract"] == {"of": fp, "venue": vid}, x["extract"]
    for key in ("id", "title", "shards", "grades", "items", "categories"):
        assert x.get(key) == whole.get(key), key
    # each entry is the whole definition's entry at its index, plus "index"
    for c in ("districts", "units", "subjects", "venues"):
        for e in x[c]:
            i = e.pop("index")
            assert index[c][e["id"]] == i, (c, e["id"], i)
            want = dict(whole[c][i])
            if c == "venues":
                e.pop("shard")
            assert e == want, (c, e, want)
    assert [e["id"] for e in x["venues"]] == [vid]
    form = venues[v]["subjects"]
    assert sorted(e["id"] for e in x["subjects"]) == sorted(form), vid
    units = {s["unit"] for s in whole["subjects"] if s["id"] in form}
    assert {e["id"] for e in x["units"]} == units
    # the archive: ID/ and the four files with their modes, the same bytes
    with tarfile.open(os.path.join(archives, vid + ".tar")) as t:
        members = {m.name: m for m in t.getmembers()}
        assert set(members) == {vid, *(f"{vid}/{f}" for f in os.listdir(folder))}, members
        assert members[vid].isdir() and members[vid].mode == 0o700
        for f in os.listdir(folder):
            m = members[f"{vid}/{f}"]
            assert m.mode == (0o600 if f.endswith(".secret") else 0o644), (f, oct(m.mode))
            assert t.extractfile(m).read() == open(os.path.join(folder, f), "rb").read(), f
    assert os.stat(os.path.join(archives, vid + ".tar")).st_mode & 0o777 == 0o600
print("27 venues checked: four files, three keyring lines, the extract is the whole definition's part, archive exact")
PY
pass "10,000 venue bundles and archives fit well under 1 GB; extracts and archives exact"
rm -rf big big-archives

# --- a venue counts from its archive alone, on its own "laptop"
"$BIN/pingyi" init "$SRC/examples/2022-district-review.json" deploy --workers 1 --venue-archive archives >/dev/null
ENDPOINT="tcp://127.0.0.1:$(free_port)"
mkdir laptop
(cd laptop && tar xf ../archives/v02.tar) || fail "tar xf"
start_broker
start_worker 1 0-7
wait_workers 1
(cd laptop && "$BIN/pingyi-client" --deploy v02 --venue v02 --broker "$ENDPOINT" --generate 80 --seed 5 \
  --expect ../expect-v02.json --close --collected 80 --json >../client.json 2>../client.log) ||
  fail "the client from the unpacked archive exited $?: $(tail -3 client.log)"
[ -d laptop/v02/outbox ] || fail "the outbox is not beside the unpacked bundle"
"$BIN/pingyi" tally --deploy deploy --data data --json >tally.json
python3 "$SRC/tests/integration/compare.py" --dup 0 tally.json expect-v02.json || fail "count from the archive"
python3 - tally.json <<'PY' || fail "v02 figures"
import json, sys
v = [v for v in json.load(open(sys.argv[1]))["venues"] if v["venue"] == "v02"][0]
assert v["closed"] and v["issued"] == 80 and v["collected"] == 80 and v["accepted"] == 80, v
PY
pass "a venue unpacked from its archive alone counts exactly (80 ballots, closed with the definition's issued)"

# --- only a venue host accepts an extract
rc=0
"$BIN/pingyi" init deploy/venue/v02/election.json deploy4 >init.out 2>init.err || rc=$?
[ $rc -eq 1 ] || fail "pingyi init on an extract exited $rc, want 1"
grep -qxF "pingyi init: deploy/venue/v02/election.json: a venue extract (of election 2022-district-review, for venue v02), not a whole definition: pingyi init takes the election office's definition" init.err ||
  fail "init on an extract: $(cat init.err)"
[ ! -e deploy4 ] || fail "init on an extract left a directory"
cp deploy/venue/v02/election.json deploy/worker/1/election.json
rc=0
timeout 10 "$BIN/pingyi-worker" --deploy deploy --id 1 --broker "$ENDPOINT" --data data2 --shards 0-7 \
  >w.out 2>w.err || rc=$?
[ $rc -eq 2 ] || fail "a worker bundle holding an extract: exit $rc, want 2"
grep -qF "deploy/worker/1/election.json: the extract of the definition for venue v02; the worker 1 needs the whole definition" w.err ||
  fail "worker with an extract: $(cat w.err)"
cp deploy/venue/v02/election.json deploy/venue/v03/election.json
rc=0
"$BIN/pingyi-client" --deploy deploy --venue v03 --broker "$ENDPOINT" --generate 1 --seed 1 >c3.out 2>c3.err || rc=$?
[ $rc -eq 2 ] || fail "a venue bundle holding another venue's extract: exit $rc, want 2"
grep -qF "deploy/venue/v03/election.json: the extract of the definition for venue v02, not for venue v03" c3.err ||
  fail "venue with another's extract: $(cat c3.err)"
pass "pingyi init, a worker and another venue refuse an extract, each with its reason"
