"""PEP access model `roster` (XEP-0060 4.5) with
pubsub#roster_groups_allowed, and pepd's configurable node limit, with
slixmpp clients through c2sd, routerd, imd and pepd:

- the owner puts one contact in "Friends" and another in "Work"; a node
  with access_model roster and roster_groups_allowed Friends lets the
  first retrieve items and subscribe; the second gets not-authorized +
  not-in-roster-group (XEP-0060 6.1.3.3 subscribe, 6.5.9 items);
- a roster set that moves a contact between groups takes effect at once
  (imd renews pepd's copy of the groups), in both directions;
- the configuration form returns the groups; an account that is not a
  contact is refused;
- pep-max-nodes-per-owner: with a limit of 2 the third create gets
  policy-violation and changes nothing; deleting one makes room.
"""
import asyncio
import time

import pytest

import xmpp_util as xu
from conftest import start_instance
from test_imd_core import befriend, roster_set
from test_pep import PS, PW, err, form, ok
from test_pep_caps import new_client, start
from test_pep_clients import pep, pep_items
from xmpp_util import q

NODE = "urn:test:roster"
XDATA = "jabber:x:data"
PSO = PS + "#owner"


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("rown", "rfriend", "rwork", "rstranger"):
        instance.adduser(u, PW)
    return instance


async def login(inst, user):
    """A client that records presences (for befriend) and is available."""
    c = await start(new_client(inst, user, ("xep_0060",)), inst)
    c.send_presence()
    return c


async def until(fn, want, timeout=5.0):
    """fn() repeatedly until want(result) holds (imd's frame to pepd
    follows the roster push asynchronously); the last result."""
    end = time.monotonic() + timeout
    while True:
        r = await fn()
        if want(r) or time.monotonic() > end:
            return r
        await asyncio.sleep(0.1)


def refused(r):
    return r[0]["type"] == "error" and \
        err(r[0]) == ("not-authorized", "not-in-roster-group")


def allowed(r):
    return r[0]["type"] == "result"


def test_roster_groups_allowed(inst):
    async def t():
        o = await login(inst, "rown")
        a = await login(inst, "rfriend")
        b = await login(inst, "rwork")
        s = await login(inst, "rstranger")
        await befriend(inst, o, a)
        await befriend(inst, o, b)
        ok(await roster_set(o, inst.jid("rfriend"), "A", ["Friends"]))
        ok(await roster_set(o, inst.jid("rwork"), "B", ["Work"]))
        cfg = form({"pubsub#access_model": "roster",
                    "pubsub#roster_groups_allowed": "Friends"})
        ok(await pep(o, None, "<create node='%s'/><configure>%s</configure>"
                     % (NODE, cfg)))
        ok(await pep(o, None, "<publish node='%s'><item id='i1'><entry "
                     "xmlns='urn:test'>hello friends</entry></item></publish>"
                     % NODE))
        owner = inst.jid("rown")
        items_of = lambda c: pep_items(c, owner, NODE)  # noqa: E731

        # A (Friends) retrieves and subscribes.
        r, its = await until(lambda: items_of(a), allowed)
        ok(r)
        assert [i.get("id") for i in its] == ["i1"]
        r = ok(await pep(a, owner, "<subscribe node='%s' jid='%s'/>"
                         % (NODE, inst.jid("rfriend"))))
        sub = r.xml.find(q(PS, "pubsub")).find(q(PS, "subscription"))
        assert sub.get("subscription") == "subscribed"
        # B (Work) is refused both (6.5.9 items, 6.1.3.3 subscribe).
        assert refused(await items_of(b))
        r = await pep(b, owner, "<subscribe node='%s' jid='%s'/>"
                      % (NODE, inst.jid("rwork")))
        assert err(r) == ("not-authorized", "not-in-roster-group")
        # No roster relation at all: refused the same way.
        assert refused(await items_of(s))

        # The form returns the groups allowed.
        r = ok(await xu.iq(o, None, "<pubsub xmlns='%s'><configure node='%s'/>"
                           "</pubsub>" % (PSO, NODE)))
        x = r.xml.find(q(PSO, "pubsub")).find(q(PSO, "configure")).find(
            q(XDATA, "x"))
        f = [f for f in x.findall(q(XDATA, "field"))
             if f.get("var") == "pubsub#roster_groups_allowed"]
        assert [v.text for v in f[0].findall(q(XDATA, "value"))] == ["Friends"]

        # Moving B into Friends lets it in at once; A out of it, not.
        ok(await roster_set(o, inst.jid("rwork"), "B", ["Work", "Friends"]))
        r, its = await until(lambda: items_of(b), allowed)
        ok(r)
        assert [i.get("id") for i in its] == ["i1"]
        ok(await roster_set(o, inst.jid("rfriend"), "A", ["Work"]))
        assert refused(await until(lambda: items_of(a), refused))

        # Configure a second group: A is back through it.
        cfg = form({"pubsub#roster_groups_allowed": "Work"})
        ok(await xu.iq(o, None, "<pubsub xmlns='%s'><configure node='%s'>%s"
                       "</configure></pubsub>" % (PSO, NODE, cfg), itype="set"))
        assert allowed(await items_of(a))
        for c in (o, a, b, s):
            await c.close()
    xu.run(t(), timeout=60)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    i = start_instance(tmp_path_factory.mktemp("pep-limits"),
                       extra_conf="pep-max-nodes-per-owner 2\n"
                                  "pep-max-items 5\n")
    i.adduser("lown", PW)
    yield i
    assert i.stop(), "processes were left behind at stop"


