"""imd core: rosters, subscriptions, presence and message delivery
(RFC 6121 sections 2, 3, 4 and 8.5; XEP-0160 offline messages) between real
slixmpp clients over TLS.

Each test uses its own accounts so the tests do not depend on each other's
roster state.  Covered: a mutual subscription built with roster sets and
subscribe/subscribed both ways, presence seen both ways; roster pushes to a
second resource; roster versioning (empty result when current); offline
storage with a delay stamp; the offline quota (service-unavailable); the
unavailable broadcast when a client vanishes and when c2sd is killed;
bare-JID delivery to the highest priority only; negative priority; and
persistence of rosters and offline messages across kill -9 of imd.
"""
import asyncio
import os
import signal
import time
import xml.etree.ElementTree as ET

import pytest
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import xmpp_util as xu
from conftest import start_instance
from xmpp_util import q

PW = "pw-imd-core"
NS_ROSTER = "jabber:iq:roster"
NS_DELAY = "urn:xmpp:delay"
USERS = ["u%d" % i for i in range(1, 31)]


class Client(xu.Client):
    """Records every presence and every roster push it receives."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.presences = asyncio.Queue()
        self.pushes = asyncio.Queue()
        # The tests answer subscription requests themselves.
        self.auto_authorize = None
        self.auto_subscribe = False
        self.register_handler(Callback("imd presences",
                                       MatchXPath("{jabber:client}presence"),
                                       lambda p: self.presences.put_nowait(p)))
        self.register_handler(Callback(
            "imd pushes", MatchXPath("{jabber:client}iq/{%s}query" % NS_ROSTER),
            self._on_roster_iq))

    def _on_roster_iq(self, iq):
        if iq["type"] == "set":
            self.pushes.put_nowait(iq)

    async def presence(self, frm=None, ptype=None, timeout=5.0):
        """The next presence from `frm` (bare or full) of type `ptype`."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no presence from %s type %s" % (frm, ptype))
            p = await asyncio.wait_for(self.presences.get(), left)
            f = str(p["from"])
            if frm is not None and f != frm and f.split("/")[0] != frm:
                continue
            if ptype is not None and p["type"] != ptype:
                continue
            return p

    async def no_presence(self, frm, ptype=None, wait=0.7):
        try:
            p = await self.presence(frm, ptype, timeout=wait)
        except (AssertionError, asyncio.TimeoutError):
            return
        raise AssertionError("unexpected presence %s" % p)


async def login(inst, user, resource=None, priority=None):
    c = Client(inst, user, PW, resource=resource)
    c.connect((inst.host, inst.port), force_starttls=True)
    try:
        await asyncio.wait_for(asyncio.shield(c.started), 10)
    except BaseException:
        xu.safe_abort(c)
        raise
    if priority is not None:
        c.send_presence(ppriority=priority)
        await asyncio.sleep(0.3)
    return c


async def roster_get(c, ver=None):
    extra = "" if ver is None else " ver='%s'" % ver
    return await xu.iq(c, None, "<query xmlns='%s'%s/>" % (NS_ROSTER, extra))


async def roster_set(c, jid, name=None, groups=(), sub=None):
    attrs = "jid='%s'" % jid
    if name:
        attrs += " name='%s'" % name
    if sub:
        attrs += " subscription='%s'" % sub
    body = "".join("<group>%s</group>" % g for g in groups)
    return await xu.iq(c, None, "<query xmlns='%s'><item %s>%s</item></query>"
                       % (NS_ROSTER, attrs, body), itype="set")


def items(res):
    qn = res.xml.find(q(NS_ROSTER, "query"))
    if qn is None:
        return None
    return {i.get("jid"): i for i in qn.findall(q(NS_ROSTER, "item"))}


async def befriend(inst, a, b):
    """a and b subscribe to each other (RFC 6121 3.1, both directions)."""
    ja, jb = a.boundjid.bare, b.boundjid.bare
    a.send_presence(pto=jb, ptype="subscribe")
    await b.presence(ja, "subscribe")
    b.send_presence(pto=ja, ptype="subscribed")
    await a.presence(jb, "subscribed")
    await a.presence(jb, None)          # b's presence follows (3.1.5)
    b.send_presence(pto=ja, ptype="subscribe")
    await a.presence(jb, "subscribe")
    a.send_presence(pto=jb, ptype="subscribed")
    await b.presence(ja, "subscribed")
    await b.presence(ja, None)


@pytest.fixture(scope="module")
def inst(instance):
    for u in USERS:
        instance.adduser(u, PW)
    return instance


