"""What real clients do with PEP (XEP-0163) on their accounts, as they
write it on the wire, with slixmpp clients through c2sd, routerd and
pepd:

- bookmarks (XEP-0402): one item per room, publish-options whitelist and
  max_items max; another account cannot read them; the XEP-0402 5.3
  compat feature is advertised (test_pep_bookmarks.py);
- avatars (XEP-0084): data and metadata nodes; a contact whose caps want
  the metadata is notified, then fetches the data by id;
- OMEMO device list and bundles: publish-options access_model open, read
  by an account that is no contact; a publish whose options differ from
  the node's gets conflict + precondition-not-met;
- private storage (XEP-0223): persist_items + whitelist; another account
  cannot read it, the owner can.
"""
import asyncio
import base64
import hashlib

import pytest

import xmpp_util as xu
from test_imd_core import befriend
from test_pep import PS, PSE, PW, err, event, form, ok
from test_pep_caps import slix_login
from xmpp_util import q

BM = "urn:xmpp:bookmarks:1"
AV_DATA = "urn:xmpp:avatar:data"
AV_META = "urn:xmpp:avatar:metadata"
OMEMO_DL = "eu.siacs.conversations.axolotl.devicelist"
OMEMO = "eu.siacs.conversations.axolotl"
DI = "http://jabber.org/protocol/disco#info"


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("kalice", "kbob", "kcarol"):
        instance.adduser(u, PW)
    return instance


async def login(inst, user):
    return await xu.login(inst, user, PW, plugins=("xep_0060",))


def opts(fields):
    return "<publish-options>%s</publish-options>" % form(
        fields, form_type=PS + "#publish-options")


async def pep(c, to, inner, itype="set"):
    """A pubsub request to an account's PEP service (None: one's own)."""
    return await xu.iq(c, to, "<pubsub xmlns='%s'>%s</pubsub>" % (PS, inner),
                       itype=itype)


async def pep_items(c, to, node):
    r = await pep(c, to, "<items node='%s'/>" % node, "get")
    if r["type"] != "result":
        return r, None
    its = r.xml.find(q(PS, "pubsub")).find(q(PS, "items"))
    return r, its.findall(q(PS, "item"))


BM_OPTS = {"pubsub#persist_items": "true", "pubsub#max_items": "max",
           "pubsub#send_last_published_item": "never",
           "pubsub#access_model": "whitelist"}


def test_bookmarks_xep0402(inst):
    async def t():
        a = await login(inst, "kalice")
        b = await login(inst, "kbob")
        rooms = ["r%d@conference.%s" % (i, inst.domain) for i in range(3)]
        for i, room in enumerate(rooms):
            ok(await pep(a, None, "<publish node='%s'><item id='%s'>"
                         "<conference xmlns='%s' name='Room %d' autojoin='true'>"
                         "<nick>al</nick></conference></item></publish>%s"
                         % (BM, room, BM, i, opts(BM_OPTS))))
        # max_items max: every room kept, one item each
        _, its = await pep_items(a, None, BM)
        assert sorted(i.get("id") for i in its) == sorted(rooms)
        names = {i.get("id"): i.find(q(BM, "conference")).get("name") for i in its}
        assert names[rooms[2]] == "Room 2"
        # another account: whitelist
        r, _ = await pep_items(b, inst.jid("kalice"), BM)
        assert err(r) == ("not-allowed", "closed-node")
        # retract one room (XEP-0402 3.4)
        ok(await pep(a, None, "<retract node='%s' notify='true'><item id='%s'/>"
                     "</retract>" % (BM, rooms[0])))
        _, its = await pep_items(a, None, BM)
        assert sorted(i.get("id") for i in its) == sorted(rooms[1:])
        # XEP-0402 5.3: storage:bookmarks is kept in sync
        # (test_pep_bookmarks.py); no XEP-0411 PEP conversion
        r = ok(await xu.iq(a, inst.jid("kalice"), "<query xmlns='%s'/>" % DI))
        feats = {f.get("var") for f in r.xml.find(q(DI, "query")).findall(q(DI, "feature"))}
        assert BM + "#compat" in feats and BM + "#compat-pep" not in feats
        await a.close()
        await b.close()
    xu.run(t())


