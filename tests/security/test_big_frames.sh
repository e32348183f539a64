#!/usr/bin/env bash
# Bounded memory under big frames (issue 11, docs/broker.md "Frame limits
# and memory"): authenticated peers (a stolen venue key) each send the
# largest frame the broker's socket admits (PINGYI_FRAME_MAX less 2 KiB,
# a HEARTBEAT header then padding: libzmq must buffer it whole before the
# broker refuses it by kind), 40 connections at once, three rounds, plus
# 40 frames over the limit (dropped at their header), while an honest
# venue (v02, 5,000 ballots) sends.  The broker's peak RSS (VmHWM) stays
# under 128 MiB and v02 is counted exactly.
source "$(dirname "$0")/../integration/lib.sh"

PY=/usr/bin/python3
N=5000
CONNS=${BIG_FRAMES_CONNS:-40}
FRAME_MAX=$(python3 -c '
import re, sys
m = re.search(r"#define PINGYI_FRAME_MAX \((\d+)u << (\d+)\)", open(sys.argv[1]).read())
print(int(m.group(1)) << int(m.group(2)))' "$SRC/proto/msg.h")
[ -n "$FRAME_MAX" ] || fail "cannot read PINGYI_FRAME_MAX from proto/msg.h"
setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1
BROKER=${PIDS[broker]}
vmhwm_mib() { awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$BROKER/status"; }

cat >"$WORK/big.py" <<'PYEOF'
"""big.py DEPLOY BUNDLE ENDPOINT N SIZE WAIT: N connections with BUNDLE's key
each send one frame of SIZE bytes (a HEARTBEAT header, then padding) at
once; print how many were answered within WAIT s."""
import os, sys, time, zmq
from zmq.utils import z85
deploy, bundle, ep = sys.argv[1:4]
n, size, wait = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
broker_key = [bytes.fromhex(c[2]) for c in (l.rstrip("\n").split("\t") for l in
              open(os.path.join(deploy, "keyring.tsv"))) if len(c) >= 3 and c[0] == "broker"][0]
secret = z85.encode(bytes.fromhex(open(os.path.join(bundle, "curve.secret")).read().strip()))
ctx = zmq.Context()
socks = []
for _ in range(n):
    s = ctx.socket(zmq.DEALER)
    s.curve_secretkey, s.curve_publickey = secret, zmq.curve_public(secret)
    s.curve_serverkey = z85.encode(broker_key)
    s.linger = 0
    s.sndhwm = 0
    s.connect(ep)
    socks.append(s)
frame = b"\x93\x03\x03" + b"\x00" * (size - 3)
for s in socks:
    s.send(frame, copy=False)
poller = zmq.Poller()
for s in socks:
    poller.register(s, zmq.POLLIN)
answered, deadline = set(), time.time() + wait
while len(answered) < n and time.time() < deadline:
    for s, _ in poller.poll(100):
        s.recv()
        answered.add(s)
print(len(answered))
PYEOF
big() { "$PY" "$WORK/big.py" "$WORK/deploy" "$WORK/deploy/venue/v01" "$ENDPOINT" "$@"; }

"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate "$N" --seed 5 \
  --batch 64 --expect "$WORK/expect-v02.json" --outbox "$WORK/outbox-v02" --close --issued "$N" \
  --collected "$N" --json >"$WORK/client-v02.json" 2>"$WORK/client-v02.log" &
CLIENT=$!

size=$((FRAME_MAX - 2048))
for round in 1 2 3; do
  answered=$(big "$CONNS" "$size" 60)
  [ "$answered" -eq "$CONNS" ] || fail "round $round: $answered of $CONNS frames of $size bytes were answered"
  echo "round $round: $CONNS x $size bytes, peak RSS $(vmhwm_mib) MiB"
done
big "$CONNS" $((FRAME_MAX + 65536)) 2 >/dev/null # over the limit: dropped at the header
peak=$(vmhwm_mib)
echo "peak RSS after 3 x $CONNS frames of $size bytes and $CONNS over the limit: $peak MiB"
# AddressSanitizer keeps freed memory in quarantine (256 MiB by default),
# so a sanitizer build's RSS says nothing about the broker's: the bound is
# asserted on the plain build (the README's test command), the exact count
# on both.
if grep -q libasan "/proc/$BROKER/maps" 2>/dev/null; then
  echo "note: AddressSanitizer build: the RSS bound is asserted by the plain build's run, not here (quarantine)"
  bound_note="(RSS bound checked in the plain build)"
else
  [ "$peak" -lt 128 ] || fail "broker peak RSS $peak MiB (want < 128)"
  bound_note="< 128"
fi

wait "$CLIENT" || fail "the honest client exited non-zero"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v02.json" \
  || fail "the honest venue's count differs from its expectation"
pass "$CONNS connections x 3 rounds of $size-byte frames: broker peak RSS $peak MiB $bound_note; v02 counted exactly"
