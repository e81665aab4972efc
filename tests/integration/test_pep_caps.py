"""pepd and entity capabilities (XEP-0115), with real slixmpp clients.

pepd learns each resource's caps from its presence (imd mirrors it to
pepd), asks one disco#info per unknown ver from an account's bare JID,
recomputes the ver from the answer (XEP-0115 5.1) and trusts only a
match.  These tests watch the questions the clients receive:

- many clients sharing a ver: one question in all, from a bare JID (not
  pubsub.<domain>), and every one of them is notified by its +notify;
- a client whose ver does not hash from its answer is asked once and not
  trusted (no notification), while a client giving the very same answer
  under the right ver is notified; the ver here is computed by the test
  itself (hashlib), a second implementation of 5.1.
"""
import asyncio
import base64
import collections
import hashlib

import pytest
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import xmpp_util as xu
from test_imd_core import Client as RosterClient, befriend
from test_pep import NS_TUNE, PW, TUNE, tune_events
from xmpp_util import q

DI = "http://jabber.org/protocol/disco#info"
CAPS = "http://jabber.org/protocol/caps"


@pytest.fixture(scope="module")
def inst(instance):
    return instance


def new_client(inst, user, plugins):
    c = RosterClient(inst, user, PW, plugins=plugins)
    c.caps_queries = []

    def on(iq):
        qy = iq.xml.find(q(DI, "query"))
        # other clients (full JIDs) ask caps too; pepd never does
        if iq["type"] == "get" and qy is not None and qy.get("node") and \
                "/" not in str(iq["from"]):
            c.caps_queries.append((str(iq["from"]), qy.get("node")))
    c.register_handler(Callback("caps questions",
                                MatchXPath("{jabber:client}iq/{%s}query" % DI), on))
    return c


async def start(c, inst):
    c.connect((inst.host, inst.port), force_starttls=True)
    try:
        await asyncio.wait_for(asyncio.shield(c.started), 10)
    except BaseException:
        xu.safe_abort(c)
        raise
    return c


async def slix_login(inst, user, notify=()):
    """slixmpp computing its own caps, with `notify` as +notify."""
    c = new_client(inst, user, ("xep_0060", "xep_0115", "xep_0163"))
    await start(c, inst)
    for node in notify:
        await c["xep_0030"].add_feature(node + "+notify")
    await c["xep_0115"].update_caps(broadcast=False)
    c.send_presence()
    return c


FEATURES = [DI, CAPS, TUNE + "+notify"]


def ver_of(features):
    s = "client/pc//hand<" + "".join(f + "<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


async def hand_login(inst, user, ver):
    """A client that answers every disco#info itself with FEATURES and
    advertises `ver` (right or wrong) with hash sha-1."""
    c = new_client(inst, user, ("xep_0060",))
    c.remove_handler("Disco Info")

    def answer(iq):
        if iq["type"] != "get":
            return
        node = iq.xml.find(q(DI, "query")).get("node")
        r = xu.ET.fromstring(
            "<iq xmlns='jabber:client' type='result' id='%s' to='%s'>"
            "<query xmlns='%s' node='%s'><identity category='client' "
            "type='pc' name='hand'/>%s</query></iq>" % (
                iq["id"], iq["from"], DI, node,
                "".join("<feature var='%s'/>" % f for f in FEATURES)))
        c.send_raw(xu.ET.tostring(r).decode())
    c.register_handler(Callback("hand disco",
                                MatchXPath("{jabber:client}iq/{%s}query" % DI), answer))
    await start(c, inst)
    c.caps_ver = ver
    send_caps(c)
    return c


def send_caps(c):
    p = c.make_presence()
    p.xml.append(xu.ET.fromstring(
        "<c xmlns='%s' hash='sha-1' node='urn:test:hand' ver='%s'/>" % (CAPS, c.caps_ver)))
    p.send()


async def publish_tune(owner, item_id, artist):
    payload = xu.ET.fromstring("<tune xmlns='%s'><artist>%s</artist></tune>"
                               % (NS_TUNE, artist))
    await owner["xep_0060"].publish(None, TUNE, id=item_id, payload=payload)


def test_one_question_per_ver(inst):
    users = ["cown"] + ["cview%d" % i for i in range(4)]
    for u in users:
        inst.adduser(u, PW)

    async def t():
        owner = await slix_login(inst, "cown")
        views = [await slix_login(inst, u, notify=(TUNE,)) for u in users[1:]]
        for v in views:
            await befriend(inst, owner, v)
        await asyncio.sleep(1.0)
        asked = [qn for v in views for qn in v.caps_queries]
        assert asked, "pepd asked no caps"
        # one question per node#ver over all the clients sharing it
        per_ver = collections.Counter(node for _, node in asked)
        assert max(per_ver.values()) == 1, per_ver
        # asked by an account (bare JID), never by the pubsub service
        for frm, _ in asked:
            assert "@" in frm, frm
        await publish_tune(owner, "c1", "Can")
        for v in views:
            m, it = await tune_events(v)
            assert str(m["from"]) == inst.jid("cown") and it.get("id") == "c1"
        for c in [owner] + views:
            await c.close()
    xu.run(t(), timeout=90.0)


def test_bogus_ver_not_trusted(inst):
    for u in ("bown", "bgood", "bbad"):
        inst.adduser(u, PW)

    async def t():
        owner = await slix_login(inst, "bown")
        good = await hand_login(inst, "bgood", ver_of(FEATURES))
        bad = await hand_login(inst, "bbad", "7IuW0IfyzzoKbCmNnHWtTfx3HHM=")
        for c in (good, bad):
            await befriend(inst, owner, c)
        await asyncio.sleep(1.0)
        # both were asked what their ver means, each once
        assert len(good.caps_queries) == 1, good.caps_queries
        assert len(bad.caps_queries) == 1, bad.caps_queries
        assert bad.caps_queries[0][1] == "urn:test:hand#" + bad.caps_ver
        await publish_tune(owner, "b1", "Beak")
        m, it = await tune_events(good)
        assert it.get("id") == "b1"
        # the same features under a ver they do not hash to: not trusted
        await bad.no_message(1.0)
        # and not asked again for that ver
        send_caps(bad)
        await asyncio.sleep(0.5)
        assert len(bad.caps_queries) == 1, bad.caps_queries
        for c in (owner, good, bad):
            await c.close()
    xu.run(t(), timeout=60.0)
