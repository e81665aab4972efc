"""Fault injection (issue 9): kill -9 each daemon while clients talk.

Two slixmpp clients with stream management (XEP-0198) exchange 1,000 chat
messages, each body carrying a unique id, while the test kills imd and
then each of routerd's children in turn (authd, pepd, mucd, s2sd, imd,
c2sd) and checks that each is ready again (rampartctl status) within 2 s.
A client whose connection dies with c2sd reconnects and resumes its
stream (XEP-0198): routerd kept the session for the next c2sd
(docs/decisions.md, "Resumption across a c2sd restart").

A quarter of one client's messages go to a third account that is offline
until the end and then logs in.  Afterwards every message whose sender got
a stream-management ack must be at its recipient exactly once: delivered live, or delivered from offline
storage after the reconnect.  Losses and duplicates are counted separately
and both must be zero.

Also here: a stanza sent to mucd while it is restarting is held by routerd
and answered once mucd is back (not bounced); and routerd itself killed and
started again on the same data directory (what systemd's Restart= does)
loses nothing that was acknowledged: messages stored offline before the
kill are delivered after it.
"""
import asyncio
import os
import re
import signal
import subprocess
import time

import pytest

import xmpp_util as xu
from conftest import BUILD, HARNESS, start_instance

PW = "pw-faults"
TOTAL = 1000
OFFLINE = "fg"
BURST = 50
KILL_ORDER = ["imd", "authd", "pepd", "mucd", "s2sd", "imd", "c2sd"]
BODY = re.compile(r"^fault-(\w+)-(\d+)$")


class Peer:
    """One account's client: sends numbered messages, records what it gets
    and which of its messages the server acknowledged (XEP-0198 <a/>).
    Reconnects by itself when its TCP connection dies."""

    def __init__(self, inst, user, other):
        self.inst = inst
        self.user = user
        self.other = other
        self.acked = set()	# ids of our messages the server acked
        self.got = {}		# id -> times received
        self.client = None
        self.reconnects = 0
        self.resumed = 0
        self.closing = False
        self.online = asyncio.Event()

    async def start(self):
        c = xu.Client(self.inst, self.user, PW, resource="faults",
                      plugins=("xep_0198",))
        c["xep_0198"].window = 1	# <r/> after every stanza we send
        c.add_event_handler("stanza_acked", self._on_acked)
        c.add_event_handler("message", self._on_message)
        c.add_event_handler("session_start", lambda _: self.online.set())
        c.add_event_handler("session_resumed", self._on_resumed)
        c.add_event_handler("disconnected", self._on_disconnected)
        self.client = c
        c.connect((self.inst.host, self.inst.port), force_starttls=True)
        await asyncio.wait_for(self.online.wait(), 10)
        sm = c["xep_0198"]
        for _ in range(50):
            if sm.sm_id:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("%s: stream management not enabled" % self.user)

    def _on_acked(self, st):
        if st.name == "message":
            m = BODY.match(st["body"] or "")
            if m and m.group(1) == self.user:
                self.acked.add(st["body"])

    def _on_message(self, msg):
        body = msg["body"] or ""
        m = BODY.match(body)
        if m and m.group(1) == self.other.user:
            self.got[body] = self.got.get(body, 0) + 1

    def _on_resumed(self, _):
        self.resumed += 1
        self.online.set()

    def _on_disconnected(self, _):
        self.online.clear()
        if self.closing:
            return
        self.reconnects += 1
        # c2sd is coming back: try again shortly (resume or a new session).
        asyncio.get_event_loop().call_later(0.2, self._reconnect)

    def _reconnect(self):
        if self.closing:
            return
        self.client.connect((self.inst.host, self.inst.port),
                            force_starttls=True)

    async def send(self, n, to=None):
        await asyncio.wait_for(self.online.wait(), 15)
        self.client.send_message(mto=self.inst.jid(to or self.other.user),
                                 mbody="fault-%s-%d" % (self.user, n),
                                 mtype="chat")

    async def close(self):
        self.closing = True
        await self.client.close()