def test_mutual_subscription_and_presence(inst):
    async def go():
        a = await login(inst, "u1", "a")
        b = await login(inst, "u2", "b")
        try:
            r = await roster_set(a, inst.jid("u2"), "Bee", ["Friends"])
            assert r["type"] == "result"
            await befriend(inst, a, b)
            ra, rb = items(await roster_get(a)), items(await roster_get(b))
            assert ra[inst.jid("u2")].get("subscription") == "both"
            assert ra[inst.jid("u2")].get("name") == "Bee"
            assert ra[inst.jid("u2")].find(q(NS_ROSTER, "group")).text == "Friends"
            assert rb[inst.jid("u1")].get("subscription") == "both"
            assert rb[inst.jid("u1")].get("ask") is None
            b.send_presence(pshow="away", pstatus="lunch")
            p = await a.presence(str(b.boundjid), None)
            assert p["show"] == "away" and p["status"] == "lunch"
            # A new resource of a gets b's presence at login (probe, 4.3).
            a2 = await login(inst, "u1", "a2")
            try:
                p = await a2.presence(str(b.boundjid), None)
                assert p["status"] == "lunch"
            finally:
                await a2.close()
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_pending_subscription_delivered_at_login(inst):
    async def go():
        a = await login(inst, "u3")
        try:
            a.send_presence(pto=inst.jid("u4"), ptype="subscribe")
            await asyncio.sleep(0.5)
            r = items(await roster_get(a))
            assert r[inst.jid("u4")].get("ask") == "subscribe"
            b = await login(inst, "u4")
            try:
                await b.presence(inst.jid("u3"), "subscribe")
            finally:
                await b.close()
        finally:
            await a.close()
    xu.run(go())


def test_roster_push_to_second_resource(inst):
    async def go():
        a1 = await login(inst, "u5", "one")
        a2 = await login(inst, "u5", "two")
        try:
            await roster_get(a2)
            r = await roster_set(a1, inst.jid("u6"), "Six")
            assert r["type"] == "result"
            push = await asyncio.wait_for(a2.pushes.get(), 5)
            it = items(push)[inst.jid("u6")]
            assert it.get("name") == "Six" and it.get("subscription") == "none"
            assert push.xml.find(q(NS_ROSTER, "query")).get("ver")
            r = await roster_set(a1, inst.jid("u6"), sub="remove")
            assert r["type"] == "result"
            push = await asyncio.wait_for(a2.pushes.get(), 5)
            assert items(push)[inst.jid("u6")].get("subscription") == "remove"
            r = await roster_set(a1, inst.jid("u6"), sub="remove")
            assert xu.stanza_error_condition(r.xml)[1] == "item-not-found"
        finally:
            await a1.close()
            await a2.close()
    xu.run(go())


def test_roster_versioning(inst):
    async def go():
        a = await login(inst, "u7")
        try:
            await roster_set(a, inst.jid("u8"), "Eight")
            r = await roster_get(a, ver="")
            ver = r.xml.find(q(NS_ROSTER, "query")).get("ver")
            assert ver and inst.jid("u8") in items(r)
            r = await roster_get(a, ver=ver)
            assert r["type"] == "result" and items(r) is None
            await roster_set(a, inst.jid("u9"))
            r = await roster_get(a, ver=ver)
            assert inst.jid("u9") in items(r)
            assert r.xml.find(q(NS_ROSTER, "query")).get("ver") != ver
        finally:
            await a.close()
    xu.run(go())


def test_offline_message_with_delay(inst):
    async def go():
        a = await login(inst, "u10")
        try:
            a.send_message(mto=inst.jid("u11"), mbody="while you were out",
                           mtype="chat")
            await a.no_message(0.5)
        finally:
            await a.close()
        b = await login(inst, "u11")
        try:
            m = await b.next_message()
            assert m["body"] == "while you were out"
            d = m.xml.find(q(NS_DELAY, "delay"))
            assert d is not None and d.get("stamp") and d.get("from") == inst.domain
            await b.no_message(0.5)
        finally:
            await b.close()
        # Flushed means deleted: a second login gets nothing.
        b = await login(inst, "u11")
        try:
            await b.no_message(0.7)
        finally:
            await b.close()
    xu.run(go())


def test_bare_jid_goes_to_highest_priority(inst):
    async def go():
        hi = await login(inst, "u12", "hi", priority=5)
        lo = await login(inst, "u12", "lo", priority=1)
        a = await login(inst, "u13")
        try:
            a.send_message(mto=inst.jid("u12"), mbody="to the best", mtype="chat")
            m = await hi.next_message()
            assert m["body"] == "to the best"
            await lo.no_message(0.7)
            # Full JID: exactly there.
            a.send_message(mto=str(lo.boundjid), mbody="to lo", mtype="chat")
            assert (await lo.next_message())["body"] == "to lo"
            await hi.no_message(0.5)
        finally:
            for c in (hi, lo, a):
                await c.close()
    xu.run(go())


