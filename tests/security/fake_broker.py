#!/usr/bin/python3
"""fake_broker.py — a broker gone bad, for the security tests.

It holds the real broker's CURVE key (an attacker who stole it, or the
broker's own operator), so venues and workers connect to it as they would
to the real one; it has no key that opens a ballot and no link key.

  --mode forge-acks   relay VENUE_OPEN to the worker (after a forged
                      VENUE_STATUS for it), answer every SUBMIT itself with
                      ACK "accepted" (the right receipts: it can hash the
                      envelopes it sees) and a VENUE_CLOSE with a forged
                      "closed, reconciled", each with a made-up MAC.  A venue
                      must refuse all of them and keep its envelopes.
  --mode forge-close  wait for a worker's HELLO, grant it, send it a
                      FORWARD of a VENUE_CLOSE for --venue with a made-up
                      MAC, then a STATS_QUERY as an operator; print the
                      answers as JSON lines and exit.

Each event is printed as one JSON line on stdout.  Runs on Debian's
python3-zmq and python3-msgpack (scripts/install-deps).
"""
import argparse
import hashlib
import json
import os
import sys
import time

import msgpack
import zmq
import zmq.utils.z85 as z85

V = 3  # protocol version


def load_broker_keys(deploy):
    with open(os.path.join(deploy, "broker", "curve.secret")) as f:
        secret = bytes.fromhex(f.read().strip())
    with open(os.path.join(deploy, "keyring.tsv")) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if cols[0] == "broker":
                return secret, bytes.fromhex(cols[2])
    raise SystemExit("no broker line in keyring.tsv")


def say(event, **kw):
    kw["event"] = event
    print(json.dumps(kw), flush=True)


def receipt(envelope):
    return hashlib.blake2b(envelope, digest_size=32).hexdigest()[:16]


def ballot_id(envelope):
    L = envelope[33]
    return envelope[34 + L:50 + L]


def forged_mac():
    return os.urandom(16)


def figures(venue_index, accepted, closed):
    return [venue_index, accepted, 0, 0, 0, {}, accepted if closed else -1,
            accepted if closed else -1, accepted if closed else -1, closed, [], 0]


def forge_acks(sock, args):
    """An evil broker: workers connect to it as to the real one.  It relays
    VENUE_OPEN to the worker (so the venue opens for real), but first sends
    the venue a forged VENUE_STATUS for the same tag; it answers every SUBMIT
    itself with a forged ACK and never forwards it; a VENUE_CLOSE gets a
    forged "closed, reconciled" VENUE_STATUS."""
    deadline = time.time() + args.seconds
    venues = {}
    worker = None
    pending = {}
    ticket = 1000
    while time.time() < deadline:
        if not sock.poll(200):
            continue
        route, frame = sock.recv_multipart()
        msg = msgpack.unpackb(frame, raw=True)
        if msg[0] != V:
            continue
        kind = msg[1]
        if kind == 1:  # a worker's HELLO: grant it
            worker = route
            sock.send_multipart([route, msgpack.packb([V, 2, msg[4]])])
        elif kind == 3:  # HEARTBEAT: ping back
            sock.send_multipart([route, msgpack.packb([V, 3])])
        elif kind == 16 and route == worker:  # REPLY: relay the genuine answer
            dest = pending.pop(msg[2], None)
            if dest is not None:
                sock.send_multipart([dest, msg[3]])
                say("relayed")
        elif kind == 4:  # SUBMIT: say every envelope was counted
            tag, envelopes = msg[2], msg[5]
            results = [[ballot_id(e), 0, 0, "", receipt(e)] for e in envelopes]
            venues[msg[4]] = venues.get(msg[4], 0) + len(envelopes)
            body = msgpack.packb([V, 5, tag, results, forged_mac()], use_bin_type=True)
            sock.send_multipart([route, body])
            say("forged_ack", results=len(results))
        elif kind in (8, 9):  # VENUE_OPEN / VENUE_CLOSE: "closed, reconciled"
            tag = msg[2]
            n = venues.get(msg[4], 0)
            body = msgpack.packb([V, 10, tag, figures(0, n, True), forged_mac()], use_bin_type=True)
            sock.send_multipart([route, body])
            say("forged_status", request=kind)
            if kind == 8 and worker is not None:
                ticket += 1
                pending[ticket] = route
                sock.send_multipart([worker, msgpack.packb([V, 15, ticket, 1, msg[4].decode(), frame], use_bin_type=True)])


def forge_close(sock, args):
    deadline = time.time() + args.seconds
    worker = None
    while time.time() < deadline and worker is None:
        if not sock.poll(200):
            continue
        route, frame = sock.recv_multipart()
        msg = msgpack.unpackb(frame, raw=True)
        if msg[0] == V and msg[1] == 1:  # HELLO
            worker = route
            sock.send_multipart([route, msgpack.packb([V, 2, msg[4]])])
            say("hello", shards=msg[4])
    if worker is None:
        raise SystemExit("no worker said HELLO")
    with open(os.path.join(args.deploy, "election.json"), "rb") as f:
        fingerprint = hashlib.sha256(f.read()).digest()
    venue = args.venue.encode()
    close = msgpack.packb([V, 9, 77, fingerprint, args.venue, 0, 0, 0, forged_mac()], use_bin_type=True)
    sock.send_multipart([worker, msgpack.packb([V, 15, 1001, 1, args.venue, close], use_bin_type=True)])
    stats = msgpack.packb([V, 13, 78, 0], use_bin_type=True)
    sent_stats = False
    answers = 0
    while time.time() < deadline and answers < 2:
        if not sock.poll(200):
            continue
        route, frame = sock.recv_multipart()
        msg = msgpack.unpackb(frame, raw=False)
        if msg[0] != V:
            continue
        if msg[1] == 3:
            sock.send_multipart([route, msgpack.packb([V, 3])])
            continue
        if msg[1] != 16:
            continue
        inner = msgpack.unpackb(msg[3], raw=False)
        answers += 1
        if inner[1] == 7:
            say("reply_error", ticket=msg[2], code=inner[3], text=inner[4])
        elif inner[1] == 10:
            say("reply_status", ticket=msg[2], figures=inner[3])
        elif inner[1] == 14:
            say("reply_stats", ticket=msg[2], stats={k: v for k, v in inner[4]})
        else:
            say("reply_other", ticket=msg[2], type=inner[1])
        if not sent_stats:
            sent_stats = True
            sock.send_multipart([worker, msgpack.packb([V, 15, 1002, 4, "operator", stats], use_bin_type=True)])
    del venue


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deploy", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--mode", choices=["forge-acks", "forge-close"], required=True)
    ap.add_argument("--venue", default="v01")
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    secret, public = load_broker_keys(args.deploy)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.curve_server = True
    sock.curve_secretkey = z85.encode(secret)
    sock.curve_publickey = z85.encode(public)
    sock.linger = 0
    sock.bind(args.bind)
    say("listening", bind=args.bind)
    if args.mode == "forge-acks":
        forge_acks(sock, args)
    else:
        forge_close(sock, args)
    sock.close()
    ctx.term()


if __name__ == "__main__":
    sys.exit(main())
