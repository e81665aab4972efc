"""XEP-0402 5.3 compatibility (docs/pep.md, "Bookmarks compatibility"):
XEP-0048 bookmarks in Private XML Storage (XEP-0049) and the XEP-0402
urn:xmpp:bookmarks:1 PEP node are one list, kept by pepd, with slixmpp
clients through c2sd, routerd and pepd:

- a private-XML set of storage:bookmarks becomes one item per room,
  read by another resource of the account over XEP-0402;
- a resource that advertised urn:xmpp:bookmarks:1+notify is notified of
  the items, and of a room added over XEP-0402;
- a private-XML get returns every room, including the one published
  over XEP-0402;
- a second set publishes only what changed and retracts what is gone
  (5.3.2);
- another account reads neither; other private namespaces stay in imd;
- the account's disco#info lists urn:xmpp:bookmarks:1#compat.
"""
import asyncio

import pytest

import xmpp_util as xu
from test_pep import PS, PSE, PW, err, event, ok
from test_pep_caps import slix_login
from test_pep_clients import pep, pep_items
from xmpp_util import q

BM = "urn:xmpp:bookmarks:1"
OLD = "storage:bookmarks"
PRIV = "jabber:iq:private"
DI = "http://jabber.org/protocol/disco#info"


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("bmann", "bmbob"):
        instance.adduser(u, PW)
    return instance


def storage(confs):
    """<query><storage/></query> with (jid, name, autojoin, nick, pw)."""
    body = ""
    for jid, name, aj, nick, pw in confs:
        body += "<conference jid='%s' name='%s' autojoin='%s'>" % (jid, name, aj)
        body += "<nick>%s</nick>" % nick if nick else ""
        body += "<password>%s</password>" % pw if pw else ""
        body += "</conference>"
    return "<query xmlns='%s'><storage xmlns='%s'>%s</storage></query>" % (
        PRIV, OLD, body)


async def private_get(c):
    r = ok(await xu.iq(c, None, storage([])))
    st = r.xml.find(q(PRIV, "query")).find(q(OLD, "storage"))
    return {cf.get("jid"): cf for cf in st.findall(q(OLD, "conference"))}


def bm_event(node_items):
    return lambda e: e.find(q(PSE, "items")) is not None and \
        e.find(q(PSE, "items")).get("node") == BM and \
        e.find(q(PSE, "items")).find(q(PSE, node_items)) is not None


def test_private_xml_and_pep_are_one_list(inst):
    async def t():
        a1 = await slix_login(inst, "bmann", notify=(BM,))
        a2 = await xu.login(inst, "bmann", PW, plugins=("xep_0060",))
        b = await xu.login(inst, "bmbob", PW, plugins=("xep_0060",))
        await asyncio.sleep(0.5)        # a1's caps verified by pepd
        rooms = ["r%d@conference.%s" % (i, inst.domain) for i in range(3)]
        ok(await xu.iq(a1, None, storage([
            (rooms[0], "Room Zero", "true", "ann", "sesame"),
            (rooms[1], "Room One", "false", "annie", None)]), "set"))
        # another resource sees both over XEP-0402
        _, its = await pep_items(a2, None, BM)
        confs = {i.get("id"): i.find(q(BM, "conference")) for i in its}
        assert sorted(confs) == rooms[:2]
        assert confs[rooms[0]].get("name") == "Room Zero"
        assert confs[rooms[0]].get("autojoin") in ("true", "1")
        assert confs[rooms[0]].find(q(BM, "nick")).text == "ann"
        assert confs[rooms[0]].find(q(BM, "password")).text == "sesame"
        assert confs[rooms[1]].get("autojoin") in ("false", "0")
        assert confs[rooms[1]].find(q(BM, "nick")).text == "annie"
        # the +notify resource was told of them
        _, ev = await event(a1, bm_event("item"))
        assert {i.get("id") for i in ev.find(q(PSE, "items"))} == set(rooms[:2])
        # a third room over XEP-0402, from the other resource
        ok(await pep(a2, None, "<publish node='%s'><item id='%s'><conference "
                     "xmlns='%s' name='Room Two' autojoin='true'><nick>a2</nick>"
                     "</conference></item></publish>" % (BM, rooms[2], BM)))
        _, ev = await event(a1, bm_event("item"))
        its = ev.find(q(PSE, "items")).findall(q(PSE, "item"))
        assert [i.get("id") for i in its] == [rooms[2]]
        assert its[0].find(q(BM, "conference")).get("name") == "Room Two"
        # private XML sees all three
        got = await private_get(a1)
        assert sorted(got) == rooms
        assert got[rooms[2]].get("name") == "Room Two"
        assert got[rooms[2]].get("autojoin") in ("true", "1")
        assert got[rooms[2]].find(q(OLD, "nick")).text == "a2"
        assert got[rooms[0]].find(q(OLD, "password")).text == "sesame"
        assert got[rooms[1]].get("autojoin") in ("false", "0")
        # a replacement list: room 0 gone, room 1 unchanged, room 2 renamed
        ok(await xu.iq(a2, None, storage([
            (rooms[1], "Room One", "false", "annie", None),
            (rooms[2], "Room 2", "true", "a2", None)]), "set"))
        # pepd sends the changed items, then the retractions
        _, ev = await event(a1, bm_event("item"))
        # 5.3.2: the unchanged room is not notified
        assert [i.get("id") for i in ev.find(q(PSE, "items"))] == [rooms[2]]
        _, ev = await event(a1, bm_event("retract"))
        assert [r.get("id") for r in ev.find(q(PSE, "items"))] == [rooms[0]]
        _, its = await pep_items(a1, None, BM)
        confs = {i.get("id"): i.find(q(BM, "conference")) for i in its}
        assert sorted(confs) == rooms[1:]
        assert confs[rooms[2]].get("name") == "Room 2"
        # another account reads neither
        r, _ = await pep_items(b, inst.jid("bmann"), BM)
        assert err(r) == ("not-allowed", "closed-node")
        r = await xu.iq(b, inst.jid("bmann"), storage([]))
        assert r["type"] == "error"
        assert await private_get(b) == {}
        # disco#info of the account advertises the compat feature
        r = ok(await xu.iq(a1, inst.jid("bmann"), "<query xmlns='%s'/>" % DI))
        feats = {f.get("var") for f in
                 r.xml.find(q(DI, "query")).findall(q(DI, "feature"))}
        assert BM + "#compat" in feats
        for c in (a1, a2, b):
            await c.close()
    xu.run(t())


def test_other_private_namespaces_stay_in_imd(inst):
    async def t():
        a = await xu.login(inst, "bmann", PW)
        ok(await xu.iq(a, None, "<query xmlns='%s'><prefs xmlns='x:bm:test'>"
                       "<colour>blue</colour></prefs></query>" % PRIV, "set"))
        r = ok(await xu.iq(a, None, "<query xmlns='%s'><prefs xmlns='x:bm:test'/>"
                           "</query>" % PRIV))
        prefs = r.xml.find(q(PRIV, "query")).find(q("x:bm:test", "prefs"))
        assert prefs.find(q("x:bm:test", "colour")).text == "blue"
        # a bookmark list with a full JID for a room changes nothing
        before = sorted(await private_get(a))
        r = await xu.iq(a, None, storage([
            ("new@conference.%s" % inst.domain, "x", "true", None, None),
            ("room@conference.%s/nick" % inst.domain, "x", "true", None,
             None)]), "set")
        assert err(r)[0] == "not-acceptable"
        assert sorted(await private_get(a)) == before
        await a.close()
    xu.run(t())
