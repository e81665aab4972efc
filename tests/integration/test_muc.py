"""mucd: multi-user chat (XEP-0045) with real slixmpp clients over TLS
through the whole suite (c2sd -> routerd -> mucd and back).

Rooms live on conference.<domain>.  Each test uses its own room so the
tests do not depend on each other; the restart test restarts mucd with
rampartctl and checks that a persistent room kept its configuration,
subject and history.
"""
import asyncio
import xml.etree.ElementTree as ET

import pytest

import xmpp_util as xu
from xmpp_util import q

PW = "pw-muc-1"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
XDATA = "jabber:x:data"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
MAM = "urn:xmpp:mam:2"
OCCID = "urn:xmpp:occupant-id:0"
SID = "urn:xmpp:sid:0"
CLIENT = "jabber:client"


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("alice", "bob", "carol"):
        instance.adduser(u, PW)
    return instance


def room(inst, name):
    return "%s@conference.%s" % (name, inst.domain)


class Muc:
    """A logged-in client that records presence from rooms."""

    def __init__(self, c):
        self.c = c
        self.presences = asyncio.Queue()
        c.add_event_handler("presence", self.presences.put_nowait)

    async def pres(self, pred=lambda p: True, timeout=5.0):
        while True:
            p = await asyncio.wait_for(self.presences.get(), timeout)
            if pred(p):
                return p

    async def msg(self, pred=lambda m: True, timeout=5.0):
        while True:
            m = await self.c.next_message(timeout)
            if pred(m):
                return m

    def send_raw(self, text):
        self.c.send_raw(text)


async def login(inst, user, resource=None):
    c = await xu.login(inst, user, PW, resource=resource,
                       plugins=("xep_0045",))
    return Muc(c)


def codes(p):
    x = p.xml.find(q(MUC_USER, "x"))
    return set() if x is None else {s.get("code") for s in x.findall(q(MUC_USER, "status"))}


def item(p):
    x = p.xml.find(q(MUC_USER, "x"))
    return None if x is None else x.find(q(MUC_USER, "item"))


def join(m, rjid, nick, extra=""):
    m.send_raw("<presence to='%s/%s'><x xmlns='%s'>%s</x></presence>"
               % (rjid, nick, MUC, extra))


async def self_presence(m, rjid):
    return await m.pres(lambda p: str(p["from"]).startswith(rjid + "/") and "110" in codes(p))


async def create(m, rjid, nick, fields=None):
    """Create a room (201) and configure it: instant, or with fields."""
    join(m, rjid, nick)
    p = await self_presence(m, rjid)
    assert "201" in codes(p), str(p)
    form = "<x xmlns='%s' type='submit'>" % XDATA
    for var, val in (fields or {}).items():
        form += "<field var='%s'><value>%s</value></field>" % (var, val)
    form += "</x>"
    r = await xu.iq(m.c, rjid, "<query xmlns='%s'>%s</query>" % (MUC_OWNER, form),
                    itype="set")
    assert r["type"] == "result", str(r)
    return p


async def enter(m, rjid, nick, extra=""):
    join(m, rjid, nick, extra)
    return await self_presence(m, rjid)


def groupchat(m, rjid, body):
    m.send_raw("<message to='%s' type='groupchat'><body>%s</body></message>" % (rjid, body))


async def got_body(m, body):
    return await m.msg(lambda x: x["body"] == body)


async def close(*ms):
    for m in ms:
        await m.c.close()


