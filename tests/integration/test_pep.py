"""pepd: the pubsub service (XEP-0060) on pubsub.<domain>, with real
slixmpp clients over TLS through the whole suite (c2sd -> routerd ->
pepd and back).

Each test uses its own node so the tests do not depend on each other.
Most requests are written out as XML (xu.iq) so the test states exactly
what goes on the wire; one test drives slixmpp's xep_0060 plugin.  The
restart test restarts pepd with rampartctl and checks that nodes, items
and subscriptions were kept.
"""
import asyncio

import pytest

import xmpp_util as xu
from xmpp_util import q

PW = "pw-pep-1"
PS = "http://jabber.org/protocol/pubsub"
PSO = PS + "#owner"
PSE = PS + "#event"
PSERR = PS + "#errors"
XDATA = "jabber:x:data"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("alice", "bob", "carol"):
        instance.adduser(u, PW)
    return instance


def svc(inst):
    return "pubsub." + inst.domain


async def login(inst, user):
    return await xu.login(inst, user, PW, plugins=("xep_0060",))


def form(fields, ftype="submit", form_type=PS + "#node_config"):
    x = "<x xmlns='%s' type='%s'><field var='FORM_TYPE' type='hidden'>" \
        "<value>%s</value></field>" % (XDATA, ftype, form_type)
    for var, val in fields.items():
        x += "<field var='%s'><value>%s</value></field>" % (var, val)
    return x + "</x>"


async def ps(c, inst, inner, itype="set", ns=PS):
    return await xu.iq(c, svc(inst), "<pubsub xmlns='%s'>%s</pubsub>" % (ns, inner),
                       itype=itype)


def ok(r):
    assert r["type"] == "result", str(r)
    return r


def err(r):
    """(stanza condition, pubsub#errors condition or None)"""
    assert r["type"] == "error", str(r)
    e = r.xml.find("{jabber:client}error")
    cond = [c.tag.split("}")[1] for c in e if c.tag.startswith("{%s}" % STANZAS)]
    app = [c.tag.split("}")[1] for c in e if c.tag.startswith("{%s}" % PSERR)]
    return cond[0], (app[0] if app else None)


async def create(c, inst, node, fields=None):
    conf = "<configure>%s</configure>" % form(fields) if fields else ""
    return ok(await ps(c, inst, "<create node='%s'/>%s" % (node, conf)))


async def publish(c, inst, node, text, item_id=None, opts=None):
    it = "<item id='%s'>" % item_id if item_id else "<item>"
    po = "<publish-options>%s</publish-options>" % form(
        opts, form_type=PS + "#publish-options") if opts else ""
    return await ps(c, inst, "<publish node='%s'>%s<entry xmlns='urn:test'>%s</entry>"
                    "</item></publish>%s" % (node, it, text, po))


def item_texts(r, node):
    items = r.xml.find(q(PS, "pubsub")).find(q(PS, "items"))
    assert items.get("node") == node
    return [(i.get("id"), i.find("{urn:test}entry").text) for i in items.findall(q(PS, "item"))]


async def items(c, inst, node, extra="", inner=""):
    return await ps(c, inst, "<items node='%s'%s>%s</items>" % (node, extra, inner), "get")


async def event(c, pred=lambda m: True, timeout=5.0):
    while True:
        m = await c.next_message(timeout)
        ev = m.xml.find(q(PSE, "event"))
        if ev is not None and pred(ev):
            assert m["type"] == "headline"
            return m, ev


