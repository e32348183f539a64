#!/usr/bin/env python3
"""damage.py — damage copies of real shards, many ways, and check that every
reader refuses them with a reason or prints exactly the good figures.

usage: damage.py BIN DEPLOY DATA EARLY BASELINE.json OUTDIR [--flips N] [--seed S]

DATA is a stopped count's data directory (shard-NN/ and shard-NN.manifest),
EARLY a copy of it taken earlier in the same count (for a rollback),
BASELINE the `pingyi tally --json` of DATA, already checked against the
generators' expectation by the caller.  For every case a fresh copy of DATA
is damaged and read by `pingyi tally --json` (every case), `pingyi tally
--recount` (every fifth) and `pingyi-worker` opening it (every seventh, no
--create).  A case passes when the reader

  - exits 1 (tally) or 2 (worker) with a line naming the shard and a reason,
  - or exits 0 and prints exactly the baseline (the damage hit bytes that
    hold nothing read: a free page, slack, an envelope a plain tally does
    not open), or for the recount reports the difference (exit 1),

and fails when it dies of a signal, hangs, or exits 0 with other figures.
Prints one JSON line of the outcome counts; exit 1 on any failure.
"""
import json
import os
import random
import shutil
import subprocess
import sys


# a reader that stopped at a damaged page abandons what it had open (the
# guard, lmdb/lmdb_env.h): under ASan that is a leak at exit by design
ENV = dict(os.environ)
ENV["ASAN_OPTIONS"] = (ENV.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")


def run(argv, timeout=60):
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout, env=ENV)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", b"", ""