def test_create_join_and_fanout(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "lobby")
        p = await create(a, rj, "Alice")
        assert item(p).get("affiliation") == "owner"
        assert item(p).get("role") == "moderator"
        occ_a = p.xml.find(q(OCCID, "occupant-id")).get("id")
        pb = await enter(b, rj, "Bob")
        assert item(pb).get("role") == "participant"
        # Bob first saw Alice's presence; Alice sees Bob arrive.
        pa = await a.pres(lambda x: str(x["from"]) == rj + "/Bob")
        assert "110" not in codes(pa)
        groupchat(b, rj, "hello room")
        for m in (a, b):
            got = await got_body(m, "hello room")
            assert str(got["from"]) == rj + "/Bob"
            assert got.xml.find(q(SID, "stanza-id")).get("by") == rj
            assert got.xml.find(q(OCCID, "occupant-id")) is not None
        # occupant-id is stable: Alice leaves and comes back.
        a.send_raw("<presence to='%s/Alice' type='unavailable'/>" % rj)
        await a.pres(lambda x: x["type"] == "unavailable")
        p2 = await enter(a, rj, "Alice")
        assert p2.xml.find(q(OCCID, "occupant-id")).get("id") == occ_a
        await close(a, b)
    xu.run(t())


def test_private_message_nick_change_conflict(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "pmroom")
        await create(a, rj, "A")
        await enter(b, rj, "B")
        a.send_raw("<message to='%s/B' type='chat'><body>psst</body></message>" % rj)
        got = await got_body(b, "psst")
        assert str(got["from"]) == rj + "/A"
        assert got.xml.find(q(MUC_USER, "x")) is not None
        # Conflict: Bob wants A's nick.
        b.send_raw("<presence to='%s/A'/>" % rj)
        err = await b.pres(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "conflict"
        # A real change: 303 then the new nick.
        b.send_raw("<presence to='%s/Bee'/>" % rj)
        old = await a.pres(lambda x: x["type"] == "unavailable")
        assert "303" in codes(old) and item(old).get("nick") == "Bee"
        new = await a.pres(lambda x: str(x["from"]) == rj + "/Bee")
        assert new["type"] != "unavailable"
        await close(a, b)
    xu.run(t())


def test_kick_and_ban(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "strict")
        await create(a, rj, "A")
        await enter(b, rj, "B")
        r = await xu.iq(a.c, rj, "<query xmlns='%s'><item nick='B' role='none'>"
                        "<reason>out</reason></item></query>" % MUC_ADMIN, itype="set")
        assert r["type"] == "result"
        k = await b.pres(lambda x: x["type"] == "unavailable")
        assert {"307", "110"} <= codes(k)
        # Bob may not kick the owner.
        await enter(b, rj, "B")
        r = await xu.iq(b.c, rj, "<query xmlns='%s'><item nick='A' role='none'/>"
                        "</query>" % MUC_ADMIN, itype="set")
        assert r["type"] == "error"
        r = await xu.iq(a.c, rj, "<query xmlns='%s'><item jid='%s' affiliation='outcast'/>"
                        "</query>" % (MUC_ADMIN, inst.jid("bob")), itype="set")
        assert r["type"] == "result"
        k = await b.pres(lambda x: x["type"] == "unavailable")
        assert "301" in codes(k)
        join(b, rj, "B")
        err = await b.pres(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "forbidden"
        r = await xu.iq(a.c, rj, "<query xmlns='%s'><item affiliation='outcast'/></query>"
                        % MUC_ADMIN)
        items = r.xml.find(q(MUC_ADMIN, "query")).findall(q(MUC_ADMIN, "item"))
        assert [i.get("jid") for i in items] == [inst.jid("bob")]
        await close(a, b)
    xu.run(t())


def test_members_only_and_moderated(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "club")
        await create(a, rj, "A", {"muc#roomconfig_membersonly": "1",
                                  "muc#roomconfig_moderatedroom": "1"})
        join(b, rj, "B")
        err = await b.pres(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "registration-required"
        r = await xu.iq(a.c, rj, "<query xmlns='%s'><item jid='%s' affiliation='member'/>"
                        "</query>" % (MUC_ADMIN, inst.jid("bob")), itype="set")
        assert r["type"] == "result"
        p = await enter(b, rj, "B")
        assert item(p).get("affiliation") == "member"
        # Moderated: a member has voice; revoke it, and Bob is silenced.
        r = await xu.iq(a.c, rj, "<query xmlns='%s'><item nick='B' role='visitor'/>"
                        "</query>" % MUC_ADMIN, itype="set")
        assert r["type"] == "result"
        await b.pres(lambda x: item(x) is not None and item(x).get("role") == "visitor")
        groupchat(b, rj, "can you hear me")
        err = await b.msg(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "forbidden"
        await close(a, b)
    xu.run(t())


def test_subject_history_and_multisession(inst):
    async def t():
        a = await login(inst, "alice")
        rj = room(inst, "talk")
        await create(a, rj, "A")
        a.send_raw("<message to='%s' type='groupchat'><subject>Topic</subject></message>" % rj)
        await a.msg(lambda x: x["subject"] == "Topic")
        for i in range(5):
            groupchat(a, rj, "line %d" % i)
            await got_body(a, "line %d" % i)
        b1 = await login(inst, "bob", "one")
        join(b1, rj, "B", "<history maxstanzas='2'/>")
        await self_presence(b1, rj)
        h1 = await b1.msg(lambda x: x["body"])
        h2 = await b1.msg(lambda x: x["body"])
        assert (h1["body"], h2["body"]) == ("line 3", "line 4")
        assert h1.xml.find(q("urn:xmpp:delay", "delay")) is not None
        s = await b1.msg(lambda x: x.xml.find(q(CLIENT, "subject")) is not None)
        assert s["subject"] == "Topic"
        # A second resource of Bob joins under the same nick.
        b2 = await login(inst, "bob", "two")
        await enter(b2, rj, "B", "<history maxstanzas='0'/>")
        groupchat(a, rj, "to both")
        await got_body(b1, "to both")
        await got_body(b2, "to both")
        await close(a, b1, b2)
    xu.run(t())


def test_iq_between_occupants_answers_the_asking_session(inst):
    """7.x iq proxying: Alice is in the room from two devices under one
    nick; each asks Bob's occupant JID something and each gets its own
    answer, from Bob's occupant JID, under the id it used.  An error
    answer comes back the same way."""
    async def t():
        a1 = await login(inst, "alice", "one")
        rj = room(inst, "proxy")
        await create(a1, rj, "A")
        a2 = await login(inst, "alice", "two")
        await enter(a2, rj, "A")
        b = Muc(await xu.login(inst, "bob", PW, plugins=("xep_0045", "xep_0199")))
        await enter(b, rj, "B")
        ping = "<ping xmlns='urn:xmpp:ping'/>"
        r1, r2 = await asyncio.gather(xu.iq(a1.c, rj + "/B", ping),
                                      xu.iq(a2.c, rj + "/B", ping))
        for r in (r1, r2):
            assert r["type"] == "result", str(r)
            assert str(r["from"]) == rj + "/B"
        # The second device alone: its answer must not go to the first.
        r = await xu.iq(a2.c, rj + "/B", ping)
        assert r["type"] == "result", str(r)
        # Bob's client does not know jabber:iq:version: its error comes back.
        r = await xu.iq(a2.c, rj + "/B", "<query xmlns='jabber:iq:version'/>")
        assert r["type"] == "error", str(r)
        assert str(r["from"]) == rj + "/B"
        await close(a1, a2, b)
    xu.run(t())


def test_destroy(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "doomed")
        await create(a, rj, "A")
        await enter(b, rj, "B")
        r = await xu.iq(a.c, rj, "<query xmlns='%s'><destroy jid='%s'><reason>bye</reason>"
                        "</destroy></query>" % (MUC_OWNER, room(inst, "lobby")), itype="set")
        assert r["type"] == "result"
        p = await b.pres(lambda x: x["type"] == "unavailable")
        d = p.xml.find(q(MUC_USER, "x")).find(q(MUC_USER, "destroy"))
        assert d.get("jid") == room(inst, "lobby")
        assert d.findtext(q(MUC_USER, "reason")) == "bye"
        r = await xu.iq(b.c, rj, "<query xmlns='%s'/>" % DISCO_INFO)
        assert xu.stanza_error_condition(r)[1] == "item-not-found"
        await close(a, b)
    xu.run(t())


def test_mam_selfping_disco(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "archive")
        await create(a, rj, "A", {"muc#roomconfig_roomname": "Archive Room"})
        for i in range(3):
            groupchat(a, rj, "arch %d" % i)
            await got_body(a, "arch %d" % i)
        r = await xu.iq(b.c, rj, "<query xmlns='%s' queryid='x1'><set xmlns="
                        "'http://jabber.org/protocol/rsm'><max>2</max><before/></set>"
                        "</query>" % MAM, itype="set")
        assert r["type"] == "result", str(r)
        fin = r.xml.find(q(MAM, "fin"))
        assert fin.get("complete") != "true"
        res = []
        while len(res) < 2:
            m = await b.msg(lambda x: x.xml.find(q(MAM, "result")) is not None)
            fw = m.xml.find(q(MAM, "result")).find(q("urn:xmpp:forward:0", "forwarded"))
            res.append(fw.find(q(CLIENT, "message")).findtext(q(CLIENT, "body")))
        assert res == ["arch 1", "arch 2"]
        # Self-ping: not joined, then joined.
        r = await xu.iq(b.c, rj + "/B", "<ping xmlns='urn:xmpp:ping'/>")
        assert xu.stanza_error_condition(r)[1] == "not-acceptable"
        await enter(b, rj, "B")
        r = await xu.iq(b.c, rj + "/B", "<ping xmlns='urn:xmpp:ping'/>")
        assert r["type"] == "result"
        # Disco of the service and of the room.
        svc = "conference." + inst.domain
        r = await xu.iq(a.c, svc, "<query xmlns='%s'/>" % DISCO_INFO)
        qq = r.xml.find(q(DISCO_INFO, "query"))
        assert qq.find(q(DISCO_INFO, "identity")).get("category") == "conference"
        assert MUC in [f.get("var") for f in qq.findall(q(DISCO_INFO, "feature"))]
        r = await xu.iq(a.c, svc, "<query xmlns='%s'/>" % DISCO_ITEMS)
        jids = [i.get("jid") for i in r.xml.find(q(DISCO_ITEMS, "query"))]
        assert rj in jids
        r = await xu.iq(a.c, rj, "<query xmlns='%s'/>" % DISCO_INFO)
        feats = {f.get("var") for f in r.xml.find(q(DISCO_INFO, "query")).findall(
            q(DISCO_INFO, "feature"))}
        assert {"muc_temporary", "muc_open", "muc_unmoderated", "muc_public",
                "muc_semianonymous", "muc_unsecured", MAM} <= feats
        await close(a, b)
    xu.run(t())


def test_persistent_room_survives_restart(inst):
    async def t():
        a = await login(inst, "alice")
        rj = room(inst, "keeper")
        await create(a, rj, "A", {"muc#roomconfig_persistentroom": "1",
                                  "muc#roomconfig_roomname": "Keeper"})
        a.send_raw("<message to='%s' type='groupchat'><subject>Kept</subject></message>" % rj)
        await a.msg(lambda x: x["subject"] == "Kept")
        groupchat(a, rj, "remember me")
        await got_body(a, "remember me")
        await close(a)
    xu.run(t())
    old = inst.pid_of("mucd")
    inst.ctl("restart", "mucd")
    inst.wait_ready("mucd", timeout=10, not_pid=old)

    async def t2():
        b = await login(inst, "bob")
        rj = room(inst, "keeper")
        r = await xu.iq(b.c, rj, "<query xmlns='%s'/>" % DISCO_INFO)
        feats = {f.get("var") for f in r.xml.find(q(DISCO_INFO, "query")).findall(
            q(DISCO_INFO, "feature"))}
        assert "muc_persistent" in feats
        ident = r.xml.find(q(DISCO_INFO, "query")).find(q(DISCO_INFO, "identity"))
        assert ident.get("name") == "Keeper"
        p = await enter(b, rj, "B")
        assert "201" not in codes(p)
        h = await b.msg(lambda x: x["body"] == "remember me")
        assert h.xml.find(q("urn:xmpp:delay", "delay")) is not None
        s = await b.msg(lambda x: x.xml.find(q(CLIENT, "subject")) is not None)
        assert s["subject"] == "Kept"
        await close(b)
    xu.run(t2())