def test_avatar_xep0084(inst):
    for u in ("kava", "kfan"):
        inst.adduser(u, PW)

    async def t():
        a = await slix_login(inst, "kava")
        fan = await slix_login(inst, "kfan", notify=(AV_META,))
        await befriend(inst, a, fan)
        await asyncio.sleep(0.5)
        png = b"\x89PNG\r\n\x1a\nnot really a picture" * 4
        h = hashlib.sha1(png).hexdigest()
        ok(await pep(a, None, "<publish node='%s'><item id='%s'><data xmlns='%s'>"
                     "%s</data></item></publish>" % (AV_DATA, h, AV_DATA,
                                                      base64.b64encode(png).decode())))
        ok(await pep(a, None, "<publish node='%s'><item id='%s'><metadata xmlns='%s'>"
                     "<info bytes='%d' id='%s' type='image/png' height='8' width='8'/>"
                     "</metadata></item></publish>" % (AV_META, h, AV_META, len(png), h)))
        m, ev = await event(fan, lambda e: e.find(q(PSE, "items")) is not None and
                            e.find(q(PSE, "items")).get("node") == AV_META)
        assert str(m["from"]) == inst.jid("kava")
        info = ev.find(q(PSE, "items")).find(q(PSE, "item")).find(
            q(AV_META, "metadata")).find(q(AV_META, "info"))
        assert info.get("id") == h
        # the data node is not in its caps: no notification for it, but
        # the contact fetches it by id (XEP-0084 4.3)
        r = ok(await pep(fan, inst.jid("kava"), "<items node='%s'><item id='%s'/>"
                         "</items>" % (AV_DATA, h), "get"))
        it = r.xml.find(q(PS, "pubsub")).find(q(PS, "items")).find(q(PS, "item"))
        assert base64.b64decode(it.find(q(AV_DATA, "data")).text) == png
        await a.close()
        await fan.close()
    xu.run(t())


def test_omemo_open_and_precondition(inst):
    async def t():
        a = await login(inst, "kalice")
        c = await login(inst, "kcarol")     # no roster relation at all
        open_opts = opts({"pubsub#access_model": "open"})
        ok(await pep(a, None, "<publish node='%s'><item id='current'><list xmlns='%s'>"
                     "<device id='4223'/></list></item></publish>%s"
                     % (OMEMO_DL, OMEMO, open_opts)))
        ok(await pep(a, None, "<publish node='%s.bundles:4223'><item id='current'>"
                     "<bundle xmlns='%s'><signedPreKeyPublic signedPreKeyId='1'>"
                     "AAAA</signedPreKeyPublic></bundle></item></publish>%s"
                     % (OMEMO, OMEMO, opts({"pubsub#access_model": "open",
                                            "pubsub#max_items": "max"}))))
        _, its = await pep_items(c, inst.jid("kalice"), OMEMO_DL)
        dev = its[0].find(q(OMEMO, "list")).find(q(OMEMO, "device"))
        assert dev.get("id") == "4223"
        _, its = await pep_items(c, inst.jid("kalice"), OMEMO + ".bundles:4223")
        assert its[0].find(q(OMEMO, "bundle")) is not None
        # options that differ from the node's configuration
        r = await pep(a, None, "<publish node='%s'><item id='current'><list xmlns='%s'/>"
                      "</item></publish>%s" % (OMEMO_DL, OMEMO,
                                               opts({"pubsub#access_model": "presence"})))
        assert err(r) == ("conflict", "precondition-not-met")
        _, its = await pep_items(c, inst.jid("kalice"), OMEMO_DL)
        assert its[0].find(q(OMEMO, "list")).find(q(OMEMO, "device")) is not None
        await a.close()
        await c.close()
    xu.run(t())


def test_private_storage_xep0223(inst):
    async def t():
        a = await login(inst, "kalice")
        b = await login(inst, "kbob")
        await befriend_plain(inst, a, b)
        node = "urn:test:private-notes"
        ok(await pep(a, None, "<publish node='%s'><item id='current'>"
                     "<notes xmlns='%s'>secret</notes></item></publish>%s"
                     % (node, node, opts({"pubsub#persist_items": "true",
                                          "pubsub#access_model": "whitelist"}))))
        _, its = await pep_items(a, None, node)
        assert its[0].find(q(node, "notes")).text == "secret"
        # even a contact with a presence subscription may not read it
        r, _ = await pep_items(b, inst.jid("kalice"), node)
        assert err(r) == ("not-allowed", "closed-node")
        r = await pep(b, inst.jid("kalice"), "<subscribe node='%s' jid='%s'/>"
                      % (node, b.boundjid.bare))
        assert err(r)[0] == "not-allowed"
        await a.close()
        await b.close()
    xu.run(t())


async def befriend_plain(inst, a, b):
    """Mutual subscription between two plain clients."""
    from test_imd_core import Client as RosterClient
    ra = RosterClient(inst, a.boundjid.user, PW)
    rb = RosterClient(inst, b.boundjid.user, PW)
    for c in (ra, rb):
        c.connect((inst.host, inst.port), force_starttls=True)
        await asyncio.wait_for(asyncio.shield(c.started), 10)
    await befriend(inst, ra, rb)
    await ra.close()
    await rb.close()
