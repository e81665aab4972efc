"""mucd under load: a room of 1,000 occupants takes a flood of groupchat
messages while two other users talk one to one; their message must
arrive promptly (the fan-out must not block routerd, c2sd or the other
traffic), and every occupant must get every flood message.

The 300 occupants are light raw clients (direct TLS, SASL PLAIN, bind,
directed presence to the room; no roster, no initial presence) in a
child process with its own event loop, so the slixmpp pair in this
process measures the server, not Python's scheduler.  50 accounts with
20 resources each (max-resources is raised to 20 for it); logins run 40
at a time (unauth-per-ip is raised for it), joins 10 at a time.  Figures go to stdout (pytest -s).
"""
import asyncio
import base64
import multiprocessing
import re
import ssl
import time

import pytest

import xmpp_util as xu
from conftest import start_instance

PW = "pw-scale-1"
ACCOUNTS = 50
PER_ACCOUNT = 20
OCCUPANTS = ACCOUNTS * PER_ACCOUNT
FLOOD = 60
MUC = "http://jabber.org/protocol/muc"


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    inst = start_instance(tmp_path_factory.mktemp("rampart-mucscale"),
                          extra_conf="unauth-per-ip 400\nmax-resources 20\n")
    for i in range(ACCOUNTS):
        inst.adduser("u%d" % i, PW)
    for u in ("alice", "bob"):
        inst.adduser(u, PW)
    yield inst
    assert inst.stop(), "processes were left behind at stop"


class Raw:
    """One occupant: a TLS stream read into a buffer, searched by regex."""

    def __init__(self, idx):
        self.idx = idx
        self.buf = b""
        self.seen = set()
        self.all_seen = None

    async def until(self, pattern, timeout=20):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("occupant %d waits for %r" % (self.idx, pattern))
            data = await asyncio.wait_for(self.r.read(65536), left)
            if not data:
                raise ConnectionError("occupant %d: stream closed" % self.idx)
            self.buf += data

    async def login(self, env, user, resource):
        ctx = ssl.create_default_context(cafile=env["cafile"])
        self.r, self.w = await asyncio.open_connection(
            env["host"], env["tls_port"], ssl=ctx, server_hostname=env["domain"])
        hdr = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
               "xmlns:stream='http://etherx.jabber.org/streams' to='%s' "
               "version='1.0'>" % env["domain"]).encode()
        self.w.write(hdr)
        await self.until(rb"</(?:\w+:)?features>")
        tok = base64.b64encode(("\0%s\0%s" % (user, PW)).encode()).decode()
        self.w.write(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                      "mechanism='PLAIN'>%s</auth>" % tok).encode())
        await self.until(rb"<success")
        self.w.write(hdr)
        await self.until(rb"</(?:\w+:)?features>")
        self.w.write(("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:"
                      "ns:xmpp-bind'><resource>%s</resource></bind></iq>"
                      % resource).encode())
        await self.until(rb"</jid>")

    async def join(self, rj):
        self.w.write(("<presence to='%s/n%d'><x xmlns='%s'><history maxstanzas="
                      "'0'/></x></presence>" % (rj, self.idx, MUC)).encode())
        await self.until((r"from=.%s/n%d.[^>]*>.*?code=.110." % (
            re.escape(rj), self.idx)).encode(), timeout=60)

    async def read_flood(self, total):
        rx = re.compile(rb"flood-(\d+)<")
        while len(self.seen) < total:
            for m in rx.finditer(self.buf):
                self.seen.add(int(m.group(1)))
            self.buf = self.buf[-32:]
            if len(self.seen) >= total:
                break
            data = await self.r.read(65536)
            if not data:
                raise ConnectionError("occupant %d: stream closed" % self.idx)
            self.buf += data
        self.all_seen = time.monotonic()


async def swarm(env, rj, conn):
    occ = [Raw(i) for i in range(OCCUPANTS)]
    sem = asyncio.Semaphore(40)
    t0 = time.monotonic()

    async def one(o):
        async with sem:
            await o.login(env, "u%d" % (o.idx // PER_ACCOUNT),
                          "r%d" % (o.idx % PER_ACCOUNT))

    await asyncio.gather(*(one(o) for o in occ))
    t1 = time.monotonic()
    jsem = asyncio.Semaphore(10)

    async def enter(o):
        async with jsem:
            await o.join(rj)

    await asyncio.gather(*(enter(o) for o in occ))
    conn.send(("joined", (t1 - t0, time.monotonic() - t1)))
    loop = asyncio.get_running_loop()
    readers = [asyncio.ensure_future(o.read_flood(FLOOD)) for o in occ]
    await loop.run_in_executor(None, conn.recv)     # "flood"
    start = time.monotonic()
    occ[0].w.write("".join(
        "<message to='%s' type='groupchat'><body>flood-%d</body></message>"
        % (rj, i) for i in range(FLOOD)).encode())
    try:
        await asyncio.wait_for(asyncio.gather(*readers), 90)
        conn.send(("done", max(o.all_seen for o in occ) - start, OCCUPANTS))
    except asyncio.TimeoutError:
        conn.send(("timeout", sorted(len(o.seen) for o in occ)[:5], 0))


def swarm_main(env, rj, conn):
    asyncio.run(swarm(env, rj, conn))


def test_big_room_fanout_does_not_block_others(inst):
    rj = "big@conference.%s" % inst.domain
    env = {"host": inst.host, "tls_port": inst.tls_port, "domain": inst.domain,
           "cafile": inst.cafile}

    async def setup_room():
        a = await xu.login(inst, "alice", PW)
        a.send_raw("<presence to='%s/owner'><x xmlns='%s'/></presence>" % (rj, MUC))
        await asyncio.sleep(0.3)
        r = await xu.iq(a, rj, "<query xmlns='%s#owner'><x xmlns='jabber:x:data' "
                        "type='submit'/></query>" % MUC, itype="set")
        assert r["type"] == "result", str(r)
        await a.close()
    xu.run(setup_room())

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=swarm_main, args=(env, rj, child), daemon=True)
    p.start()
    try:
        assert parent.poll(240), "the occupants did not join within 240 s"
        what, joined_s = parent.recv()
        assert what == "joined"
        print("\n%d occupants logged in in %.1f s, joined in %.1f s"
              % ((OCCUPANTS,) + joined_s))

        async def talk():
            a = await xu.login(inst, "alice", PW, resource="talk")
            b = await xu.login(inst, "bob", PW, resource="talk")
            try:
                await asyncio.sleep(0.2)
                parent.send("flood")
                await asyncio.sleep(0.05)       # the flood is under way
                lat = []
                for i in range(5):
                    t = time.monotonic()
                    a.send_message(mto=str(b.boundjid), mbody="ping %d" % i,
                                   mtype="chat")
                    while True:
                        m = await b.next_message(10)
                        if m["body"] == "ping %d" % i:
                            break
                    lat.append(time.monotonic() - t)
                return lat
            finally:
                await a.close()
                await b.close()
        lat = xu.run(talk(), timeout=60)
        assert parent.poll(100), "no word from the occupants after the flood"
        what, took, n = parent.recv()
        assert what == "done", "flood incomplete: fewest seen %s" % (took,)
        stanzas = FLOOD * OCCUPANTS
        print("flood: %d messages x %d occupants = %d stanzas in %.2f s "
              "(%.0f/s); one-to-one latency during it: %s ms"
              % (FLOOD, n, stanzas, took, stanzas / took,
                 ", ".join("%.0f" % (x * 1000) for x in lat)))
        assert max(lat) < 2.0, lat
    finally:
        p.kill()
        p.join(5)
