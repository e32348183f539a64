#!/usr/bin/env python3
"""notify_listen.py SOCKET OUT [--log FILE] [--http URL]

Plays systemd's side of sd_notify for the readiness tests: binds a Unix
datagram socket at SOCKET (given to a daemon as NOTIFY_SOCKET) and appends
one line to OUT per datagram received, flushed at once:

    MESSAGE<TAB>LOGBYTES<TAB>HTTP

MESSAGE is the datagram (its lines joined by ';'), LOGBYTES the size of
--log FILE at that moment (so the test can check what the daemon had
logged before it said READY=1), HTTP the status of a GET of --http URL
made on READY=1 ('-' otherwise, 'ERR' when nothing answered).  Runs until
killed; writes SOCKET.ready once it listens."""
import argparse, os, socket, sys, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("socket")
ap.add_argument("out")
ap.add_argument("--log")
ap.add_argument("--http")
a = ap.parse_args()

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    os.unlink(a.socket)
except FileNotFoundError:
    pass
s.bind(a.socket)
open(a.socket + ".ready", "w").close()
with open(a.out, "a", buffering=1) as out:
    while True:
        data = s.recv(4096)
        msg = ";".join(data.decode("utf-8", "replace").strip().split("\n"))
        size = os.path.getsize(a.log) if a.log and os.path.exists(a.log) else 0
        http = "-"
        if a.http and "READY=1" in msg.split(";"):
            try:
                http = str(urllib.request.urlopen(a.http, timeout=5).status)
            except urllib.error.HTTPError as e:
                http = str(e.code)
            except Exception:
                http = "ERR"
        out.write(f"{msg}\t{size}\t{http}\n")