def test_disco_of_service(inst):
    async def t():
        a = await login(inst, "alice")
        r = ok(await xu.iq(a, svc(inst), "<query xmlns='%s'/>" % DISCO_INFO))
        qy = r.xml.find(q(DISCO_INFO, "query"))
        ident = qy.find(q(DISCO_INFO, "identity"))
        assert (ident.get("category"), ident.get("type")) == ("pubsub", "service")
        feats = {f.get("var") for f in qy.findall(q(DISCO_INFO, "feature"))}
        assert {PS, PS + "#publish", PS + "#publish-options", PS + "#create-nodes"} <= feats
        await create(a, inst, "disco1", {"pubsub#title": "Disco One"})
        r = ok(await xu.iq(a, svc(inst), "<query xmlns='%s'/>" % DISCO_ITEMS))
        nodes = {(i.get("node"), i.get("name")) for i in
                 r.xml.find(q(DISCO_ITEMS, "query")).findall(q(DISCO_ITEMS, "item"))}
        assert ("disco1", "Disco One") in nodes
        r = ok(await xu.iq(a, svc(inst), "<query xmlns='%s' node='disco1'/>" % DISCO_INFO))
        ident = r.xml.find(q(DISCO_INFO, "query")).find(q(DISCO_INFO, "identity"))
        assert ident.get("type") == "leaf"
        r = await xu.iq(a, svc(inst), "<query xmlns='%s' node='nosuch'/>" % DISCO_INFO)
        assert err(r)[0] == "item-not-found"
        await a.close()
    xu.run(t())


