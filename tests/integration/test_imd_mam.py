"""imd: message archive (XEP-0313 with XEP-0359 stanza ids), carbons
(XEP-0280) and the compliance log, with real slixmpp clients.

The instance is started, then `compliance-log yes` is put in its host block
and routerd reloaded (which restarts the children), so every test of this
module runs with the compliance log on.
"""
import asyncio
import json
import os
import xml.etree.ElementTree as ET

import pytest

import xmpp_util as xu
from xmpp_util import q
from conftest import start_instance

PW = "pw-mam-1"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
FWD = "urn:xmpp:forward:0"
SID = "urn:xmpp:sid:0"
CARBONS = "urn:xmpp:carbons:2"
CLIENT = "jabber:client"


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    inst = start_instance(tmp_path_factory.mktemp("rampart-mam"))
    inst.set_host_option("compliance-log yes")
    for u in ("alice", "bob", "carol", "dave", "erin", "frank", "gina",
              "hank", "ivan"):
        inst.adduser(u, PW)
    yield inst
    assert inst.stop(), "processes were left behind at stop"


async def chat(src, dst, body, extra=None):
    """src sends a chat message to dst's full JID; dst's copy of it."""
    m = src.make_message(mto=str(dst.boundjid), mbody=body, mtype="chat")
    if extra is not None:
        m.append(ET.fromstring(extra))
    m.send()
    while True:
        got = await dst.next_message()
        if got["body"] == body:
            return got


def drain(c):
    while not c.messages.empty():
        c.messages.get_nowait()


async def mam_query(c, form_fields=None, rsm=None, queryid="q1"):
    """(results, fin): the archived messages as (id, forwarded message)."""
    drain(c)
    x = ""
    if form_fields:
        x = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
             "type='hidden'><value>%s</value></field>" % MAM)
        for var, val in form_fields:
            x += "<field var='%s'><value>%s</value></field>" % (var, val)
        x += "</x>"
    payload = "<query xmlns='%s' queryid='%s'>%s%s</query>" % (
        MAM, queryid, x, rsm or "")
    r = await xu.iq(c, c.boundjid.bare, payload, itype="set")
    assert r["type"] == "result", str(r)
    fin = r.xml.find(q(MAM, "fin"))
    assert fin is not None, str(r)
    results = []
    while not c.messages.empty():
        m = c.messages.get_nowait()
        res = m.xml.find(q(MAM, "result"))
        if res is None or res.get("queryid") != queryid:
            continue
        assert str(m["from"]) == c.boundjid.bare
        fwd = res.find(q(FWD, "forwarded"))
        results.append((res.get("id"), fwd.find(q(CLIENT, "message"))))
    return results, fin


def bodies(results):
    return [m.find(q(CLIENT, "body")).text for _, m in results]


def rsm_text(fin, name):
    e = fin.find(q(RSM, "set")).find(q(RSM, name))
    return None if e is None else e.text


def test_archive_both_directions_paging_and_with(inst):
    async def go():
        a = await xu.login(inst, "alice", PW, resource="a1")
        b = await xu.login(inst, "bob", PW, resource="b1")
        e = await xu.login(inst, "erin", PW, resource="e1")
        try:
            sent = []
            for i in range(4):
                await chat(a, b, "a2b %d" % i)
                await chat(b, a, "b2a %d" % i)
                sent += ["a2b %d" % i, "b2a %d" % i]
            await chat(e, a, "from erin")
            res, fin = await mam_query(a)
            assert bodies(res) == sent + ["from erin"]
            assert fin.get("complete") == "true"
            assert rsm_text(fin, "count") == "9"
            # Paging forward by 3, then the last page (empty <before/>).
            res, fin = await mam_query(a, rsm="<set xmlns='%s'><max>3</max>"
                                        "</set>" % RSM)
            assert bodies(res) == sent[:3]
            assert fin.get("complete") != "true"
            last = rsm_text(fin, "last")
            assert last == res[-1][0]
            res, fin = await mam_query(a, rsm="<set xmlns='%s'><max>3</max>"
                                       "<after>%s</after></set>" % (RSM, last))
            assert bodies(res) == sent[3:6]
            res, fin = await mam_query(a, rsm="<set xmlns='%s'><max>2</max>"
                                       "<before/></set>" % RSM)
            assert bodies(res) == [sent[-1], "from erin"]
            # The with filter: only the conversation with bob.
            res, fin = await mam_query(a, form_fields=[("with", inst.jid("bob"))])
            assert bodies(res) == sent
            res, fin = await mam_query(a, form_fields=[("with", inst.jid("erin"))])
            assert bodies(res) == ["from erin"]
            # Bob's archive holds the same conversation.
            res, fin = await mam_query(b, form_fields=[("with", inst.jid("alice"))])
            assert bodies(res) == sent
            # Nobody reads another account's archive.
            r = await xu.iq(b, inst.jid("alice"),
                            "<query xmlns='%s' queryid='x'/>" % MAM, itype="set")
            assert r["type"] == "error"
            assert xu.stanza_error_condition(r.xml)[1] == "forbidden"
        finally:
            for c in (a, b, e):
                await c.close()
    xu.run(go(), timeout=60)


