#!/usr/bin/python3
"""attack.py — a hostile pingyi peer for the security tests.

It connects one DEALER to a broker with CURVE, using the curve.secret of a
bundle it was given (a stolen or copied one), and plays a script of steps,
printing every frame that comes back as one JSON object per line on stdout
(HEARTBEATs only with --verbose).  Built on pyzmq and nothing else (a tiny
msgpack codec below), so run it with the system python3 that has
python3-zmq: /usr/bin/python3 attack.py ...

usage:
  attack.py --deploy DIR --bundle DIR/worker/1 --broker tcp://127.0.0.1:7701 STEP...

steps:
  hello:SPEC            HELLO listing shards SPEC ("4-7", "0,2", "" for none)
  heartbeat             one HEARTBEAT (sent every second anyway once READY came)
  reply:TICKET:KIND     REPLY naming TICKET (a number, "random", or "last": the
                        ticket of the last FORWARD received) carrying a KIND inner:
                          ack      an ACK accepting one ballot (MAC of zeros)
                          forward  a forged FORWARD (as if from a broker) of a SUBMIT as v01
                          submit   a SUBMIT as v01 with one junk envelope
                          retry    a RETRY echoing the last FORWARD's tag (a legal answer)
                          garbage  bytes that are not msgpack
  reopen:VENUE          VENUE_REOPEN of VENUE (an operator's message) with reason "attack"
  submit:TAG:FILE       SUBMIT with TAG as the bundle's venue (--name), of the envelopes in
                        FILE (one per line, hex; "-" for an empty one)
  open:TAG              VENUE_OPEN with TAG as the bundle's venue (--name)
  stats:TAG:SHARD       STATS_QUERY with TAG for SHARD (an operator's or aggregator's)
  raw:HEX               the bytes HEX as one frame, as they are
  expect:TYPE[:CODE]    wait (--timeout) for a frame of TYPE (ERROR with CODE);
                        exit 3 if none comes
  recv:SECONDS          print what comes for SECONDS
  sleep:SECONDS         wait without reading

Exit status: 0 when every step ran, 3 when an expect timed out, 2 on bad usage.
"""
import argparse
import hashlib
import json
import os
import struct
import sys
import time

import zmq
from zmq.utils import z85

VERSION = 3
TYPES = {1: "HELLO", 2: "READY", 3: "HEARTBEAT", 4: "SUBMIT", 5: "ACK", 6: "RETRY", 7: "ERROR",
         8: "VENUE_OPEN", 9: "VENUE_CLOSE", 10: "VENUE_STATUS", 11: "TALLY_QUERY", 12: "SNAPSHOT",
         13: "STATS_QUERY", 14: "STATS", 15: "FORWARD", 16: "REPLY", 17: "VENUE_REOPEN"}
NUMBERS = {v: k for k, v in TYPES.items()}


# --- a tiny msgpack codec: what the pingyi protocol uses, nothing more -----

def pack(o):
    if isinstance(o, bool):
        return b"\xc3" if o else b"\xc2"
    if isinstance(o, int):
        if o < 0:
            return b"\xd3" + struct.pack(">q", o)
        if o < 0x80:
            return bytes([o])
        if o <= 0xff:
            return b"\xcc" + bytes([o])
        if o <= 0xffff:
            return b"\xcd" + struct.pack(">H", o)
        if o <= 0xffffffff:
            return b"\xce" + struct.pack(">I", o)
        return b"\xcf" + struct.pack(">Q", o)
    if isinstance(o, str):
        b = o.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        if len(b) <= 0xff:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(o, (bytes, bytearray)):
        if len(o) <= 0xff:
            return b"\xc4" + bytes([len(o)]) + bytes(o)
        if len(o) <= 0xffff:
            return b"\xc5" + struct.pack(">H", len(o)) + bytes(o)
        return b"\xc6" + struct.pack(">I", len(o)) + bytes(o)
    if isinstance(o, (list, tuple)):
        head = bytes([0x90 | len(o)]) if len(o) < 16 else b"\xdc" + struct.pack(">H", len(o))
        return head + b"".join(pack(x) for x in o)
    if isinstance(o, dict):  # rejected_by: {code: count}, written in key order
        head = bytes([0x80 | len(o)]) if len(o) < 16 else b"\xde" + struct.pack(">H", len(o))
        return head + b"".join(pack(k) + pack(o[k]) for k in sorted(o))
    raise TypeError("cannot pack %r" % (o,))


def unpack(b):
    """Decode one object; bins come back as bytes.  Raises ValueError."""
    o, at = _unpack(b, 0)
    if at != len(b):
        raise ValueError("trailing bytes")
    return o


