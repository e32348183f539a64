#!/usr/bin/python3
"""frames.py — hostile frames for every message type of docs/PROTOCOL.md, each
with the exact answer the broker must give a venue key that sends it.

  frames.py garbage DEPLOY OUT.seq OUT.json    bad msgpack, wrong arities, truncated
                                               bodies, fields of the wrong type,
                                               trailing bytes, and well-formed
                                               messages a venue may not send
  frames.py oversized DEPLOY OUTDIR            one frame over its kind's limit per kind
                                               (files, too big for argv), and frames
                                               right at the limit

OUT.seq is for attack.py's rawseq step (one frame a line, hex); OUT.json lists,
in the same order, {"case", "type", "answer": {"type", "code", "tag", "text"}}.
The venue sending them is v02 (attack.py --bundle deploy/venue/v02).
"""
import hashlib
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attack import pack, TYPES  # noqa: E402

V = 3
TAG = 4242
# fields after [version, type] of each message, as in docs/PROTOCOL.md §3:
# (name, msgpack kind the decoder wants)
FIELDS = {
    1: [("fingerprint", "bin"), ("name", "str"), ("shards", "array")],
    2: [("shards", "array")],
    3: [],
    4: [("tag", "uint"), ("fingerprint", "bin"), ("venue", "str"), ("envelopes", "array")],
    5: [("tag", "uint"), ("results", "array"), ("mac", "bin")],
    6: [("tag", "uint"), ("retry_ms", "uint"), ("reason", "str")],
    7: [("tag", "uint"), ("code", "uint"), ("text", "str")],
    8: [("tag", "uint"), ("fingerprint", "bin"), ("venue", "str")],
    9: [("tag", "uint"), ("fingerprint", "bin"), ("venue", "str"), ("issued", "uint"), ("collected", "uint"),
        ("sent", "uint"), ("mac", "bin")],
    10: [("tag", "uint"), ("figures", "array"), ("mac", "bin")],
    11: [("tag", "uint"), ("shard", "uint"), ("from", "bin")],
    12: [("tag", "uint"), ("shard", "uint"), ("shard_count", "uint"), ("fingerprint", "bin"), ("sequence", "uint"),
         ("digest", "bin"), ("generation", "uint"), ("venues", "array"), ("blocks", "array"), ("more", "bool"),
         ("next", "bin")],
    13: [("tag", "uint"), ("shard", "int")],
    14: [("tag", "uint"), ("source", "str"), ("stats", "array")],
    15: [("ticket", "uint"), ("role", "uint"), ("sender", "str"), ("inner", "bin")],
    16: [("ticket", "uint"), ("inner", "bin")],
    17: [("tag", "uint"), ("fingerprint", "bin"), ("venue", "str"), ("number", "uint"), ("reason", "str"),
         ("mac", "bin")],
    18: [("tag", "uint"), ("from", "uint")],
    19: [("tag", "uint"), ("uptime_ms", "uint"), ("version", "str"), ("workers", "array"), ("shards", "array"),
         ("refusals", "map"), ("venues", "array"), ("more", "bool"), ("next", "uint")],
}
TAGGED = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19}  # PROTOCOL §2: the third element is a tag


def valid(t, fp):
    """A well-formed message of type t (it decodes), as venue v02 might forge it."""
    figures = [1, 0, 0, 0, 0, {}, -1, -1, -1, False, [0, 0, 0, 0], 0]
    return {
        1: [V, 1, fp, "1", [0]],
        2: [V, 2, [0]],
        3: [V, 3],
        4: [V, 4, TAG, fp, "v02", []],
        5: [V, 5, TAG, [], bytes(16)],
        6: [V, 6, TAG, 100, "later"],
        7: [V, 7, TAG, 6, "oops"],
        8: [V, 8, TAG, fp, "v02"],
        9: [V, 9, TAG, fp, "v02", 1, 1, 1, bytes(16)],
        10: [V, 10, TAG, figures, bytes(16)],
        11: [V, 11, TAG, 0, bytes(4)],
        12: [V, 12, TAG, 0, 8, fp, 0, bytes(32), 0, [], [], False, bytes(4)],
        13: [V, 13, TAG, -1],
        14: [V, 14, TAG, "broker", [["x", 1]]],
        15: [V, 15, 99, 1, "v01", pack([V, 3])],
        16: [V, 16, 99, pack([V, 3])],
        17: [V, 17, TAG, fp, "v01", 1, "why", bytes(16)],
    }[t]