def sanitized():
    """Is the build under test compiled with AddressSanitizer?"""
    r = subprocess.run(["ldd", os.path.join(BUILD, "routerd", "routerd")],
                       capture_output=True, text=True)
    return "libasan" in r.stdout


# Issue 9: each daemon back within 2 s.  Sanitizer builds start several
# times slower (s2sd parses the system trust store under ASan), so there
# the bound is 6 s; tests/run repeats this module on a plain build.
BACK_WITHIN = 6.0 if sanitized() else 2.0


async def kill_and_wait(inst, daemon, took):
    old = inst.pid_of(daemon)
    os.kill(old, signal.SIGKILL)
    t0 = time.time()
    # rampartctl is blocking: run it beside the clients' event loop.
    await asyncio.get_event_loop().run_in_executor(
        None, lambda: inst.wait_ready(daemon, timeout=10.0, not_pid=old))
    took.append((daemon, time.time() - t0))


async def exchange_under_faults(inst, kills):
    a, b = Peer(inst, "fa", None), Peer(inst, "fb", None)
    a.other, b.other = b, a
    await a.start()
    await b.start()
    took = []
    burst_out = asyncio.Event()
    back = asyncio.Event()
    back.set()
    try:
        # Bursts, so that frames are in flight (queued in routerd, in a
        # socket, read but not processed) at the moment of each kill; the
        # next burst waits (a while) for the killed daemon to be back, so
        # the bursts last as long as the kills, however slow the build.
        async def sender(p):
            for n in range(TOTAL // 2):
                # Every fourth message of fa goes to fg, who is offline
                # until the end: offline storage under the same kills.
                await p.send(n, OFFLINE if p is a and n % 4 == 3 else None)
                if n % BURST == BURST - 1:
                    burst_out.set()
                    await asyncio.sleep(0.3)
                    try:
                        await asyncio.wait_for(back.wait(), 5)
                    except asyncio.TimeoutError:
                        pass

        async def killer():
            for d in kills:
                burst_out.clear()
                try:
                    await asyncio.wait_for(burst_out.wait(), 5)
                except asyncio.TimeoutError:
                    pass
                back.clear()
                try:
                    await kill_and_wait(inst, d, took)
                finally:
                    back.set()

        await asyncio.gather(sender(a), sender(b), killer())
        # Let the last acks come in and everything acked arrive.
        deadline = time.time() + 20
        while time.time() < deadline:
            for p in (a, b):
                if p.online.is_set():
                    p.client["xep_0198"].request_ack()
            await asyncio.sleep(0.5)
            if all(set(p.acked) <= set(p.other.got) for p in (a, b)):
                break
        await asyncio.sleep(1.0)	# duplicates would arrive by now
    finally:
        await a.close()
        await b.close()
    # fg logs in: its messages come from offline storage.
    g = await xu.login(inst, OFFLINE, PW)
    try:
        while True:
            try:
                m = await g.next_message(timeout=3)
            except asyncio.TimeoutError:
                break
            body = m["body"] or ""
            if BODY.match(body):
                b.got[body] = b.got.get(body, 0) + 1
    finally:
        await g.close()
    return a, b, took


def tally(a, b):
    acked = lost = dups = 0
    missing = []
    for p in (a, b):
        acked += len(p.acked)
        for body in p.acked:
            if body not in p.other.got:
                lost += 1
                missing.append(body)
        for body, n in p.other.got.items():
            if n > 1:
                dups += n - 1
    return acked, lost, dups, sorted(missing)[:20]


@pytest.fixture
def inst(tmp_path):
    i = start_instance(tmp_path)
    for u in ("fa", "fb", "fc", "fd", "fe", "fg"):
        i.adduser(u, PW)
    yield i
    i.stop()


def test_kill9_each_daemon_while_exchanging(inst):
    a, b, took = xu.run(exchange_under_faults(inst, KILL_ORDER), timeout=180)
    for daemon, secs in took:
        assert secs <= BACK_WITHIN, "%s back after %.2f s" % (daemon, secs)
    assert [d for d, _ in took] == KILL_ORDER
    acked, lost, dups, missing = tally(a, b)
    print("fault run: %d acked, %d lost, %d duplicated, reconnects %d/%d, "
          "resumed %d/%d, back in %s" % (
              acked, lost, dups, a.reconnects, b.reconnects, a.resumed,
              b.resumed, ", ".join("%s %.2fs" % t for t in took)))
    # Most messages must have been acknowledged, or the test proves little.
    assert acked >= TOTAL * 0.9, acked
    assert lost == 0, "lost %d acknowledged messages, e.g. %s" % (lost, missing)
    assert dups == 0, "%d duplicated messages" % dups
    # The clients came back after c2sd died, and resumed their streams.
    assert a.reconnects >= 1 and b.reconnects >= 1
    assert a.resumed >= 1 and b.resumed >= 1, (a.resumed, b.resumed)


def test_stanza_to_restarting_service_is_held(inst):
    """An iq to conference.<domain> sent right after mucd was killed waits
    in routerd and is answered by the new mucd, not bounced."""
    async def go():
        c = await xu.login(inst, "fc", PW)
        try:
            old = inst.pid_of("mucd")
            os.kill(old, signal.SIGKILL)
            r = await xu.iq(c, "conference." + inst.domain,
                            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                            timeout=5)
            assert r["type"] == "result", str(r)
            assert inst.pid_of("mucd") != old
        finally:
            await c.close()
    xu.run(go())


def restart_routerd(inst):
    """kill -9 routerd, end its orphaned children as systemd would (the
    unit's control group), start it again on the same directory."""
    pgid = inst.pid
    os.kill(inst.pid, signal.SIGKILL)
    # Children see routerd's link close and exit; whatever is left goes
    # the way KillMode=control-group sends it.
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.killpg(pgid, signal.SIGKILL)
    conf = inst.env["CONF"]
    log = open(os.path.join(inst.dir, "routerd.log"), "ab")
    env = dict(os.environ, RAMPART_DEBUG_TRIGGERS="1")
    p = subprocess.Popen([os.path.join(BUILD, "routerd", "routerd"), "-f", conf],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         env=env, start_new_session=True)
    with open(os.path.join(inst.dir, "routerd.pid"), "w") as f:
        f.write("%d\n" % p.pid)
    inst.pid = p.pid
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            st = inst.status()
            if st and all(s["state"] == "ready" for d, s in st.items()
                          if d != "routerd"):
                return
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        time.sleep(0.1)
    raise AssertionError("suite not ready after routerd restart")


def test_routerd_killed_nothing_acknowledged_lost(inst):
    """Messages acknowledged (SM) to their sender while the recipient is
    offline are stored by imd; routerd killed and restarted on the same
    data directory, the recipient logs in and gets every one of them."""
    async def send_acked():
        p = Peer(inst, "fd", None)
        p.other = Peer(inst, "fe", p)
        await p.start()
        try:
            for n in range(100):
                await p.send(n)
            deadline = time.time() + 10
            while len(p.acked) < 100 and time.time() < deadline:
                p.client["xep_0198"].request_ack()
                await asyncio.sleep(0.2)
        finally:
            await p.close()
        return p.acked

    acked = xu.run(send_acked())
    assert len(acked) == 100
    restart_routerd(inst)

    async def receive():
        c = await xu.login(inst, "fe", PW)
        got = {}
        try:
            while True:
                try:
                    m = await c.next_message(timeout=3)
                except asyncio.TimeoutError:
                    break
                got[m["body"]] = got.get(m["body"], 0) + 1
        finally:
            await c.close()
        return got

    got = xu.run(receive())
    assert acked <= set(got), "lost after routerd restart: %s" % sorted(
        acked - set(got))[:10]
    assert all(n == 1 for n in got.values()), "duplicates after restart"