def _unpack(b, i):
    c = b[i]
    i += 1
    if c < 0x80:
        return c, i
    if c >= 0xe0:
        return c - 0x100, i
    if 0xa0 <= c <= 0xbf:
        n = c & 0x1f
        return b[i:i + n].decode("utf-8", "replace"), i + n
    if 0x90 <= c <= 0x9f:
        return _items(b, i, c & 0x0f)
    if 0x80 <= c <= 0x8f:
        return _pairs(b, i, c & 0x0f)
    if c == 0xc0:
        return None, i
    if c in (0xc2, 0xc3):
        return c == 0xc3, i
    fixed = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
    if c in fixed:
        size = struct.calcsize(fixed[c])
        return struct.unpack(fixed[c], b[i:i + size])[0], i + size
    lens = {0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}
    if c in lens:
        w = lens[c]
        n = int.from_bytes(b[i:i + w], "big")
        i += w
        data = b[i:i + n]
        if len(data) != n:
            raise ValueError("truncated")
        return (bytes(data) if c <= 0xc6 else data.decode("utf-8", "replace")), i + n
    if c in (0xdc, 0xdd):
        w = 2 if c == 0xdc else 4
        return _items(b, i + w, int.from_bytes(b[i:i + w], "big"))
    if c in (0xde, 0xdf):
        w = 2 if c == 0xde else 4
        return _pairs(b, i + w, int.from_bytes(b[i:i + w], "big"))
    raise ValueError("unsupported msgpack byte 0x%02x" % c)


def _pairs(b, i, n):
    out = {}
    for _ in range(n):
        k, i = _unpack(b, i)
        v, i = _unpack(b, i)
        out[k] = v
    return out, i


def _items(b, i, n):
    out = []
    for _ in range(n):
        o, i = _unpack(b, i)
        out.append(o)
    return out, i


# --- the peer --------------------------------------------------------------

def shard_spec(spec):
    shards = []
    for part in filter(None, spec.split(",")):
        if "-" in part:
            a, z = part.split("-")
            shards.extend(range(int(a), int(z) + 1))
        else:
            shards.append(int(part))
    return shards


def describe(frame):
    """One received frame as a dict for printing."""
    try:
        m = unpack(frame)
        if not isinstance(m, list) or len(m) < 2:
            raise ValueError("not an array")
    except (ValueError, IndexError) as e:
        return {"type": "UNDECODABLE", "why": str(e), "hex": frame.hex()}
    name = TYPES.get(m[1], "TYPE_%s" % m[1])
    d = {"type": name, "version": m[0]}
    if name == "ERROR":
        d.update(tag=m[2], code=m[3], text=m[4])
    elif name == "RETRY":
        d.update(tag=m[2], retry_ms=m[3], reason=m[4])
    elif name == "READY":
        d.update(shards=m[2])
    elif name == "FORWARD":
        d.update(ticket=m[2], role=m[3], sender=m[4])
        try:
            inner = unpack(m[5])
            d.update(inner_type=TYPES.get(inner[1], inner[1]), inner_tag=inner[2] if len(inner) > 2 else None)
        except (ValueError, IndexError, TypeError):
            d.update(inner_type=None)
    elif name == "STATS":
        d.update(tag=m[2], source=m[3], stats={k: v for k, v in m[4]})
    elif name == "ACK":
        d.update(tag=m[2], results=[{"ballot_id": r[0].hex(), "status": r[1], "reason": r[2], "text": r[3],
                                     "receipt": r[4]} for r in m[3]])
    elif name == "VENUE_STATUS":
        f = m[3]
        d.update(tag=m[2], figures={"venue": f[0], "accepted": f[1], "blank": f[2], "duplicates": f[3],
                                    "rejected": f[4], "rejected_by": {str(k): v for k, v in f[5].items()},
                                    "issued": f[6], "collected": f[7], "sent": f[8], "closed": f[9],
                                    "by_category": f[10], "reopens": f[11]})
    else:
        d.update(fields=printable(m[2:]))
    return d


def printable(o):
    """bins as hex, recursively, for JSON."""
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).hex()
    if isinstance(o, list):
        return [printable(x) for x in o]
    if isinstance(o, dict):
        return {str(k): printable(v) for k, v in o.items()}
    return o


