"""XEP-0198 resumption across a restart of c2sd (docs/decisions.md,
"Resumption across a c2sd restart").

Two slixmpp clients over STARTTLS with stream management: the sender
sends numbered chat messages to the receiver in bursts, c2sd is killed
with SIGKILL right after a burst (so messages are in routerd, in c2sd and
written to the receiver but not yet acknowledged), and more are sent
while c2sd is down and after it is back.  Both clients reconnect and must
resume (`session_resumed`, no second `session_start`), and every message
must reach the receiver exactly once.

The same around `rampartctl restart c2sd`.  And a receiver that never
comes back: when the resume window ends, the messages kept for it (in
routerd's record, unread in its socket, or arriving meanwhile) go to
offline storage, and its next login gets each once.

Negative: after the restart, a stream of another account that presents
the victim's resumption id, and a stream of the same account with a
wrong token, both get <failed/> with <item-not-found/>; the victim then
still resumes.
"""
import asyncio
import os
import re
import signal
import time

import pytest

import xmpp_util as xu
from conftest import start_instance

PW = "pw-sm-restart"
SM = "urn:xmpp:sm:3"
BODY = re.compile(r"^(smr-\d+)( x+)?$")
BURST = 40
UNREAD = 60		# messages the receiver has but has not acknowledged
PAD = " " + "x" * 1000


class SMClient:
    """A slixmpp client with XEP-0198 that reconnects by itself and
    counts what it receives, its resumptions and its fresh sessions."""

    def __init__(self, inst, user):
        self.inst = inst
        self.user = user
        self.got = {}
        self.starts = 0
        self.resumed = 0
        self.acked = set()
        self.closing = False
        self.hold = False	# do not reconnect by itself
        self.online = asyncio.Event()
        c = xu.Client(inst, user, PW, resource="smr", plugins=("xep_0198",))
        c["xep_0198"].window = 1
        c.add_event_handler("session_start", self._on_start)
        c.add_event_handler("session_resumed", self._on_resumed)
        c.add_event_handler("disconnected", self._on_disconnected)
        c.add_event_handler("message", self._on_message)
        c.add_event_handler("stanza_acked", self._on_acked)
        self.client = c

    async def start(self):
        self.client.connect((self.inst.host, self.inst.port),
                            force_starttls=True)
        await asyncio.wait_for(self.online.wait(), 10)
        for _ in range(50):
            if self.client["xep_0198"].sm_id:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("stream management not enabled")

    def _on_start(self, _):
        self.starts += 1
        self.online.set()

    def _on_resumed(self, _):
        self.resumed += 1
        self.online.set()

    def _on_disconnected(self, _):
        self.online.clear()
        if not self.closing and not self.hold:
            asyncio.get_event_loop().call_later(0.2, self._reconnect)

    def _reconnect(self):
        if not self.closing:
            self.client.connect((self.inst.host, self.inst.port),
                                force_starttls=True)

    def _on_message(self, msg):
        m = BODY.match(msg["body"] or "")
        if m:
            self.got[m.group(1)] = self.got.get(m.group(1), 0) + 1

    def _on_acked(self, st):
        m = BODY.match(st["body"] or "") if st.name == "message" else None
        if m:
            self.acked.add(m.group(1))

    def send(self, to, n, pad=""):
        self.client.send_message(mto=to, mbody="smr-%d%s" % (n, pad),
                                 mtype="chat")

    async def close(self):
        self.closing = True
        await self.client.close()


@pytest.fixture
def inst(tmp_path):
    i = start_instance(tmp_path)
    for u in ("sma", "smb", "smc"):
        i.adduser(u, PW)
    yield i
    i.stop()


async def unread_then_burst(snd, rcv, to, n):
    """The receiver stops reading: UNREAD messages (numbered from n) reach
    its socket and stay there unacknowledged; then a burst, so that
    messages are also in flight in routerd, imd and c2sd when the caller
    stops c2sd.  Returns the next message number."""
    rcv.client.transport.pause_reading()
    for _ in range(UNREAD):
        snd.send(to, n, PAD)
        n += 1
    await asyncio.sleep(1.0)
    for _ in range(BURST):
        snd.send(to, n)
        n += 1
    await asyncio.sleep(0.02)
    return n