def test_negative_priority_gets_no_bare_messages(inst):
    async def go():
        neg = await login(inst, "u14", "neg", priority=-1)
        a = await login(inst, "u15")
        try:
            a.send_message(mto=inst.jid("u14"), mbody="stored", mtype="chat")
            await neg.no_message(0.7)
            # RFC 6121 8.5.2.2.1: no non-negative resource: offline, which
            # arrives once the resource can take bare-JID messages.
            neg.send_presence(ppriority=1)
            m = await neg.next_message()
            assert m["body"] == "stored"
            assert m.xml.find(q(NS_DELAY, "delay")) is not None
        finally:
            await neg.close()
            await a.close()
    xu.run(go())


def test_unavailable_when_client_vanishes(inst):
    async def go():
        a = await login(inst, "u16")
        b = await login(inst, "u17")
        try:
            await befriend(inst, a, b)
            full = str(b.boundjid)
            xu.safe_abort(b)
            p = await a.presence(full, "unavailable", timeout=10)
            assert str(p["from"]) == full
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_directed_presence_gets_unavailable(inst):
    async def go():
        a = await login(inst, "u18")
        b = await login(inst, "u19")
        try:
            a.send_presence(pto=str(b.boundjid), pstatus="just for you")
            p = await b.presence(str(a.boundjid), None)
            assert p["status"] == "just for you"
            full = str(a.boundjid)
            xu.safe_abort(a)
            await b.presence(full, "unavailable", timeout=10)
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_groupchat_to_bare_jid_refused(inst):
    async def go():
        a = await login(inst, "u20")
        b = await login(inst, "u21")
        try:
            a.send_message(mto=inst.jid("u21"), mbody="gc", mtype="groupchat")
            m = await a.next_message()
            assert m["type"] == "error"
            assert xu.stanza_error_condition(m.xml)[1] == "service-unavailable"
            await b.no_message(0.5)
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_imd_kill9_keeps_roster_and_offline(inst):
    async def go():
        a = await login(inst, "u22")
        try:
            await roster_set(a, inst.jid("u23"), "Kept", ["G"])
            a.send_message(mto=inst.jid("u24"), mbody="survives", mtype="chat")
            await asyncio.sleep(0.5)
            old = inst.pid_of("imd")
            os.kill(old, signal.SIGKILL)
            inst.wait_ready("imd", timeout=10, not_pid=old)
            r = items(await roster_get(a))
            assert r[inst.jid("u23")].get("name") == "Kept"
        finally:
            await a.close()
        b = await login(inst, "u24")
        try:
            assert (await b.next_message())["body"] == "survives"
        finally:
            await b.close()
    xu.run(go())


def test_imd_restart_knows_sessions(inst):
    """After a restart imd learns sessions from routerd's replay: bare-JID
    messages still reach a connected resource rather than offline storage."""
    async def go():
        a = await login(inst, "u25")
        b = await login(inst, "u26")
        try:
            old = inst.pid_of("imd")
            os.kill(old, signal.SIGKILL)
            inst.wait_ready("imd", timeout=10, not_pid=old)
            await asyncio.sleep(0.3)
            a.send_message(mto=inst.jid("u26"), mbody="after restart", mtype="chat")
            assert (await b.next_message())["body"] == "after restart"
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_c2sd_kill9_broadcasts_unavailable(inst):
    """routerd tells imd which sessions died with c2sd; imd sends their
    unavailable presence, so a contact logging in later is not told they
    are still online."""
    async def go():
        a = await login(inst, "u27")
        b = await login(inst, "u28")
        try:
            await befriend(inst, a, b)
        finally:
            pass
        old = inst.pid_of("c2sd")
        os.kill(old, signal.SIGKILL)
        inst.wait_ready("c2sd", timeout=10, not_pid=old)
        xu.safe_abort(a)
        xu.safe_abort(b)
        a = await login(inst, "u27")
        try:
            await a.no_presence(inst.jid("u28"), None, wait=1.0)
        finally:
            await a.close()
    xu.run(go())


def test_offline_quota(tmp_path):
    inst = start_instance(tmp_path, extra_conf="offline-quota 2\n")
    try:
        inst.adduser("qa", PW)
        inst.adduser("qb", PW)

        async def go():
            a = await login(inst, "qa")
            try:
                for i in range(2):
                    a.send_message(mto=inst.jid("qb"), mbody="m%d" % i, mtype="chat")
                await a.no_message(0.7)
                a.send_message(mto=inst.jid("qb"), mbody="m2", mtype="chat")
                m = await a.next_message()
                assert m["type"] == "error"
                assert xu.stanza_error_condition(m.xml)[1] == "service-unavailable"
            finally:
                await a.close()
            b = await login(inst, "qb")
            try:
                got = [(await b.next_message())["body"] for _ in range(2)]
                assert got == ["m0", "m1"]
                await b.no_message(0.5)
            finally:
                await b.close()
        xu.run(go())
    finally:
        assert inst.stop()