def main():
    args = sys.argv[1:]
    flips, seed = 240, 7
    if "--flips" in args:
        i = args.index("--flips")
        flips = int(args[i + 1])
        del args[i:i + 2]
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    bin_dir, deploy, data, early, baseline_path, out = args
    baseline = open(baseline_path, "rb").read()
    rng = random.Random(seed)
    shards = sorted(d for d in os.listdir(data) if d.startswith("shard-") and os.path.isdir(os.path.join(data, d)))
    sizes = {s: os.path.getsize(os.path.join(data, s, "data.mdb")) for s in shards}
    # the shards that hold ballots: the larger files
    busy = sorted(shards, key=lambda s: -sizes[s])[:2]
    workers = {}  # shard -> worker id (keyring: worker 1 has 0-3, worker 2 has 4-7)
    for s in shards:
        n = int(s.split("-")[1])
        workers[s] = "1" if n < 4 else "2"

    cases = []

    def case(name, fn, shard):
        cases.append((name, fn, shard))

    def mdb(root, s):
        return os.path.join(root, s, "data.mdb")

    for s in busy:
        size = sizes[s]
        for keep in (0, 4096, 8192, size // 2, size - 4096):
            case("%s truncated to %d of %d bytes" % (s, keep, size),
                 lambda root, s=s, keep=keep: os.truncate(mdb(root, s), keep), s)
        case(s + " data.mdb deleted", lambda root, s=s: os.unlink(mdb(root, s)), s)
        case(s + " directory deleted", lambda root, s=s: shutil.rmtree(os.path.join(root, s)), s)
        case(s + " manifest deleted (unverified)",
             lambda root, s=s: os.unlink(os.path.join(root, s + ".manifest")), s)

        def bad_manifest(root, s=s):
            p = os.path.join(root, s + ".manifest")
            text = open(p).read()
            open(p, "w").write(text.replace("sequence ", "sequence 1", 1))
        case(s + " manifest says more ballots", bad_manifest, s)

        def bad_digest(root, s=s):
            p = os.path.join(root, s + ".manifest")
            lines = open(p).read().split("\n")
            d = lines[5]
            lines[5] = d[:-1] + ("0" if d[-1] != "0" else "1")
            open(p, "w").write("\n".join(lines))
        case(s + " manifest with another digest", bad_digest, s)

        def garbage_manifest(root, s=s):
            open(os.path.join(root, s + ".manifest"), "wb").write(b"\x00\xff garbage\n")
        case(s + " manifest garbage", garbage_manifest, s)

        def rollback(root, s=s):
            shutil.rmtree(os.path.join(root, s))
            shutil.copytree(os.path.join(early, s), os.path.join(root, s))
        case(s + " rolled back to an earlier copy", rollback, s)

        pages = size // 4096
        for pg in sorted(set(rng.randrange(pages) for _ in range(24))) + [0, 1]:
            def zero(root, s=s, pg=pg):
                with open(mdb(root, s), "r+b") as f:
                    f.seek(pg * 4096)
                    f.write(bytes(4096))
            case("%s page %d zeroed" % (s, pg), zero, s)

    per = flips // len(busy)
    for s in busy:
        size = sizes[s]
        for _ in range(per):
            off, bit = rng.randrange(size), rng.randrange(8)

            def flip(root, s=s, off=off, bit=bit):
                with open(mdb(root, s), "r+b") as f:
                    f.seek(off)
                    b = f.read(1)[0]
                    f.seek(off)
                    f.write(bytes([b ^ (1 << bit)]))
            case("%s bit %d of byte %d flipped" % (s, bit, off), flip, s)

    outcome = {"cases": 0, "refused": 0, "unchanged": 0, "unverified": 0, "recounts": 0,
               "recount_refused": 0, "worker_opens": 0, "worker_refused": 0, "failures": 0}
    failures = []
    root = os.path.join(out, "case")
    for i, (name, fn, s) in enumerate(cases):
        if os.path.exists(root):
            shutil.rmtree(root)
        shutil.copytree(data, root, symlinks=True)
        fn(root)
        outcome["cases"] += 1
        rc, so, se = run([os.path.join(bin_dir, "pingyi"), "tally", "--deploy", deploy, "--data", root, "--json"])
        if rc == 0 and so == baseline:
            outcome["unchanged"] += 1
            if "unverified" in se:
                outcome["unverified"] += 1
        elif rc == 1 and ("shard %d" % int(s.split("-")[1])) in se and ": " in se:
            outcome["refused"] += 1
        else:
            failures.append("tally: %s: exit %s, %s" % (name, rc,
                            "other figures printed as good" if rc == 0 else se.strip()[:300]))
        if i % 5 == 0:
            outcome["recounts"] += 1
            rc, so, se = run([os.path.join(bin_dir, "pingyi"), "tally", "--deploy", deploy, "--data", root,
                              "--recount", "--json"], timeout=120)
            if rc == 1 and se.strip():
                outcome["recount_refused"] += 1
            elif not (rc == 0 and so == baseline):
                failures.append("recount: %s: exit %s: %s" % (name, rc, se.strip()[:300]))
        if i % 7 == 0:
            outcome["worker_opens"] += 1
            rc, so, se = run(["timeout", "-s", "TERM", "1.5", os.path.join(bin_dir, "pingyi-worker"), "--deploy",
                              deploy, "--id", workers[s], "--broker", "tcp://127.0.0.1:9", "--data", root,
                              "--shards", str(int(s.split("-")[1]))], timeout=30)
            if rc == 2 and "pingyi-worker error: " in se:
                outcome["worker_refused"] += 1
            elif rc in (0, 124):
                # it opened the shard: then the shard must read exactly as before
                rc2, so2, se2 = run([os.path.join(bin_dir, "pingyi"), "tally", "--deploy", deploy, "--data",
                                     root, "--json"])
                if not (rc2 == 0 and so2 == baseline):
                    failures.append("worker: %s: opened a shard that then reads otherwise (exit %s): %s"
                                    % (name, rc2, se2.strip()[:300]))
            else:
                failures.append("worker: %s: exit %s: %s" % (name, rc, se.strip()[-300:]))
    shutil.rmtree(root, ignore_errors=True)
    outcome["failures"] = len(failures)
    for f in failures:
        print("FAIL " + f, file=sys.stderr)
    print(json.dumps(outcome))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
