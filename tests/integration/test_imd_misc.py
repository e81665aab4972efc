"""imd's account-data iqs end to end with slixmpp clients.

Blocking (XEP-0191): the list, pushes to the session that asked for it,
messages from a blocked JID not delivered (the sender gets
service-unavailable), messages to it refused with not-acceptable +
<blocked/>, unblock.  vcard-temp (XEP-0054) set by the owner and read by
another user, the XEP-0153 hash in presence.  Private storage (XEP-0049)
and its forbidden namespaces.  Last activity (XEP-0012) after logout, for
a contact and refused to a stranger.
"""
import asyncio
import base64
import hashlib
import xml.etree.ElementTree as ET

import pytest
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import xmpp_util as xu
from xmpp_util import q

PW = "pw-imd-misc-1"
NS_BLOCK = "urn:xmpp:blocking"
NS_BLOCK_ERR = "urn:xmpp:blocking:errors"
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_LAST = "jabber:iq:last"
PHOTO = b"\x89PNG\r\n\x1a\n not really a png, but bytes all the same"


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("alice", "bob", "carol", "dave", "erin"):
        instance.adduser(u, PW)
    return instance


def error_of(stanza):
    return xu.stanza_error_condition(stanza)


def blocklist(r):
    bl = r.xml.find(q(NS_BLOCK, "blocklist"))
    assert bl is not None, str(r)
    return sorted(i.get("jid") for i in bl.findall(q(NS_BLOCK, "item")))


def test_block_and_unblock(inst):
    async def go():
        a1 = await xu.login(inst, "alice", PW, resource="a1")
        a2 = await xu.login(inst, "alice", PW, resource="a2")
        b = await xu.login(inst, "bob", PW, resource="b1")
        pushes = []
        a1.register_handler(Callback("push", MatchXPath(
            "{jabber:client}iq/{%s}block" % NS_BLOCK), pushes.append))
        a2.register_handler(Callback("push2", MatchXPath(
            "{jabber:client}iq/{%s}block" % NS_BLOCK),
            lambda s: pushes.append(("a2", s))))
        try:
            r = await xu.iq(a1, None, "<blocklist xmlns='%s'/>" % NS_BLOCK)
            assert r["type"] == "result" and blocklist(r) == [], str(r)
            r = await xu.iq(a1, None, "<block xmlns='%s'><item jid='%s'/>"
                            "</block>" % (NS_BLOCK, inst.jid("bob")), itype="set")
            assert r["type"] == "result", str(r)
            r = await xu.iq(a1, None, "<blocklist xmlns='%s'/>" % NS_BLOCK)
            assert blocklist(r) == [inst.jid("bob")], str(r)
            await asyncio.sleep(0.3)
            # Only a1 asked for the list, so only a1 got the push.
            assert len(pushes) == 1 and not isinstance(pushes[0], tuple), pushes

            # Inbound from the blocked JID: not delivered, the sender gets
            # service-unavailable (XEP-0191 3.3).
            b.send_message(mto=inst.jid("alice"), mbody="let me in", mtype="chat")
            m = await b.next_message()
            assert m["type"] == "error", str(m)
            assert error_of(m) == ("cancel", "service-unavailable"), str(m)
            await a1.no_message()
            await a2.no_message()

            # Outbound to it: not-acceptable with <blocked/>.
            a2.send_message(mto=inst.jid("bob"), mbody="hello?", mtype="chat")
            m = await a2.next_message()
            assert m["type"] == "error", str(m)
            assert error_of(m)[1] == "not-acceptable", str(m)
            assert m.xml.find("%s/%s" % (q("jabber:client", "error"),
                                         q(NS_BLOCK_ERR, "blocked"))) is not None, str(m)
            await b.no_message()

            r = await xu.iq(a1, None, "<unblock xmlns='%s'/>" % NS_BLOCK,
                            itype="set")
            assert r["type"] == "result", str(r)
            r = await xu.iq(a1, None, "<blocklist xmlns='%s'/>" % NS_BLOCK)
            assert blocklist(r) == [], str(r)
            b.send_message(mto=str(a1.boundjid), mbody="again", mtype="chat")
            m = await a1.next_message()
            assert m["body"] == "again", str(m)
        finally:
            for c in (a1, a2, b):
                await c.close()
    xu.run(go())