def test_create_configure_delete(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        await create(a, inst, "cfg1", {"pubsub#max_items": "3"})
        assert err(await ps(b, inst, "<create node='cfg1'/>"))[0] == "conflict"
        # instant node: the service names it
        r = ok(await ps(a, inst, "<create/>"))
        gen = r.xml.find(q(PS, "pubsub")).find(q(PS, "create")).get("node")
        assert gen
        r = ok(await ps(a, inst, "<configure node='cfg1'/>", "get", PSO))
        # a list-multi with no value (roster_groups_allowed) has no <value/>
        fields = {f.get("var"): (f.find(q(XDATA, "value")).text
                                 if f.find(q(XDATA, "value")) is not None else None)
                  for f in r.xml.find(q(PSO, "pubsub")).find(q(PSO, "configure"))
                  .find(q(XDATA, "x")).findall(q(XDATA, "field"))}
        assert fields["pubsub#roster_groups_allowed"] is None
        assert fields["pubsub#max_items"] == "3"
        assert fields["pubsub#access_model"] == "open"
        ok(await ps(a, inst, "<configure node='cfg1'>%s</configure>" % form(
            {"pubsub#access_model": "whitelist", "pubsub#notify_retract": "0"}), "set", PSO))
        r = ok(await ps(a, inst, "<configure node='cfg1'/>", "get", PSO))
        assert "whitelist" in str(r)
        # not an owner
        assert err(await ps(b, inst, "<configure node='cfg1'/>", "get", PSO))[0] == "forbidden"
        assert err(await ps(b, inst, "<delete node='cfg1'/>", "set", PSO))[0] == "forbidden"
        bad = form({"pubsub#access_model": "nonsense"})
        assert err(await ps(a, inst, "<configure node='cfg1'>%s</configure>" % bad,
                            "set", PSO))[0] == "not-acceptable"
        ok(await ps(a, inst, "<delete node='cfg1'/>", "set", PSO))
        assert err(await items(a, inst, "cfg1"))[0] == "item-not-found"
        await a.close()
        await b.close()
    xu.run(t())


def test_publish_retract_items_max(inst):
    async def t():
        a = await login(inst, "alice")
        await create(a, inst, "news", {"pubsub#max_items": "2"})
        r = ok(await publish(a, inst, "news", "one", "i1"))
        assert r.xml.find(q(PS, "pubsub")).find(q(PS, "publish")).find(
            q(PS, "item")).get("id") == "i1"
        r = ok(await publish(a, inst, "news", "two"))
        gen = r.xml.find(q(PS, "pubsub")).find(q(PS, "publish")).find(q(PS, "item")).get("id")
        assert gen and gen != "i1"
        ok(await publish(a, inst, "news", "three", "i3"))
        # max_items 2: the oldest went
        got = item_texts(ok(await items(a, inst, "news")), "news")
        assert got == [(gen, "two"), ("i3", "three")]
        got = item_texts(ok(await items(a, inst, "news", " max_items='1'")), "news")
        assert got == [("i3", "three")]
        got = item_texts(ok(await items(a, inst, "news", "", "<item id='%s'/>" % gen)), "news")
        assert got == [(gen, "two")]
        # republishing an id replaces it
        ok(await publish(a, inst, "news", "three again", "i3"))
        got = item_texts(ok(await items(a, inst, "news")), "news")
        assert got == [(gen, "two"), ("i3", "three again")]
        ok(await ps(a, inst, "<retract node='news'><item id='i3'/></retract>"))
        assert item_texts(ok(await items(a, inst, "news")), "news") == [(gen, "two")]
        r = await ps(a, inst, "<retract node='news'><item id='i3'/></retract>")
        assert err(r)[0] == "item-not-found"
        await a.close()
    xu.run(t())


def test_subscribe_notifications_last_item(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        await create(a, inst, "feed")
        ok(await publish(a, inst, "feed", "before", "p0"))
        # jid must be the sender's
        r = await ps(b, inst, "<subscribe node='feed' jid='%s'/>" % inst.jid("carol"))
        assert err(r) == ("bad-request", "invalid-jid")
        r = ok(await ps(b, inst, "<subscribe node='feed' jid='%s'/>" % inst.jid("bob")))
        sub = r.xml.find(q(PS, "pubsub")).find(q(PS, "subscription"))
        assert sub.get("subscription") == "subscribed" and sub.get("subid")
        # the last item, to the new subscriber
        m, ev = await event(b)
        assert str(m["from"]) == svc(inst)
        it = ev.find(q(PSE, "items")).find(q(PSE, "item"))
        assert it.get("id") == "p0" and it.find("{urn:test}entry").text == "before"
        ok(await publish(a, inst, "feed", "hello subscribers", "p1"))
        m, ev = await event(b)
        it = ev.find(q(PSE, "items")).find(q(PSE, "item"))
        assert it.get("id") == "p1"
        assert it.find("{urn:test}entry").text == "hello subscribers"
        ok(await ps(a, inst, "<retract node='feed' notify='true'><item id='p1'/></retract>"))
        m, ev = await event(b)
        assert ev.find(q(PSE, "items")).find(q(PSE, "retract")).get("id") == "p1"
        r = ok(await ps(b, inst, "<subscriptions/>", "get"))
        subs = r.xml.find(q(PS, "pubsub")).find(q(PS, "subscriptions"))
        assert [s.get("node") for s in subs] == ["feed"]
        r = ok(await ps(b, inst, "<options node='feed' jid='%s'/>" % inst.jid("bob"), "get"))
        assert r.xml.find(q(PS, "pubsub")).find(q(PS, "options")) is not None
        ok(await ps(b, inst, "<unsubscribe node='feed' jid='%s'/>" % inst.jid("bob")))
        ok(await publish(a, inst, "feed", "nobody hears", "p2"))
        await b.no_message(0.5)
        r = await ps(b, inst, "<unsubscribe node='feed' jid='%s'/>" % inst.jid("bob"))
        assert err(r) == ("unexpected-request", "not-subscribed")
        # deleting the node tells its subscribers
        ok(await ps(b, inst, "<subscribe node='feed' jid='%s'/>" % inst.jid("bob")))
        await event(b)
        ok(await ps(a, inst, "<delete node='feed'/>", "set", PSO))
        m, ev = await event(b, lambda e: e.find(q(PSE, "delete")) is not None)
        assert ev.find(q(PSE, "delete")).get("node") == "feed"
        await a.close()
        await b.close()
    xu.run(t())


def test_slixmpp_plugin(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        p = a["xep_0060"]
        await p.create_node(svc(inst), "plug")
        await b["xep_0060"].subscribe(svc(inst), "plug")
        payload = xu.ET.fromstring("<entry xmlns='urn:test'>via plugin</entry>")
        await p.publish(svc(inst), "plug", id="x1", payload=payload)
        m, ev = await event(b, lambda e: e.find(q(PSE, "items")).find(q(PSE, "item")) is not None)
        assert ev.find(q(PSE, "items")).find(q(PSE, "item")).get("id") == "x1"
        r = await b["xep_0060"].get_items(svc(inst), "plug")
        assert item_texts(r, "plug") == [("x1", "via plugin")]
        await a.close()
        await b.close()
    xu.run(t())


def test_access_whitelist_and_outcast(inst):
    async def t():
        a, b, c = (await login(inst, "alice"), await login(inst, "bob"),
                   await login(inst, "carol"))
        await create(a, inst, "club", {"pubsub#access_model": "whitelist"})
        ok(await publish(a, inst, "club", "secret", "s1"))
        assert err(await items(b, inst, "club")) == ("not-allowed", "closed-node")
        r = await ps(b, inst, "<subscribe node='club' jid='%s'/>" % inst.jid("bob"))
        assert err(r) == ("not-allowed", "closed-node")
        ok(await ps(a, inst, "<affiliations node='club'><affiliation jid='%s' "
                    "affiliation='member'/></affiliations>" % inst.jid("bob"), "set", PSO))
        assert item_texts(ok(await items(b, inst, "club")), "club") == [("s1", "secret")]
        # bob may not publish as a member; as a publisher he may
        assert err(await publish(b, inst, "club", "x"))[0] == "forbidden"
        r = ok(await ps(a, inst, "<affiliations node='club'/>", "get", PSO))
        affs = {x.get("jid"): x.get("affiliation") for x in
                r.xml.find(q(PSO, "pubsub")).find(q(PSO, "affiliations"))}
        assert affs == {inst.jid("alice"): "owner", inst.jid("bob"): "member"}
        r = ok(await ps(b, inst, "<affiliations/>", "get"))
        mine = [(x.get("node"), x.get("affiliation")) for x in
                r.xml.find(q(PS, "pubsub")).find(q(PS, "affiliations"))]
        assert ("club", "member") in mine
        # an outcast of an open node is refused
        await create(a, inst, "agora")
        ok(await ps(a, inst, "<affiliations node='agora'><affiliation jid='%s' "
                    "affiliation='outcast'/></affiliations>" % inst.jid("carol"), "set", PSO))
        assert err(await items(c, inst, "agora"))[0] == "forbidden"
        r = await ps(c, inst, "<subscribe node='agora' jid='%s'/>" % inst.jid("carol"))
        assert err(r)[0] == "forbidden"
        # the last owner cannot leave
        r = await ps(a, inst, "<affiliations node='agora'><affiliation jid='%s' "
                     "affiliation='none'/></affiliations>" % inst.jid("alice"), "set", PSO)
        assert err(r)[0] == "not-acceptable"
        for x in (a, b, c):
            await x.close()
    xu.run(t())


def test_publish_options_and_autocreate(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        # XEP-0223: auto-create a private node with publish-options
        ok(await publish(a, inst, "private1", "mine", "current",
                         {"pubsub#persist_items": "true",
                          "pubsub#access_model": "whitelist"}))
        assert err(await items(b, inst, "private1"))[0] == "not-allowed"
        assert item_texts(ok(await items(a, inst, "private1")), "private1") == \
            [("current", "mine")]
        # same options again: met
        ok(await publish(a, inst, "private1", "mine 2", "current",
                         {"pubsub#access_model": "whitelist"}))
        r = await publish(a, inst, "private1", "x", "current",
                          {"pubsub#access_model": "open"})
        assert err(r) == ("conflict", "precondition-not-met")
        # nobody outside our domains creates nodes; bob may not publish
        assert err(await publish(b, inst, "private1", "x"))[0] == "forbidden"
        await a.close()
        await b.close()
    xu.run(t())


def test_persistence_across_restart(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        await create(a, inst, "keep", {"pubsub#max_items": "5",
                                        "pubsub#title": "Kept"})
        ok(await publish(a, inst, "keep", "kept item", "k1"))
        ok(await ps(b, inst, "<subscribe node='keep' jid='%s'/>" % inst.jid("bob")))
        await a.close()
        await b.close()
    xu.run(t())
    old = inst.pid_of("pepd")
    inst.ctl("restart", "pepd")
    inst.wait_ready("pepd", timeout=10, not_pid=old)

    async def t2():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        assert item_texts(ok(await items(b, inst, "keep")), "keep") == [("k1", "kept item")]
        r = ok(await ps(a, inst, "<configure node='keep'/>", "get", PSO))
        assert "Kept" in str(r)
        ok(await publish(a, inst, "keep", "after restart", "k2"))
        m, ev = await event(b)
        assert ev.find(q(PSE, "items")).find(q(PSE, "item")).get("id") == "k2"
        await a.close()
        await b.close()
    xu.run(t2())


# ---- PEP on accounts: contacts notified by caps (XEP-0163 4.3) ----

TUNE = "urn:xmpp:tune"
NS_TUNE = "http://jabber.org/protocol/tune"


async def pep_login(inst, user, notify=()):
    """A client that records presences (for befriend) and advertises
    XEP-0115 caps with `notify` as "<node>+notify" features."""
    from test_imd_core import Client as RosterClient
    c = RosterClient(inst, user, PW,
                     plugins=("xep_0060", "xep_0115", "xep_0163"))
    c.connect((inst.host, inst.port), force_starttls=True)
    try:
        await asyncio.wait_for(asyncio.shield(c.started), 10)
    except BaseException:
        xu.safe_abort(c)
        raise
    # slixmpp keeps disco features per bound full JID, so they are added
    # now; the first presence went out without caps, this one has <c/>.
    for node in notify:
        await c["xep_0030"].add_feature(node + "+notify")
    await c["xep_0115"].update_caps(broadcast=False)
    c.send_presence()
    return c


async def tune_events(c, timeout=5.0):
    m, ev = await event(c, lambda e: e.find(q(PSE, "items")) is not None and
                        e.find(q(PSE, "items")).get("node") == TUNE, timeout)
    return m, ev.find(q(PSE, "items")).find(q(PSE, "item"))


def test_pep_contacts_notified_by_caps(inst):
    from test_imd_core import befriend
    for u in ("powner", "pview", "pplain", "plate"):
        inst.adduser(u, PW)

    async def t():
        owner = await pep_login(inst, "powner")
        view = await pep_login(inst, "pview", notify=(TUNE,))
        plain = await pep_login(inst, "pplain")
        for c in (view, plain):
            await befriend(inst, owner, c)
        await asyncio.sleep(0.5)    # caps learnt by pepd (disco#info)
        payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Yes</artist>"
                                   "</tune>" % NS_TUNE)
        await owner["xep_0060"].publish(None, TUNE, id="t1", payload=payload)
        m, it = await tune_events(view)
        assert str(m["from"]) == inst.jid("powner")
        assert it.get("id") == "t1"
        assert it.find("{%s}tune" % NS_TUNE).find(
            "{%s}artist" % NS_TUNE).text == "Yes"
        # no +notify in its caps: nothing
        await plain.no_message(0.7)
        # a contact coming online later gets the last item (4.3.2)
        late = await pep_login(inst, "plate")
        await befriend(inst, owner, late)
        await late.close()
        late = await pep_login(inst, "plate", notify=(TUNE,))
        m, it = await tune_events(late)
        assert str(m["from"]) == inst.jid("powner") and it.get("id") == "t1"
        for c in (owner, view, plain, late):
            await c.close()
    xu.run(t(), timeout=60.0)


def test_new_viewer_gets_last_item_on_approval(inst):
    """A viewer that subscribes to an account after it published gets the
    last item as soon as the account approves (or had pre-approved), with
    no further presence of its own (XEP-0163 4.3.2, docs/pep.md
    "Contacts"): imd tells pepd that the requester's online resources
    are now contacts of the approver."""
    for u in ("aown", "aview", "apre"):
        inst.adduser(u, PW)

    async def t():
        owner = await pep_login(inst, "aown")
        payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Can</artist>"
                                   "</tune>" % NS_TUNE)
        await owner["xep_0060"].publish(None, TUNE, id="a1", payload=payload)
        view = await pep_login(inst, "aview", notify=(TUNE,))
        pre = await pep_login(inst, "apre", notify=(TUNE,))
        await asyncio.sleep(0.5)
        # approval of a request
        view.send_presence(pto=inst.jid("aown"), ptype="subscribe")
        await owner.presence(inst.jid("aview"), "subscribe")
        owner.send_presence(pto=inst.jid("aview"), ptype="subscribed")
        await view.presence(inst.jid("aown"), "subscribed")
        m, it = await tune_events(view)
        assert str(m["from"]) == inst.jid("aown") and it.get("id") == "a1"
        # and may ask for the items itself (XEP-0060 6.5.7), which the
        # one not yet subscribed may not (access model presence)
        get = "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (PS, TUNE)
        r = ok(await xu.iq(view, inst.jid("aown"), get))
        its = r.xml.find(q(PS, "pubsub")).find(q(PS, "items"))
        assert [i.get("id") for i in its] == ["a1"]
        r = await xu.iq(pre, inst.jid("aown"), get)
        assert err(r) == ("not-authorized", "presence-subscription-required")
        # pre-approval (RFC 6121 3.4): the request is approved at once
        owner.send_presence(pto=inst.jid("apre"), ptype="subscribed")
        await asyncio.sleep(0.3)
        pre.send_presence(pto=inst.jid("aown"), ptype="subscribe")
        await pre.presence(inst.jid("aown"), "subscribed")
        m, it = await tune_events(pre)
        assert str(m["from"]) == inst.jid("aown") and it.get("id") == "a1"
        # once only: no second copy of the last item
        await view.no_message(0.7)
        # the viewer cancels its subscription (RFC 6121 3.3): it is no
        # longer a contact, so the next item reaches only the other one
        view.send_presence(pto=inst.jid("aown"), ptype="unsubscribe")
        await owner.presence(inst.jid("aview"), "unsubscribe")
        payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Neu</artist>"
                                   "</tune>" % NS_TUNE)
        await owner["xep_0060"].publish(None, TUNE, id="a2", payload=payload)
        m, it = await tune_events(pre)
        assert it.get("id") == "a2"
        await view.no_message(0.7)
        for c in (owner, view, pre):
            await c.close()
    xu.run(t(), timeout=60.0)


def test_pep_service_discovery(inst):
    """XEP-0163 / XEP-0060 5.2-5.5 on an account's bare JID, with
    slixmpp's xep_0030: disco#info keeps the account identity and adds
    pubsub/pep; disco#items lists the nodes the requester may read,
    with or without a node."""
    from slixmpp.exceptions import IqError
    from test_imd_core import befriend
    for u in ("down", "dfriend", "dstranger"):
        inst.adduser(u, PW)

    async def t():
        owner = await pep_login(inst, "down")
        friend = await pep_login(inst, "dfriend")
        stranger = await pep_login(inst, "dstranger")
        await befriend(inst, owner, friend)
        bare = inst.jid("down")
        payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Low</artist>"
                                   "</tune>" % NS_TUNE)
        await owner["xep_0060"].publish(None, TUNE, id="d1", payload=payload)
        for node, model in (("urn:test:open", "open"),
                            ("urn:test:secret", "whitelist")):
            ok(await xu.iq(owner, bare, (
                "<pubsub xmlns='%s'><publish node='%s'><item id='x'>"
                "<entry xmlns='urn:test'>v</entry></item></publish>"
                "<publish-options>%s</publish-options></pubsub>") % (
                PS, node, form({"pubsub#access_model": model},
                               form_type=PS + "#publish-options")), "set"))
        d = "xep_0030"
        info = (await stranger[d].get_info(jid=bare))["disco_info"]
        idents = {(i[0], i[1]) for i in info["identities"]}
        assert {("account", "registered"), ("pubsub", "pep")} <= idents
        assert PS + "#publish-options" in info["features"]
        assert DISCO_INFO in info["features"]

        async def nodes(c, node=None):
            r = await c[d].get_items(jid=bare, node=node)
            return {(str(j), n, name) for j, n, name in r["disco_items"]["items"]}
        everything = {(bare, TUNE, None), (bare, "urn:test:open", None),
                      (bare, "urn:test:secret", None)}
        assert await nodes(owner) == everything
        assert await nodes(friend) == everything - {(bare, "urn:test:secret", None)}
        assert await nodes(stranger) == {(bare, "urn:test:open", None)}
        # a node's items (5.5): names are item ids
        assert await nodes(friend, TUNE) == {(bare, None, "d1")}
        # a node (5.3): a leaf, with its meta-data, for who may read it
        info = (await friend[d].get_info(jid=bare, node=TUNE))["disco_info"]
        assert ("pubsub", "leaf") in {(i[0], i[1]) for i in info["identities"]}
        for c, node in ((stranger, TUNE), (friend, "urn:test:secret"),
                        (stranger, "nosuch")):
            with pytest.raises(IqError) as e:
                await c[d].get_info(jid=bare, node=node)
            assert e.value.condition == "item-not-found"
            with pytest.raises(IqError) as e:
                await c[d].get_items(jid=bare, node=node)
            assert e.value.condition == "item-not-found"
        # the account asks itself with no 'to' (RFC 6120 10.3.3)
        r = ok(await xu.iq(owner, None, "<query xmlns='%s'/>" % DISCO_ITEMS))
        got = {i.get("node") for i in r.xml.find(q(DISCO_ITEMS, "query"))}
        assert got == {TUNE, "urn:test:open", "urn:test:secret"}
        for c in (owner, friend, stranger):
            await c.close()
    xu.run(t(), timeout=60.0)


def test_blocked_contact_loses_pep(inst):
    """XEP-0191: pepd sends to sessions directly, so imd takes a contact
    the owner blocks out of pepd's mirror (no notifications, no
    presence-model access) and puts it back on unblock (last item)."""
    from test_imd_core import befriend
    for u in ("kown", "kview"):
        inst.adduser(u, PW)
    blk = "urn:xmpp:blocking"

    async def t():
        owner = await pep_login(inst, "kown")
        view = await pep_login(inst, "kview", notify=(TUNE,))
        await befriend(inst, owner, view)
        get = "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (PS, TUNE)

        async def tune(item_id):
            payload = xu.ET.fromstring("<tune xmlns='%s'><artist>%s</artist>"
                                       "</tune>" % (NS_TUNE, item_id))
            await owner["xep_0060"].publish(None, TUNE, id=item_id,
                                            payload=payload)
        await tune("k1")
        m, it = await tune_events(view)
        assert it.get("id") == "k1"
        ok(await xu.iq(owner, None, "<block xmlns='%s'><item jid='%s'/>"
                       "</block>" % (blk, inst.jid("kview")), "set"))
        await tune("k2")
        await view.no_message(0.7)
        r = await xu.iq(view, inst.jid("kown"), get)
        assert err(r) == ("not-authorized", "presence-subscription-required")
        ok(await xu.iq(owner, None, "<unblock xmlns='%s'><item jid='%s'/>"
                       "</unblock>" % (blk, inst.jid("kview")), "set"))
        m, it = await tune_events(view)
        assert it.get("id") == "k2"
        ok(await xu.iq(view, inst.jid("kown"), get))
        for c in (owner, view):
            await c.close()
    xu.run(t(), timeout=60.0)


def test_contacts_after_pepd_restart(inst):
    """pepd keeps its contact mirror in memory: when it restarts, routerd
    has imd say every online resource again (RF_PEP_RESYNC), so contacts
    keep their notifications and access without new presence."""
    from test_imd_core import befriend
    for u in ("rown", "rview"):
        inst.adduser(u, PW)

    async def t():
        owner = await pep_login(inst, "rown")
        view = await pep_login(inst, "rview", notify=(TUNE,))
        await befriend(inst, owner, view)
        get = "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (PS, TUNE)

        async def tune(item_id):
            payload = xu.ET.fromstring("<tune xmlns='%s'><artist>%s</artist>"
                                       "</tune>" % (NS_TUNE, item_id))
            await owner["xep_0060"].publish(None, TUNE, id=item_id,
                                            payload=payload)

        async def wait_id(want):
            while True:
                m, it = await tune_events(view, timeout=10)
                if it.get("id") == want:
                    return
        await tune("x1")
        await wait_id("x1")
        old = inst.pid_of("pepd")
        inst.ctl("restart", "pepd")
        inst.wait_ready("pepd", timeout=10, not_pid=old)
        await asyncio.sleep(0.5)
        ok(await xu.iq(view, inst.jid("rown"), get))
        await tune("x2")
        await wait_id("x2")
        for c in (owner, view):
            await c.close()
    xu.run(t(), timeout=60.0)


@pytest.fixture(scope="module")
def nopep(tmp_path_factory):
    from conftest import start_instance
    i = start_instance(tmp_path_factory.mktemp("nopep"),
                       extra_conf="daemon pepd { disable }\n")
    i.adduser("alice", PW)
    yield i
    assert i.stop(), "processes were left behind at stop"


def test_account_without_pepd(nopep):
    """pepd disabled: imd answers what c2sd marks for pepd, as it would
    any iq to an account: disco#items empty, no pubsub/pep and no
    bookmarks #compat in disco#info, pubsub service-unavailable, and
    storage:bookmarks is plain private XML."""
    async def t():
        a = await login(nopep, "alice")
        bare = nopep.jid("alice")
        r = ok(await xu.iq(a, bare, "<query xmlns='%s'/>" % DISCO_ITEMS))
        assert list(r.xml.find(q(DISCO_ITEMS, "query"))) == []
        r = ok(await xu.iq(a, bare, "<query xmlns='%s'/>" % DISCO_INFO))
        qy = r.xml.find(q(DISCO_INFO, "query"))
        idents = {(i.get("category"), i.get("type"))
                  for i in qy.findall(q(DISCO_INFO, "identity"))}
        assert idents == {("account", "registered")}
        feats = {f.get("var") for f in qy.findall(q(DISCO_INFO, "feature"))}
        assert "urn:xmpp:bookmarks:1#compat" not in feats
        assert PS + "#publish" not in feats
        r = await xu.iq(a, bare, "<pubsub xmlns='%s'><items node='n'/>"
                        "</pubsub>" % PS)
        assert err(r)[0] == "service-unavailable"
        st = "<query xmlns='jabber:iq:private'><storage xmlns=" \
             "'storage:bookmarks'>%s</storage></query>"
        ok(await xu.iq(a, None, st % "<conference jid='r@conference.x'/>",
                       "set"))
        r = ok(await xu.iq(a, None, st % ""))
        assert "r@conference.x" in str(r)
        await a.close()
    xu.run(t())


@pytest.fixture(scope="module")
def nocreate(tmp_path_factory):
    from conftest import start_instance
    i = start_instance(tmp_path_factory.mktemp("nocreate"),
                       extra_conf="pubsub-create nobody\n")
    i.adduser("alice", PW)
    yield i
    assert i.stop(), "processes were left behind at stop"


def test_pubsub_create_nobody(nocreate):
    """pubsub-create nobody: an account of the server can neither create
    a node on pubsub.<domain> nor have a publish create one (XEP-0060
    8.1.1, forbidden); its own PEP service is not affected."""
    async def t():
        a = await login(nocreate, "alice")
        r = await ps(a, nocreate, "<create node='n1'/>")
        assert err(r)[0] == "forbidden"
        r = await publish(a, nocreate, "n2", "x")
        assert err(r)[0] == "forbidden"
        r = ok(await xu.iq(a, svc(nocreate), "<query xmlns='%s'/>"
                           % DISCO_ITEMS))
        assert list(r.xml.find(q(DISCO_ITEMS, "query"))) == []
        r = await xu.iq(a, None, "<pubsub xmlns='%s'><publish node='mine'>"
                        "<item><entry xmlns='urn:test'>y</entry></item>"
                        "</publish></pubsub>" % PS, "set")
        ok(r)
        await a.close()
    xu.run(t())