class Peer:
    def __init__(self, args):
        self.args = args
        deploy = args.deploy
        with open(os.path.join(deploy, "election.json"), "rb") as f:
            self.fingerprint = hashlib.sha256(f.read()).digest()
        broker_key = None
        with open(os.path.join(deploy, "keyring.tsv")) as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) >= 3 and cols[0] == "broker":
                    broker_key = bytes.fromhex(cols[2])
        if broker_key is None:
            sys.exit("attack.py: no broker line in %s/keyring.tsv" % deploy)
        with open(os.path.join(args.bundle, "curve.secret")) as f:
            secret = bytes.fromhex(f.read().strip())
        secret_z85 = z85.encode(secret)
        self.name = args.name or os.path.basename(os.path.normpath(args.bundle))
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.curve_secretkey = secret_z85
        self.sock.curve_publickey = zmq.curve_public(secret_z85)
        self.sock.curve_serverkey = z85.encode(broker_key)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, 16 << 20)
        self.sock.connect(args.broker)
        self.registered = False
        self.next_beat = 0.0
        self.last_forward = None  # (ticket, inner tag)

    def send(self, msg):
        self.sock.send(pack(msg) if not isinstance(msg, bytes) else msg)

    def emit(self, d):
        print(json.dumps(d), flush=True)

    def pump(self, seconds, want=None):
        """Read frames for up to `seconds`; heartbeat once registered.
        With want(d), return the first frame d it accepts (else None)."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if self.registered and now >= self.next_beat:
                self.send([VERSION, 3])
                self.next_beat = now + 1.0
            left = end - now
            if left <= 0:
                return None
            wait = min(left, max(0.0, self.next_beat - now) if self.registered else left)
            if not self.sock.poll(int(wait * 1000) + 1):
                continue
            d = describe(self.sock.recv())
            if d["type"] == "READY":
                self.registered = True
            if d["type"] == "ERROR" and d.get("code") in (4, 7):
                self.registered = False
            if d["type"] == "FORWARD":
                self.last_forward = (d["ticket"], d.get("inner_tag"))
            if d["type"] != "HEARTBEAT" or self.args.verbose:
                self.emit(d)
            if want and want(d):
                return d

    def ticket(self, spec):
        if spec == "random":
            return int.from_bytes(os.urandom(8), "big") or 1
        if spec == "last":
            if not self.last_forward:
                sys.exit("attack.py: reply:last but no FORWARD was received")
            return self.last_forward[0]
        return int(spec)

    def inner(self, kind):
        fp = self.fingerprint
        junk_envelope = bytes([1]) + fp + bytes([3]) + b"v01" + os.urandom(16 + 24 + 32)
        submit = [VERSION, 4, 77, fp, "v01", [junk_envelope]]
        if kind == "ack":
            return pack([VERSION, 5, 77, [[os.urandom(16), 0, 0, "", "0123456789abcdef"]], bytes(16)])
        if kind == "submit":
            return pack(submit)
        if kind == "forward":
            return pack([VERSION, 15, int.from_bytes(os.urandom(8), "big") | 1, 1, "v01", pack(submit)])
        if kind == "retry":
            tag = self.last_forward[1] if self.last_forward and self.last_forward[1] is not None else 0
            return pack([VERSION, 6, tag, 100, "try again"])
        if kind == "garbage":
            return b"\xc1\xc1\xc1\xc1"
        sys.exit("attack.py: unknown inner kind %r" % kind)

    def step(self, step):
        verb, _, rest = step.partition(":")
        if verb == "hello":
            self.send([VERSION, 1, self.fingerprint, self.name, shard_spec(rest)])
            self.emit({"sent": "HELLO", "shards": shard_spec(rest)})
        elif verb == "heartbeat":
            self.send([VERSION, 3])
        elif verb == "reply":
            spec, _, kind = rest.partition(":")
            ticket = self.ticket(spec)
            self.send([VERSION, 16, ticket, self.inner(kind)])
            self.emit({"sent": "REPLY", "ticket": ticket, "inner": kind})
        elif verb == "reopen":
            self.send([VERSION, 17, 78, self.fingerprint, rest, 1, "attack", bytes(16)])
            self.emit({"sent": "VENUE_REOPEN", "venue": rest})
        elif verb == "submit":
            tag, _, path = rest.partition(":")
            with open(path) as f:
                envelopes = [bytes.fromhex(l.strip()) if l.strip() != "-" else b"" for l in f if l.strip()]
            self.send([VERSION, 4, int(tag), self.fingerprint, self.name, envelopes])
            self.emit({"sent": "SUBMIT", "tag": int(tag), "envelopes": len(envelopes)})
        elif verb == "open":
            self.send([VERSION, 8, int(rest), self.fingerprint, self.name])
            self.emit({"sent": "VENUE_OPEN", "tag": int(rest)})
        elif verb == "stats":
            tag, _, shard = rest.partition(":")
            self.send([VERSION, 13, int(tag), int(shard)])
            self.emit({"sent": "STATS_QUERY", "tag": int(tag), "shard": int(shard)})
        elif verb == "raw":
            self.send(bytes.fromhex(rest))
            self.emit({"sent": "raw", "hex": rest})
        elif verb == "expect":
            parts = rest.split(":")
            want_type, want_code = parts[0], int(parts[1]) if len(parts) > 1 and parts[1] else None
            got = self.pump(self.args.timeout, lambda d: d["type"] == want_type and
                            (want_code is None or d.get("code") == want_code))
            if not got:
                self.emit({"timeout": "expect:" + rest})
                return 3
        elif verb == "recv":
            self.pump(float(rest))
        elif verb == "sleep":
            time.sleep(float(rest))
        else:
            sys.exit("attack.py: unknown step %r" % step)
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deploy", required=True, help="the deploy directory (keyring.tsv, election.json)")
    p.add_argument("--bundle", required=True, help="the bundle whose curve.secret to use")
    p.add_argument("--broker", required=True, help="the broker endpoint")
    p.add_argument("--name", help="the name put in HELLO (default: the bundle directory's name)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds an expect step waits (default 10)")
    p.add_argument("--verbose", action="store_true", help="print HEARTBEATs too")
    p.add_argument("steps", nargs="+")
    args = p.parse_args()
    peer = Peer(args)
    rc = 0
    for s in args.steps:
        rc = peer.step(s)
        if rc:
            break
    peer.sock.close(0)
    peer.ctx.term()
    return rc


if __name__ == "__main__":
    sys.exit(main())