def test_block_errors(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            r = await xu.iq(a, None, "<block xmlns='%s'/>" % NS_BLOCK, itype="set")
            assert error_of(r) == ("modify", "bad-request"), str(r)
            r = await xu.iq(a, inst.jid("bob"), "<blocklist xmlns='%s'/>" % NS_BLOCK)
            assert r["type"] == "error", str(r)
            assert error_of(r)[1] in ("forbidden", "service-unavailable"), str(r)
        finally:
            await a.close()
    xu.run(go())


def vcard_xml(name, photo):
    return ("<vCard xmlns='vcard-temp'><FN>%s</FN><PHOTO><TYPE>image/png</TYPE>"
            "<BINVAL>%s</BINVAL></PHOTO></vCard>"
            % (name, base64.b64encode(photo).decode()))


def test_vcard_set_and_get(inst):
    async def go():
        c = await xu.login(inst, "carol", PW)
        d = await xu.login(inst, "dave", PW)
        try:
            r = await xu.iq(d, inst.jid("carol"), "<vCard xmlns='vcard-temp'/>")
            assert r["type"] == "result", str(r)
            r = await xu.iq(c, None, vcard_xml("Carol", PHOTO), itype="set")
            assert r["type"] == "result", str(r)
            for who in (d, c):
                r = await xu.iq(who, inst.jid("carol"), "<vCard xmlns='vcard-temp'/>")
                fn = r.xml.find("%s/%s" % (q(NS_VCARD, "vCard"), q(NS_VCARD, "FN")))
                assert fn is not None and fn.text == "Carol", str(r)
            r = await xu.iq(d, inst.jid("carol"), vcard_xml("Mallory", b"x"),
                            itype="set")
            assert error_of(r)[1] == "forbidden", str(r)
            big = "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>" % ("z" * 70000)
            r = await xu.iq(c, None, big, itype="set")
            assert r["type"] == "error", str(r)
        finally:
            await c.close()
            await d.close()
    xu.run(go())


def test_avatar_hash_in_presence(inst):
    """XEP-0153: the core stamps the hash on the owner's broadcast presence;
    the owner's other resource sees it."""
    async def go():
        c1 = await xu.login(inst, "carol", PW, resource="c1")
        seen = []
        c1.add_event_handler("presence", seen.append)
        c2 = await xu.login(inst, "carol", PW, resource="c2")
        try:
            r = await xu.iq(c2, None, vcard_xml("Carol", PHOTO), itype="set")
            assert r["type"] == "result", str(r)
            seen.clear()
            c2.send_presence()
            await asyncio.sleep(1.0)
            want = hashlib.sha1(PHOTO).hexdigest()
            hashes = [p.xml.findtext("%s/%s" % (q("vcard-temp:x:update", "x"),
                                                q("vcard-temp:x:update", "photo")))
                      for p in seen if str(p["from"]) == str(c2.boundjid)]
            assert want in hashes, [str(p) for p in seen]
        finally:
            await c1.close()
            await c2.close()
    xu.run(go())


def test_private_storage(inst):
    async def go():
        c = await xu.login(inst, "carol", PW)
        d = await xu.login(inst, "dave", PW)
        bm = ("<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
              "<conference jid='room@conference.example' autojoin='true'/>"
              "</storage></query>")
        get = ("<query xmlns='jabber:iq:private'>"
               "<storage xmlns='storage:bookmarks'/></query>")
        try:
            r = await xu.iq(c, None, bm, itype="set")
            assert r["type"] == "result", str(r)
            r = await xu.iq(c, None, get)
            conf = r.xml.find("%s/%s/%s" % (q(NS_PRIVATE, "query"),
                                            q("storage:bookmarks", "storage"),
                                            q("storage:bookmarks", "conference")))
            assert conf is not None and conf.get("autojoin") == "true", str(r)
            # Dave's own storage is separate and empty.
            r = await xu.iq(d, None, get)
            st = r.xml.find("%s/%s" % (q(NS_PRIVATE, "query"),
                                       q("storage:bookmarks", "storage")))
            assert st is not None and len(st) == 0, str(r)
            r = await xu.iq(d, inst.jid("carol"), get)
            assert r["type"] == "error", str(r)
            r = await xu.iq(c, None, "<query xmlns='jabber:iq:private'>"
                            "<x xmlns='jabber:client'/></query>", itype="set")
            assert error_of(r) == ("modify", "not-acceptable"), str(r)
        finally:
            await c.close()
            await d.close()
    xu.run(go())


def test_last_activity(inst):
    async def go():
        d = await xu.login(inst, "dave", PW)
        e = await xu.login(inst, "erin", PW)
        c = await xu.login(inst, "carol", PW)
        try:
            # Mutual subscription (slixmpp authorizes and subscribes back).
            d.send_presence(pto=inst.jid("erin"), ptype="subscribe")
            await asyncio.sleep(1.5)
            e.send_presence(pstatus="off to bed", ptype="unavailable")
            await e.close()
            await asyncio.sleep(1.2)
            r = await xu.iq(d, inst.jid("erin"), "<query xmlns='jabber:iq:last'/>")
            assert r["type"] == "result", str(r)
            qy = r.xml.find(q(NS_LAST, "query"))
            assert qy is not None and int(qy.get("seconds")) >= 1, str(r)
            assert (qy.text or "") == "off to bed", str(r)
            r = await xu.iq(c, inst.jid("erin"), "<query xmlns='jabber:iq:last'/>")
            assert error_of(r) == ("auth", "forbidden"), str(r)
        finally:
            for x in (c, d):
                await x.close()
    xu.run(go())
