#!/usr/bin/env python3
"""Address books as ZeroMQ multipart messages, one frame per segment (pycapnp's to_segments /
from_segments over pyzmq): the peer of windlass's ZeroMQ segment transport.

Usage:
  segments_zmq.py send ENDPOINT SPEC   connect a PUSH socket to ENDPOINT and send every book of
                                       SPEC twice: split (one-word first segment, so several
                                       segments) and with default allocation
  segments_zmq.py recv SPEC            bind a PULL socket on a free port of 127.0.0.1, print
                                       `bound ENDPOINT`, receive the same sequence from windlass
                                       and compare each message field by field with SPEC

SPEC is the spec.json of addressbook.py. Every wait is bounded by TIMEOUT_MS; exits 1 on any
difference.
"""

import json
import pathlib
import sys

import zmq

from addressbook import AddressBook, LIMITS, build, differences, to_spec

TIMEOUT_MS = 60_000


def send(endpoint, books):
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    push.setsockopt(zmq.LINGER, TIMEOUT_MS)  # close() waits (boundedly) until all is sent
    push.connect(endpoint)
    for n, book in enumerate(books):
        for form, first_segment_words in (("split", 1), ("default", None)):
            segments = build(book, first_segment_words).to_segments()
            push.send_multipart(segments, copy=True)
            print(f"sent book {n} ({form}): {len(segments)} segments", flush=True)
    push.close()
    ctx.term()
    return 0


def recv(books):
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    pull.setsockopt(zmq.LINGER, 0)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    print(f"bound tcp://127.0.0.1:{port}", flush=True)
    failures = 0
    for n, book in enumerate(books):
        for form in ("split", "default"):
            try:
                frames = pull.recv_multipart()
            except zmq.Again:
                print(f"FAIL book {n} ({form}): nothing received in {TIMEOUT_MS} ms", flush=True)
                return 1
            what = f"book {n} ({form}, {len(frames)} segments)"
            try:
                got = to_spec(AddressBook.from_segments(frames, **LIMITS))
            except Exception as e:  # noqa: BLE001 - any failure to read is reported
                print(f"FAIL {what}: cannot read: {type(e).__name__}: {e}", flush=True)
                failures += 1
                continue
            diffs = differences(got, book)
            if form == "split" and book["people"] and len(frames) < 2:
                diffs.append("expected several segments")
            print(f"{'FAIL' if diffs else 'PASS'} {what}", flush=True)
            for line in diffs[:20]:
                print(f"    {line}", flush=True)
            failures += bool(diffs)
    pull.close()
    ctx.term()
    print(f"{failures} failure(s)", flush=True)
    return 1 if failures else 0


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "send":
        return send(args[1], json.loads(pathlib.Path(args[2]).read_text(encoding="utf-8")))
    if len(args) == 2 and args[0] == "recv":
        return recv(json.loads(pathlib.Path(args[1]).read_text(encoding="utf-8")))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
