#!/usr/bin/python3
"""Write the seed corpus of tests/fuzz/fuzz_frame.c into this directory.

Each seed is: control byte, op count n, n op bytes (getter choices), then a
stream of frames as docs/frames.md encodes them.  Run once after a change
of the frame format; the seeds are kept in git.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def data(b): return u32(len(b)) + b
def s(t): return data(t.encode()) + b"\0"


def frame(ftype, body=b"", frm="", to="", flags=0, session=0, corr=0,
          kind=0, stype=0, length=None, reserved=0):
    j = frm.encode() + to.encode()
    n = 32 + len(j) + len(body) if length is None else length
    return struct.pack("<IHHQIHBBHHI", n, ftype, flags, session, corr, 0,
                       kind, stype, len(frm.encode()), len(to.encode()),
                       reserved) + j + body


def seed(name, stream, ctl=0, ops=b""):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes([ctl, len(ops)]) + ops + stream)


hello = frame(1, u16(1) + u16(0) + s("c2sd") + u32(0) + u32(1 << 20))
config = frame(2, s("max-connections") + s("10000"))
ready = frame(5)
stanza = frame(16, b"<message type='chat'><body>hi</body></message>",
               frm="alice@localhost/r1", to="bob@localhost", session=7,
               kind=1, stype=2)
sasl = frame(48, s("SCRAM-SHA-256") + s("localhost") + u8(1) +
             data(b"n,,n=alice,r=abcdef") + s("127.0.0.1") + u8(1) +
             data(b"") + data(b""), session=3, corr=9)
reply = frame(100, u8(1) + s("c2sd restarting"))
bind = frame(32, u8(0), frm="alice@localhost/r1", session=4)
hello_ops = bytes([1, 1, 4, 2, 2, 7])       # u16 u16 str u32 u32 end
config_ops = bytes([4, 4, 4, 7])
sasl_ops = bytes([4, 4, 0, 5, 4, 0, 5, 5, 7])

seed("hello", hello, ops=hello_ops)
seed("config", config, ops=config_ops)
seed("ready", ready, ops=bytes([7]))
seed("stanza", stanza, ops=bytes([6, 7]))
seed("sasl_start", sasl, ops=sasl_ops)
seed("ctl_reply", reply, ops=bytes([0, 4, 7]))
seed("bind", bind, ops=bytes([0, 7]))
seed("handshake", hello + config + config + ready, ctl=0x02, ops=hello_ops)
seed("echo_free", stanza + stanza + stanza, ctl=0x06, ops=bytes([6]))
seed("eof_mid_frame", stanza[:40], ctl=0x01)
seed("small_max", stanza, ctl=0x08)
seed("fd_flag", frame(3, s("client"), flags=1), ops=bytes([4, 7]))
seed("len_4gib", frame(96, length=0xffffffff))
seed("reserved", frame(96, reserved=1))
seed("jid_nul", frame(16, b"<x/>", frm="a\0b", to="c"))
seed("jids_too_long", frame(16, b"", length=40)[:24] + u16(9) + u16(0) + u32(0))
