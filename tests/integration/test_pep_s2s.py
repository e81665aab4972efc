"""PEP across federation (docs/pep.md, "Remote contacts"): two Rampart
instances, pa.test (127.0.0.12) and pb.test (127.0.0.13), each on its own
loopback address with port 5269, found through /etc/hosts entries this
module adds and removes (its own mark and addresses, so it does not
disturb test_s2s.py).  Streams authenticate with dialback.

- A remote entity with no relation reads an account's open node (an
  OMEMO bundle) and lists it with disco#items: s2sd marks inbound
  pubsub and PEP disco iqs to a local bare JID RFF_PEP.
- A remote contact with a mutual subscription and +notify caps gets
  the last item when it comes online (pepd asks its caps over s2s),
  every new item, and presence-model access; it stops being a contact
  when it goes offline, and its subscription's end removes it.
- When the remote domain's streams are lost, its contacts go
  unavailable in pepd.

Needs root (for /etc/hosts and port 5269).
"""
import asyncio
import os
import signal
import time

import pytest

import xmpp_util as xu
from test_pep import NS_TUNE, PS, PW, TUNE, err, ok, pep_login, tune_events
from test_s2s import start
from xmpp_util import q

HOSTS = [("127.0.0.12", "pa.test"), ("127.0.0.13", "pb.test")]
MARK = "# rampart test_pep_s2s"
BUNDLE = "eu.siacs.conversations.axolotl.bundles:7"

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to edit /etc/hosts")


def hosts_remove():
    with open("/etc/hosts") as f:
        lines = [l for l in f if MARK not in l]
    with open("/etc/hosts", "w") as f:
        f.writelines(lines)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    hosts_remove()
    with open("/etc/hosts", "a") as f:
        for addr, name in HOSTS:
            f.write("%s %s %s\n" % (addr, name, MARK))
    tmp = tmp_path_factory.mktemp("pep-s2s")
    insts = []
    try:
        for addr, name in HOSTS:
            insts.append(start(tmp, addr, name))
        for i in insts:
            for u in ("olive", "vic", "sam", "rita"):
                i.adduser(u, PW)
        yield insts
    finally:
        stopped = [i.stop() for i in insts]
        hosts_remove()
    assert all(stopped), "processes were left behind at stop"


async def publish(c, owner_jid, node, inner, opts=""):
    return await xu.iq(c, owner_jid, (
        "<pubsub xmlns='%s'><publish node='%s'><item id='x'>%s</item>"
        "</publish>%s</pubsub>") % (PS, node, inner, opts), "set", timeout=15)


def test_remote_reads_open_node(pair):
    a, b = pair

    async def t():
        olive = await pep_login(a, "olive")
        sam = await pep_login(b, "sam")
        try:
            opts = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
                    "<field var='FORM_TYPE' type='hidden'><value>%s"
                    "#publish-options</value></field><field var="
                    "'pubsub#access_model'><value>open</value></field>"
                    "</x></publish-options>" % PS)
            ok(await publish(olive, a.jid("olive"), BUNDLE,
                             "<bundle xmlns='eu.siacs.conversations.axolotl'>"
                             "<signedPreKeyPublic/></bundle>", opts))
            # a remote entity with no roster relation (XEP-0384 bundle)
            r = ok(await xu.iq(sam, a.jid("olive"),
                               "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
                               % (PS, BUNDLE), timeout=20))
            its = r.xml.find(q(PS, "pubsub")).find(q(PS, "items"))
            assert [i.get("id") for i in its] == ["x"]
            assert str(r["from"]) == a.jid("olive")
            # PEP disco from afar: the open node only
            r = await sam["xep_0030"].get_items(jid=a.jid("olive"), timeout=15)
            assert {n for _, n, _ in r["disco_items"]["items"]} == {BUNDLE}
            info = (await sam["xep_0030"].get_info(jid=a.jid("olive"),
                                                   timeout=15))["disco_info"]
            assert ("pubsub", "pep") in {(i[0], i[1]) for i in info["identities"]}
        finally:
            await olive.close()
            await sam.close()
    xu.run(t(), timeout=90)


def befriend_remote(x, y):
    """x and y (on different servers) subscribe to each other."""
    async def go():
        jx, jy = x.boundjid.bare, y.boundjid.bare
        x.send_presence(pto=jy, ptype="subscribe")
        await y.presence(jx, "subscribe", timeout=15)
        y.send_presence(pto=jx, ptype="subscribed")
        await x.presence(jy, "subscribed", timeout=15)
        y.send_presence(pto=jx, ptype="subscribe")
        await x.presence(jy, "subscribe", timeout=15)
        x.send_presence(pto=jy, ptype="subscribed")
        await y.presence(jx, "subscribed", timeout=15)
    return go()