def err(code, tag, text):
    return {"type": "ERROR", "code": code, "tag": tag, "text": text}


def garbage(deploy):
    fp = hashlib.sha256(open(os.path.join(deploy, "election.json"), "rb").read()).digest()
    cases = []  # (case, type, frame bytes, expected answer)

    def add(case, t, frame, answer):
        cases.append((case, t, frame, answer))

    # not a pingyi frame at all
    add("not msgpack", 0, b"\xc1\xc1\xc1\xc1", err(1, 0, "message: expected array, got invalid"))
    add("a map", 0, pack({1: 2}), err(1, 0, "message: expected array, got map"))
    add("a str", 0, pack("hello"), err(1, 0, "message: expected array, got str"))
    add("empty frame", 0, b"", err(1, 0, "message: truncated"))
    add("empty array", 0, b"\x90", err(1, 0, "message: empty array, expected [version, type, ...]"))
    add("array of 65535 announced", 0, b"\xdc\xff\xff\x03\x04", err(1, 0, "message: truncated"))
    add("version only", 0, pack([V]), err(1, 0, "message: expected at least 2 fields, got 1"))
    add("type 0", 0, pack([V, 0, TAG]), err(1, 0, "unknown message type 0"))
    add("type 20", 0, pack([V, 20, TAG]), err(1, 0, "unknown message type 20"))
    add("type 99", 0, pack([V, 99, TAG, 1, 2]), err(1, 0, "unknown message type 99"))
    add("type as str", 0, pack([V, "SUBMIT", TAG]), err(1, 0, "message.type: expected uint, got str"))
    add("type negative", 0, pack([V, -4, TAG]), err(1, 0, "message.type: negative where uint expected"))

    for t in range(1, 18):
        name = TYPES[t]
        fields = FIELDS[t]
        arity = 2 + len(fields)
        tag_of = (lambda n: TAG if t in TAGGED and n >= 3 else 0)
        good = pack(valid(t, fp))
        # one field too many / too few
        add("arity+1", t, pack([V, t] + [TAG] * (arity - 1)),
            err(1, tag_of(arity + 1), "%s: expected %d fields, got %d" % (name, arity, arity + 1)))
        if arity > 2:
            short = valid(t, fp)[:-1]
            add("arity-1", t, pack(short),
                err(1, tag_of(len(short)), "%s: expected %d fields, got %d" % (name, arity, len(short))))
        # the array header of a whole message, the body cut short after the tag
        # (the decoder first checks the announced count against the bytes left, then
        # reads field by field: the first field missing is named)
        if t == 3:
            cut, want = b"\x92\x03", "message: truncated"
        else:
            present = 1 if fields[0][1] == "uint" else 0  # the tag, or a ticket
            cut = bytes([0x90 | arity]) + pack(V) + pack(t) + (pack(TAG) if present else b"")
            want = ("message: truncated" if len(cut) - 1 < arity else
                    "%s.%s: truncated" % (name, fields[present][0]))
        add("truncated", t, cut, err(1, tag_of(arity), want))
        # the whole message but its last byte: the last field is cut
        want = {3: "message: truncated", 14: "STATS.stats[0].value: truncated"}.get(
            t, "%s.%s: truncated" % (name, fields[-1][0]) if fields else None)
        add("last byte cut", t, good[:-1], err(1, tag_of(arity), want))
        # a byte that is no msgpack in each field, one at a time
        for i, (fname, kind) in enumerate(fields):
            msg = valid(t, fp)
            raw = (bytes([0x90 | arity]) + pack(V) + pack(t) + b"".join(pack(x) for x in msg[2:2 + i]) + b"\xc1" +
                   b"".join(pack(x) for x in msg[3 + i:]))
            tag = TAG if t in TAGGED and i > 0 else 0
            add("0xc1 in %s" % fname, t, raw, err(1, tag, "%s.%s: expected %s, got invalid" % (name, fname, kind)))
        # a nil (never allowed anywhere) in each field
        for i, (fname, kind) in enumerate(fields):
            msg = valid(t, fp)
            msg[2 + i] = None
            tag = TAG if t in TAGGED and i > 0 else 0
            add("nil in %s" % fname, t, pack_nil(msg), err(1, tag, "%s.%s: expected %s, got nil" % (name, fname, kind)))
        # trailing bytes after a whole message
        add("trailing byte", t, good + b"\x00",
            err(1, TAG if t in TAGGED else 0, "%s: trailing bytes after message" % name))
        # the same message well formed: a venue may send SUBMIT, VENUE_OPEN, VENUE_CLOSE and
        # HEARTBEAT (answered below by the test as it goes); every other kind is forbidden
        if t not in (3, 4, 8, 9):
            add("well formed", t, good,
                err(2, TAG if t in TAGGED else 0, "a venue key may not send %s to the broker" % name))
    return cases