def test_nodes_per_owner_limit(limited):
    async def t():
        o = await login(limited, "lown")
        for n in ("n1", "n2"):
            ok(await pep(o, None, "<create node='urn:test:%s'/>" % n))
        # The third: policy-violation (the owner's quota, RFC 6120
        # 8.3.3.12), and the node does not exist afterwards.
        r = await pep(o, None, "<create node='urn:test:n3'/>")
        assert err(r) == ("policy-violation", None)
        assert r.xml.find("{jabber:client}error").get("type") == "modify"
        r, _ = await pep_items(o, None, "urn:test:n3")
        assert err(r)[0] == "item-not-found"
        # Publishing to a new node (auto-create, 7.1.4) hits it too.
        r = await pep(o, None, "<publish node='urn:test:n4'><item><entry "
                      "xmlns='urn:test'>x</entry></item></publish>")
        assert err(r) == ("policy-violation", None)
        # Deleting one makes room.
        ok(await xu.iq(o, None, "<pubsub xmlns='%s'><delete node='urn:test:n1'/>"
                       "</pubsub>" % PSO, itype="set"))
        ok(await pep(o, None, "<create node='urn:test:n3'/>"))
        # pep-max-items 5: the ceiling of max_items, and what max means.
        cfg = form({"pubsub#max_items": "6"})
        r = await xu.iq(o, None, "<pubsub xmlns='%s'><configure node="
                        "'urn:test:n3'>%s</configure></pubsub>" % (PSO, cfg),
                        itype="set")
        assert err(r)[0] == "not-acceptable"
        cfg = form({"pubsub#max_items": "max"})
        ok(await xu.iq(o, None, "<pubsub xmlns='%s'><configure node="
                       "'urn:test:n3'>%s</configure></pubsub>" % (PSO, cfg),
                       itype="set"))
        for k in range(7):
            ok(await pep(o, None, "<publish node='urn:test:n3'><item id='%d'>"
                         "<entry xmlns='urn:test'>%d</entry></item></publish>"
                         % (k, k)))
        _, its = await pep_items(o, None, "urn:test:n3")
        assert [i.get("id") for i in its] == ["2", "3", "4", "5", "6"]
        await o.close()
    xu.run(t(), timeout=60)