def test_remote_contact(pair):
    a, b = pair

    async def t():
        olive = await pep_login(a, "olive")
        vic = await pep_login(b, "vic", notify=(TUNE,))
        sam = await pep_login(b, "sam")
        get = "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (PS, TUNE)
        try:
            payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Faust</artist>"
                                       "</tune>" % NS_TUNE)
            await olive["xep_0060"].publish(None, TUNE, id="r1", payload=payload)
            # not a contact yet: presence model refuses (XEP-0060 6.5.9)
            r = await xu.iq(vic, a.jid("olive"), get, timeout=20)
            assert err(r) == ("not-authorized", "presence-subscription-required")
            await befriend_remote(vic, olive)
            # vic's presence reaches pa.test after the approval: pepd
            # asks its caps over s2s and sends the last item (4.3.2)
            m, it = await tune_events(vic, timeout=20)
            assert str(m["from"]) == a.jid("olive") and it.get("id") == "r1"
            ok(await xu.iq(vic, a.jid("olive"), get, timeout=20))
            r = await xu.iq(sam, a.jid("olive"), get, timeout=20)
            assert err(r) == ("not-authorized", "presence-subscription-required")
            # a new item reaches the remote contact (4.3.3)
            payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Can</artist>"
                                       "</tune>" % NS_TUNE)
            await olive["xep_0060"].publish(None, TUNE, id="r2", payload=payload)
            m, it = await tune_events(vic, timeout=20)
            assert it.get("id") == "r2"
            # offline: no longer a contact in pepd
            await vic.close()
            await asyncio.sleep(2)
            r = await xu.iq(olive, a.jid("olive"), "<pubsub xmlns='%s'>"
                            "<items node='%s'/></pubsub>" % (PS, TUNE))
            ok(r)
            vic = await pep_login(b, "vic", notify=(TUNE,))
            m, it = await tune_events(vic, timeout=20)
            assert it.get("id") == "r2"       # the last item again, online
            # olive cancels vic's subscription: not a contact any more
            olive.send_presence(pto=b.jid("vic"), ptype="unsubscribed")
            await vic.presence(a.jid("olive"), "unsubscribed", timeout=15)
            await asyncio.sleep(1)
            r = await xu.iq(vic, a.jid("olive"), get, timeout=20)
            assert err(r) == ("not-authorized", "presence-subscription-required")
        finally:
            await olive.close()
            await vic.close()
            await sam.close()
    xu.run(t(), timeout=120)


async def item_id(c, want):
    """Tune events until the one with id `want` (the last item that
    greets a new contact may come first)."""
    while True:
        m, it = await tune_events(c, timeout=20)
        if it.get("id") == want:
            return it


def test_streams_lost(pair):
    """The remote server's s2sd dies (no closing tag): pa.test's pepd
    takes pb.test's contacts as unavailable, so a remote contact has no
    presence-model access until it sends presence again."""
    a, b = pair

    async def t():
        olive = await pep_login(a, "olive", notify=(TUNE,))
        sam = await pep_login(b, "sam", notify=(TUNE,))
        get = "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (PS, TUNE)
        try:
            await befriend_remote(sam, olive)
            payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Neu</artist>"
                                       "</tune>" % NS_TUNE)
            await olive["xep_0060"].publish(None, TUNE, id="l1", payload=payload)
            await item_id(sam, "l1")
            ok(await xu.iq(sam, a.jid("olive"), get, timeout=20))
            n = a.log().count("at pb.test unavailable")
            old = b.pid_of("s2sd")
            os.kill(old, signal.SIGKILL)
            b.wait_ready("s2sd", timeout=15, not_pid=old)
            t0 = time.time()
            while a.log().count("at pb.test unavailable") == n:
                assert time.time() - t0 < 10, "pa.test saw no loss"
                await asyncio.sleep(0.2)
            r = await xu.iq(sam, a.jid("olive"), get, timeout=20)
            assert err(r) == ("not-authorized", "presence-subscription-required")
            # its next presence makes it a contact again
            sam.send_presence()
            await item_id(sam, "l1")
            ok(await xu.iq(sam, a.jid("olive"), get, timeout=20))
        finally:
            await olive.close()
            await sam.close()
    xu.run(t(), timeout=120)


def test_remote_contact_owner_subscribed_first(pair):
    """The owner subscribes to the remote contact first, then approves
    its request: the contact's presence came while it had no from
    subscription, so imd probes it (RFC 6121 4.3) and the answer makes it
    a PEP contact, with the last item."""
    a, b = pair

    async def t():
        olive = await pep_login(a, "olive")
        rita = await pep_login(b, "rita", notify=(TUNE,))
        try:
            payload = xu.ET.fromstring("<tune xmlns='%s'><artist>Cluster"
                                       "</artist></tune>" % NS_TUNE)
            await olive["xep_0060"].publish(None, TUNE, id="f1", payload=payload)
            await befriend_remote(olive, rita)
            await item_id(rita, "f1")
        finally:
            await olive.close()
            await rita.close()
    xu.run(t(), timeout=90)