async def set_prefs(c, default):
    r = await xu.iq(c, None, "<prefs xmlns='%s' default='%s'/>"
                    % (MAM, default), itype="set")
    assert r["type"] == "result", str(r)
    assert r.xml.find(q(MAM, "prefs")).get("default") == default


def test_preferences_roster_and_never(inst):
    """XEP-0313 section 6: a roster default archives contacts only, never
    archives nothing, and a message that is not archived carries no
    stanza id.  The owner's roster is read while imd handles a whole read
    of its link in one batch of writes."""
    async def go():
        g = await xu.login(inst, "gina", PW, resource="g1")
        h = await xu.login(inst, "hank", PW, resource="h1")
        i = await xu.login(inst, "ivan", PW, resource="i1")
        try:
            r = await xu.iq(g, None, "<query xmlns='jabber:iq:roster'><item "
                            "jid='%s'/></query>" % inst.jid("hank"),
                            itype="set")
            assert r["type"] == "result", str(r)
            await set_prefs(g, "roster")
            got = await chat(h, g, "from a contact")
            assert got.xml.find(q(SID, "stanza-id")) is not None
            got = await chat(i, g, "from a stranger")
            assert got.xml.find(q(SID, "stanza-id")) is None
            res, _ = await mam_query(g)
            assert bodies(res) == ["from a contact"]
            await set_prefs(g, "never")
            got = await chat(h, g, "not kept")
            assert got.xml.find(q(SID, "stanza-id")) is None
            res, _ = await mam_query(g)
            assert bodies(res) == ["from a contact"]
            # the senders' own archives follow their own default (always)
            res, _ = await mam_query(h)
            assert bodies(res) == ["from a contact", "not kept"]
        finally:
            for c in (g, h, i):
                await c.close()
    xu.run(go(), timeout=60)


def test_stanza_id_matches_archive_and_forgery_removed(inst):
    async def go():
        c = await xu.login(inst, "carol", PW, resource="c1")
        d = await xu.login(inst, "dave", PW, resource="d1")
        try:
            got = await chat(c, d, "with an id")
            sids = [s for s in got.xml.findall(q(SID, "stanza-id"))
                    if s.get("by") == inst.jid("dave")]
            assert len(sids) == 1, str(got)
            res, _ = await mam_query(d)
            assert [i for i, m in res if m.find(q(CLIENT, "body")).text ==
                    "with an id"] == [sids[0].get("id")]
            forged = ("<stanza-id xmlns='%s' by='%s' id='forged-id'/>"
                      % (SID, inst.jid("dave")))
            got = await chat(c, d, "forged", extra=forged)
            ids = [s.get("id") for s in got.xml.findall(q(SID, "stanza-id"))]
            assert "forged-id" not in ids
            assert len(ids) == 1
        finally:
            await c.close()
            await d.close()
    xu.run(go())


def carbon_of(m, what):
    w = m.xml.find(q(CARBONS, what))
    if w is None:
        return None
    return w.find(q(FWD, "forwarded")).find(q(CLIENT, "message"))


async def enable_carbons(c):
    r = await xu.iq(c, c.boundjid.bare, "<enable xmlns='%s'/>" % CARBONS, itype="set")
    assert r["type"] == "result", str(r)


def test_carbons(inst):
    async def go():
        f1 = await xu.login(inst, "frank", PW, resource="f1")
        f2 = await xu.login(inst, "frank", PW, resource="f2")
        e1 = await xu.login(inst, "erin", PW, resource="e1")
        e2 = await xu.login(inst, "erin", PW, resource="e2")
        try:
            # Not enabled: no copies.
            await chat(f1, e1, "no carbons yet")
            await f2.no_message()
            await e2.no_message()
            await enable_carbons(f2)
            await enable_carbons(e2)
            await chat(f1, e1, "carbon me")
            m = await f2.next_message()
            inner = carbon_of(m, "sent")
            assert inner is not None, str(m)
            assert str(m["from"]) == inst.jid("frank")
            assert inner.find(q(CLIENT, "body")).text == "carbon me"
            assert inner.get("to") == str(e1.boundjid)
            m = await e2.next_message()
            inner = carbon_of(m, "received")
            assert inner is not None, str(m)
            assert str(m["from"]) == inst.jid("erin")
            assert inner.find(q(CLIENT, "body")).text == "carbon me"
            # <private/>: no copy either side.
            await chat(f1, e1, "private",
                       extra="<private xmlns='%s'/>" % CARBONS)
            await f2.no_message()
            await e2.no_message()
        finally:
            for c in (f1, f2, e1, e2):
                await c.close()
    xu.run(go(), timeout=60)


def test_compliance_log(inst):
    async def go():
        a = await xu.login(inst, "alice", PW, resource="log")
        b = await xu.login(inst, "bob", PW, resource="log")
        try:
            await chat(a, b, 'logged "quote" \\ line\nbreak')
        finally:
            await a.close()
            await b.close()
    xu.run(go())
    path = os.path.join(inst.dir, "data", "imd", "compliance",
                        "%s.log" % inst.domain)
    assert os.path.exists(path), os.listdir(os.path.join(inst.dir, "data", "imd"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    assert any(l["body"] == 'logged "quote" \\ line\nbreak' and
               l["from"].startswith(inst.jid("alice")) and
               l["to"].startswith(inst.jid("bob")) for l in lines), lines
    assert any(l["body"] == "a2b 0" for l in lines)