async def burst_after_resume(snd, rcv, to, n):
    """Once both clients are back, a burst numbered from n; then wait
    until every message the sender has an ack for arrived, and a second
    more, by which duplicates would be there too.  Returns the next
    number."""
    await asyncio.wait_for(asyncio.gather(rcv.online.wait(),
                                          snd.online.wait()), 15)
    for _ in range(BURST):
        snd.send(to, n)
        n += 1
    deadline = time.time() + 15
    while time.time() < deadline and not snd.acked <= set(rcv.got):
        snd.client["xep_0198"].request_ack()
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)
    return n


async def kill_c2sd(inst):
    old = inst.pid_of("c2sd")
    os.kill(old, signal.SIGKILL)
    t0 = time.time()
    await asyncio.get_event_loop().run_in_executor(
        None, lambda: inst.wait_ready("c2sd", timeout=10.0, not_pid=old))
    return time.time() - t0


async def resume_across_restart(inst):
    rcv, snd = SMClient(inst, "sma"), SMClient(inst, "smb")
    await rcv.start()
    await snd.start()
    to = rcv.client.boundjid.full
    n = 0
    try:
        for _ in range(2):
            for _ in range(BURST):
                snd.send(to, n)
                n += 1
            await asyncio.sleep(0.05)
        # The receiver stops reading: a burst reaches its socket and stays
        # there unacknowledged; then a burst and the kill right behind it,
        # so that messages are also in flight in routerd, imd and c2sd.
        # Once c2sd is dead the receiver reads what reached it and
        # resumes: what it has must not come again, the rest must come.
        n = await unread_then_burst(snd, rcv, to, n)
        back = await kill_c2sd(inst)
        rcv.client.transport.resume_reading()
        n = await burst_after_resume(snd, rcv, to, n)
    finally:
        await rcv.close()
        await snd.close()
    return rcv, snd, n, back


def test_resume_after_c2sd_kill(inst):
    rcv, snd, n, back = xu.run(resume_across_restart(inst), timeout=90)
    # slixmpp 1.8 empties its queue of unacknowledged stanzas when it
    # sends <resume/> (_handle_outgoing), so it never resends them: only
    # what the server acknowledged to the sender is sure to arrive.
    missing = sorted(snd.acked - set(rcv.got))
    dups = {b: c for b, c in rcv.got.items() if c > 1}
    print("sm restart: %d sent, %d received, %d acked to the sender, "
          "missing %d, duplicated %d, c2sd back in %.2f s, resumed %d/%d"
          % (n, len(rcv.got), len(snd.acked), len(missing), len(dups),
             back, rcv.resumed, snd.resumed))
    assert rcv.resumed == 1 and rcv.starts == 1, (rcv.resumed, rcv.starts)
    assert snd.resumed == 1 and snd.starts == 1, (snd.resumed, snd.starts)
    assert len(snd.acked) >= n - BURST, "too few acknowledged to prove much"
    assert not missing, "lost: %s" % missing[:10]
    assert not dups, "duplicated: %s" % list(dups.items())[:10]


async def restart_exchange(inst):
    rcv, snd = SMClient(inst, "sma"), SMClient(inst, "smb")
    await rcv.start()
    await snd.start()
    to = rcv.client.boundjid.full
    n = 0
    try:
        n = await unread_then_burst(snd, rcv, to, n)
        old = inst.pid_of("c2sd")
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: inst.ctl("restart", "c2sd"))
        rcv.client.transport.resume_reading()
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: inst.wait_ready("c2sd", timeout=10.0, not_pid=old))
        n = await burst_after_resume(snd, rcv, to, n)
    finally:
        await rcv.close()
        await snd.close()
    return rcv, snd, n


def test_resume_after_admin_restart(inst):
    """rampartctl restart c2sd: the old c2sd leaves resumable sessions
    to routerd (its clients see the connection drop, not the stream
    end) and they resume on the new one, nothing lost or doubled."""
    rcv, snd, n = xu.run(restart_exchange(inst), timeout=90)
    missing = sorted(snd.acked - set(rcv.got))
    dups = {b: c for b, c in rcv.got.items() if c > 1}
    print("sm admin restart: %d sent, %d received, %d acked, missing %d, "
          "duplicated %d" % (n, len(rcv.got), len(snd.acked), len(missing),
                             len(dups)))
    assert rcv.resumed == 1 and rcv.starts == 1, (rcv.resumed, rcv.starts)
    assert snd.resumed == 1 and snd.starts == 1, (snd.resumed, snd.starts)
    assert len(snd.acked) >= n - BURST
    assert not missing, "lost: %s" % missing[:10]
    assert not dups, "duplicated: %s" % list(dups.items())[:10]


