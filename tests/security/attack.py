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
  rawfile:PATH          the bytes of the file PATH as one frame (for frames too big for argv)
  rawseq:PATH           for each line of PATH (hex, "-" an empty frame; "a,b" two parts a and b),
                        send it as one message and wait (--timeout) for the next frame that is
                        not a HEARTBEAT: printed as usual, with "seq": the line's number (from 0);
                        exit 3 if one gets no answer
  multipart:HEX,HEX...  one message of several frames, each HEX
  replyraw:TICKET:HEX   REPLY naming TICKET (as reply:) carrying the bytes HEX as its inner frame
                        (e.g. a captured ACK: ACK and VENUE_STATUS frames are printed with "hex")
  close:TAG:I:C:S[:R]   VENUE_CLOSE with TAG as the bundle's venue (--name): issued I, collected C,
                        sent S, MAC'd under the venue's close key of round R (after R reopens,
                        default 0; docs/PROTOCOL.md "The link MAC") (the bundle's box.secret and its
                        shard's box key from keyring.tsv: what the venue itself can make); printed
                        with "hex", the frame's bytes, for replays
  reopensig:TAG:VENUE:N VENUE_REOPEN of VENUE number N, MAC'd under the reopen key of the bundle's
                        CURVE secret (an operator's bundle), reason "attack"
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
         13: "STATS_QUERY", 14: "STATS", 15: "FORWARD", 16: "REPLY", 17: "VENUE_REOPEN",
         18: "MONITOR_QUERY", 19: "MONITOR"}
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


# --- link keys (docs/PROTOCOL.md §9, "Link keys"; pure Python but X25519) ---

def _rotl(v, c):
    return ((v << c) & 0xffffffff) | (v >> (32 - c))


def hsalsa20(key, inp):
    k, i = struct.unpack("<8I", key), struct.unpack("<4I", inp)
    c = struct.unpack("<4I", b"expand 32-byte k")
    x = [c[0], *k[0:4], c[1], *i, c[2], *k[4:8], c[3]]

    def qr(a, b, d, e):
        x[b] ^= _rotl((x[a] + x[e]) & 0xffffffff, 7)
        x[d] ^= _rotl((x[b] + x[a]) & 0xffffffff, 9)
        x[e] ^= _rotl((x[d] + x[b]) & 0xffffffff, 13)
        x[a] ^= _rotl((x[e] + x[d]) & 0xffffffff, 18)
    for _ in range(10):
        qr(0, 4, 8, 12); qr(5, 9, 13, 1); qr(10, 14, 2, 6); qr(15, 3, 7, 11)  # noqa: E702
        qr(0, 1, 2, 3); qr(5, 6, 7, 4); qr(10, 11, 8, 9); qr(15, 12, 13, 14)  # noqa: E702
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def link_key(secret, public, subkey):
    """crypto_kdf_derive_from_key (32, subkey, "pingyilk", crypto_box_beforenm (public, secret))"""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    shared = X25519PrivateKey.from_private_bytes(secret).exchange(X25519PublicKey.from_public_bytes(public))
    k = hsalsa20(shared, bytes(16))
    return hashlib.blake2b(b"", digest_size=32, key=k, salt=struct.pack("<Q", subkey) + bytes(8),
                           person=b"pingyilk" + bytes(8)).digest()


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
        self.seq = None  # the line of a rawseq step being answered

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
            raw = self.sock.recv()
            d = describe(raw)
            if d["type"] in ("ACK", "VENUE_STATUS"):
                d["hex"] = raw.hex()  # the genuine bytes, for replays
            if d["type"] == "READY":
                self.registered = True
            if d["type"] == "ERROR" and d.get("code") in (4, 7):
                self.registered = False
            if d["type"] == "FORWARD":
                self.last_forward = (d["ticket"], d.get("inner_tag"))
            if self.seq is not None:
                d["seq"] = self.seq
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

    def shard_box(self, venue):
        """The box public key of VENUE's shard (docs/election-definition.md, shard assignment)."""
        with open(os.path.join(self.args.deploy, "election.json"), encoding="utf-8-sig") as f:
            d = json.load(f)
        v = [x for x in d["venues"] if x["id"] == venue][0]
        shard = v.get("shard")
        if shard is None:
            h = 0xcbf29ce484222325
            for b in venue.encode():
                h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
            shard = h % d.get("shards", 1)
        with open(os.path.join(self.args.deploy, "keyring.tsv")) as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) >= 4 and cols[0] == "shard" and int(cols[1]) == shard:
                    return bytes.fromhex(cols[3])
        sys.exit("attack.py: no shard line for shard %d" % shard)

    def secret(self, name):
        with open(os.path.join(self.args.bundle, name)) as f:
            return bytes.fromhex(f.read().strip())

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
        elif verb == "close":
            parts = [int(x) for x in rest.split(":")]
            tag, issued, collected, sent = parts[:4]
            key = link_key(self.secret("box.secret"), self.shard_box(self.name), 2)
            if len(parts) > 4 and parts[4]:
                # the close key of round R: BLAKE2b-256 (key = close key, "pingyi close round" || R u32 LE)
                key = hashlib.blake2b(b"pingyi close round" + parts[4].to_bytes(4, "little"),
                                      digest_size=32, key=key).digest()
            body = pack([VERSION, 9, tag, self.fingerprint, self.name, issued, collected, sent])
            body = bytes([0x99]) + body[1:]  # the array holds the MAC too: 9 elements
            frame = body + b"\xc4\x10" + hashlib.blake2b(body, digest_size=16, key=key).digest()
            self.send(frame)
            self.emit({"sent": "VENUE_CLOSE", "tag": tag, "hex": frame.hex()})
        elif verb == "reopensig":
            tag, venue, number = rest.split(":")
            key = link_key(self.secret("curve.secret"), self.shard_box(venue), 3)
            body = pack([VERSION, 17, int(tag), self.fingerprint, venue, int(number), "attack"])
            body = bytes([0x98]) + body[1:]  # 8 elements with the MAC
            frame = body + b"\xc4\x10" + hashlib.blake2b(body, digest_size=16, key=key).digest()
            self.send(frame)
            self.emit({"sent": "VENUE_REOPEN", "tag": int(tag), "venue": venue, "number": int(number)})
        elif verb == "rawfile":
            with open(rest, "rb") as f:
                data = f.read()
            self.send(data)
            self.emit({"sent": "rawfile", "bytes": len(data)})
        elif verb == "rawseq":
            with open(rest) as f:
                lines = [l.strip() for l in f if l.strip()]
            for i, line in enumerate(lines):
                self.seq = i
                parts = [bytes.fromhex(x) if x != "-" else b"" for x in line.split(",")]
                self.sock.send_multipart(parts)
                got = self.pump(self.args.timeout, lambda d: d["type"] != "HEARTBEAT")
                if not got:
                    self.seq = None
                    self.emit({"timeout": "rawseq", "seq": i})
                    return 3
            self.seq = None
        elif verb == "multipart":
            self.sock.send_multipart([bytes.fromhex(x) for x in rest.split(",")])
            self.emit({"sent": "multipart", "parts": len(rest.split(","))})
        elif verb == "replyraw":
            spec, _, hexdata = rest.partition(":")
            ticket = self.ticket(spec)
            self.send([VERSION, 16, ticket, bytes.fromhex(hexdata)])
            self.emit({"sent": "REPLY", "ticket": ticket, "inner": "raw"})
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