def pack_nil(msg):
    """pack with None as msgpack nil."""
    out = bytes([0x90 | len(msg)])
    for x in msg:
        out += b"\xc0" if x is None else pack(x)
    return out


def main():
    mode = sys.argv[1]
    if mode == "garbage":
        deploy, seq, js = sys.argv[2:5]
        cases = garbage(deploy)
        with open(seq, "w") as f:
            for c in cases:
                f.write((c[2].hex() or "-") + "\n")
        with open(js, "w") as f:
            json.dump([{"case": c[0], "type": TYPES.get(c[1], "-"), "hex": c[2].hex(), "answer": c[3]}
                       for c in cases], f, indent=0)
        print(len(cases))
    elif mode == "oversized":
        # SUBMIT and REPLY: PINGYI_INNER_MAX = PINGYI_FRAME_MAX (2 MiB) - 1024 (proto/msg.h)
        BIG = (2 << 20) - 1024
        deploy, seq, js = sys.argv[2:5]
        fp = hashlib.sha256(open(os.path.join(deploy, "election.json"), "rb").read()).digest()
        cases = []
        for t in range(1, 20):
            name = TYPES[t]
            big = t in (4, 16)
            limit = BIG if big else 4096
            head = bytes([0x90 | (2 + len(FIELDS[t]))]) + pack(V) + pack(t) + (pack(TAG) if t in TAGGED else b"")
            frame = head + bytes(limit + 1 - len(head))
            cases.append(("over", name, frame, err(1, TAG if t in TAGGED else 0,
                          "frame of %d bytes exceeds %d (the limit of a %s)" % (limit + 1, limit, name))))
        # a frame whose kind cannot be read: the largest limit, then "frame"
        cases.append(("over", "frame", b"\xc1" + bytes(BIG), err(
            1, 0, "frame of %d bytes exceeds %d (the limit of a frame)" % (BIG + 1, BIG))))
        # right at a kind's limit: decoded, not refused for its size
        at = pack([V, 8, TAG, fp, "v02"])
        cases.append(("at", "VENUE_OPEN", at + bytes(4096 - len(at)),
                      err(1, TAG, "VENUE_OPEN: trailing bytes after message")))
        with open(seq, "w") as f:
            for c in cases:
                f.write(c[2].hex() + "\n")
        with open(js, "w") as f:
            json.dump([{"case": c[0], "type": c[1], "answer": c[3]} for c in cases], f, indent=0)
        print(len(cases))
    else:
        sys.exit("usage: frames.py garbage DEPLOY OUT.seq OUT.json")


if __name__ == "__main__":
    main()