@pytest.fixture
def short_inst(tmp_path):
    i = start_instance(tmp_path, extra_conf="sm-hibernate 3s\n")
    for u in ("sma", "smb"):
        i.adduser(u, PW)
    yield i
    i.stop()


def test_not_resumed_in_time_goes_offline(short_inst):
    """The receiver never comes back after the kill: when the resume
    window (3 s) ends, what the record kept, what it had in its socket
    unread, and what arrived meanwhile goes to offline storage, and a
    new login gets each message once."""
    inst = short_inst

    async def go():
        rcv, snd = SMClient(inst, "sma"), SMClient(inst, "smb")
        await rcv.start()
        await snd.start()
        to = rcv.client.boundjid.full
        rcv.hold = True
        rcv.client.transport.pause_reading()	# it never reads them
        n = 0
        try:
            for _ in range(10):
                snd.send(to, n)
                n += 1
            await asyncio.sleep(0.5)
            await kill_c2sd(inst)
            xu.safe_abort(rcv.client)
            await asyncio.wait_for(snd.online.wait(), 15)
            for _ in range(10):
                snd.send(to, n)
                n += 1
            deadline = time.time() + 10
            while len(snd.acked) < n and time.time() < deadline:
                snd.client["xep_0198"].request_ack()
                await asyncio.sleep(0.3)
            await asyncio.sleep(4.0)	# the window ends
        finally:
            rcv.closing = True
            await snd.close()
        got = {}
        c = await xu.login(inst, "sma", PW)
        try:
            while True:
                try:
                    m = await c.next_message(timeout=3)
                except asyncio.TimeoutError:
                    break
                b = BODY.match(m["body"] or "")
                if b:
                    got[b.group(1)] = got.get(b.group(1), 0) + 1
        finally:
            await c.close()
        return snd.acked, got, n

    acked, got, n = xu.run(go(), timeout=90)
    print("sm expiry: %d sent, %d acked, %d from offline storage"
          % (n, len(acked), len(got)))
    assert len(acked) >= n - 2, len(acked)	# slixmpp: see above
    assert acked <= set(got), "lost: %s" % sorted(acked - set(got))[:10]
    assert all(c == 1 for c in got.values()), got


def raw_authenticated(inst, user):
    """A raw stream authenticated as `user`, before any bind."""
    r = xu.RawStream(inst)
    r.open()
    r.features()
    r.starttls()
    r.open()
    r.features()
    el = r.auth_plain(user, PW)
    assert el.tag == xu.q(xu.NS_SASL, "success"), xu.describe(el)
    r.open()
    f = r.features()
    assert f.find(xu.q(SM, "sm")) is not None, xu.describe(f)
    return r


def resume_answer(inst, user, previd):
    r = raw_authenticated(inst, user)
    try:
        r.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, previd))
        while True:
            el = r.next()
            if el != "</stream>" and el.tag != xu.q(SM, "r"):
                return el
    finally:
        r.close()


def test_foreign_or_wrong_previd_fails_after_restart(inst):
    async def go():
        victim = SMClient(inst, "sma")
        await victim.start()
        previd = victim.client["xep_0198"].sm_id
        victim.hold = True	# its session waits, restored, in the new c2sd
        try:
            await kill_c2sd(inst)
            await asyncio.sleep(0.2)	# the record reaches the new c2sd
            loop = asyncio.get_event_loop()
            foreign = await loop.run_in_executor(
                None, resume_answer, inst, "smc", previd)
            sid, token = previd.split("-", 1)
            wrong = sid + "-" + ("0" * len(token) if token[0] != "0" else
                                 "1" * len(token))
            forged = await loop.run_in_executor(
                None, resume_answer, inst, "sma", wrong)
            victim.hold = False
            victim._reconnect()
            await asyncio.wait_for(victim.online.wait(), 15)
        finally:
            await victim.close()
        return foreign, forged, victim

    foreign, forged, victim = xu.run(go(), timeout=60)
    for el in (foreign, forged):
        assert el.tag == xu.q(SM, "failed"), xu.describe(el)
        assert el.find(xu.q(xu.NS_STANZAS, "item-not-found")) is not None, \
            xu.describe(el)
    # The rightful client still resumed its session.
    assert victim.resumed == 1 and victim.starts == 1
