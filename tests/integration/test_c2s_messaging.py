"""c2sd + routerd: stanzas between real clients (RFC 6120 8, RFC 6121 8).

Chat between two slixmpp clients to full and bare JIDs, custom payloads
that must arrive unchanged, iqs between clients, the errors for what
cannot be delivered (docs/routing.md), the server's own iqs (ping,
disco, version, time), a forged 'from' (RFC 6120 8.1.2.1: c2sd answers
with the invalid-from stream error), malformed 'to' (jid-malformed) and
XEP-0198 resumption after a dropped TCP connection.
"""
import asyncio
import xml.etree.ElementTree as ET

import pytest
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import xmpp_util as xu
from xmpp_util import q

PW = "pw-messaging-1"
GREET = ('<greet xmlns="http://example.com/greetprotocol"><type>wave</type>'
         '<to who="all" n="3">everyone &amp; &lt;friends&gt;</to></greet>')


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("alice", "bob", "dave", "erin", "frank"):
        instance.adduser(u, PW)
    return instance


def error_of(stanza):
    return xu.stanza_error_condition(stanza)


def test_chat_full_and_bare_jid(inst):
    async def go():
        a = await xu.login(inst, "alice", PW, resource="a1")
        b = await xu.login(inst, "bob", PW, resource="b1")
        try:
            a.send_message(mto=str(b.boundjid), mbody="hello full", mtype="chat")
            m = await b.next_message()
            assert m["body"] == "hello full" and m["type"] == "chat"
            assert str(m["from"]) == str(a.boundjid)
            assert str(m["to"]) == str(b.boundjid)
            b.send_message(mto=inst.jid("alice"), mbody="hello bare", mtype="chat")
            m = await a.next_message()
            assert m["body"] == "hello bare"
            assert str(m["from"]) == str(b.boundjid)
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_custom_payload_arrives_unchanged(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        b = await xu.login(inst, "bob", PW)
        try:
            msg = a.make_message(mto=str(b.boundjid), mtype="chat")
            msg.append(ET.fromstring(GREET))
            msg.send()
            m = await b.next_message()
            got = m.xml.find(q("http://example.com/greetprotocol", "greet"))
            assert got is not None, str(m)
            assert xu.xml_equal(got, ET.fromstring(GREET)), ET.tostring(got)
            assert str(m["from"]) == str(a.boundjid)
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_chat_after_idle_sweep(inst):
    """c2sd frees the parser of a stream that read nothing for an idle
    sweep (C2SD_IDLE_SWEEP, 5 s) and makes a new one on the next read,
    replaying the client's stream header: stanzas after that still parse
    with the header's namespaces, and payloads still arrive unchanged."""
    async def go():
        a = await xu.login(inst, "alice", PW)
        b = await xu.login(inst, "bob", PW)
        try:
            a.send_message(mto=str(b.boundjid), mbody="before", mtype="chat")
            assert (await b.next_message())["body"] == "before"
            await asyncio.sleep(11)     # two sweeps: both parsers freed
            msg = a.make_message(mto=str(b.boundjid), mtype="chat")
            msg["body"] = "after"
            msg.append(ET.fromstring(GREET))
            msg.send()
            m = await b.next_message()
            assert m["body"] == "after"
            got = m.xml.find(q("http://example.com/greetprotocol", "greet"))
            assert got is not None and xu.xml_equal(got, ET.fromstring(GREET))
            b.send_message(mto=str(a.boundjid), mbody="reply", mtype="chat")
            assert (await a.next_message())["body"] == "reply"
            r = await xu.iq(a, None, "<query xmlns='jabber:iq:roster'/>",
                            "get")
            assert r["type"] == "result", str(r)
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_iq_between_clients_round_trips(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        b = await xu.login(inst, "bob", PW)
        seen = []

        def answer(req):
            seen.append(ET.tostring(req.xml).decode())
            r = req.reply(clear=True)
            r.append(ET.fromstring("<query xmlns='urn:example:echo'><answer>42</answer></query>"))
            r.send()
        b.register_handler(Callback("echo", MatchXPath(
            "{jabber:client}iq/{urn:example:echo}query"), answer))
        try:
            r = await xu.iq(a, str(b.boundjid),
                            "<query xmlns='urn:example:echo'><ask>six times seven</ask></query>")
            assert r["type"] == "result", str(r)
            assert str(r["from"]) == str(b.boundjid)
            ans = r.xml.find("%s/%s" % (q("urn:example:echo", "query"),
                                        q("urn:example:echo", "answer")))
            assert ans is not None and ans.text == "42", str(r)
            assert len(seen) == 1 and "six times seven" in seen[0]
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_iq_to_absent_resource_is_service_unavailable(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        b = await xu.login(inst, "bob", PW)
        try:
            r = await xu.iq(a, inst.jid("bob") + "/nosuchresource",
                            "<query xmlns='urn:example:echo'/>")
            assert r["type"] == "error", str(r)
            assert error_of(r) == ("cancel", "service-unavailable"), str(r)
        finally:
            await a.close()
            await b.close()
    xu.run(go())


def test_message_to_offline_user_is_stored_and_delivered_at_login(inst):
    """No available resource: imd stores the message (XEP-0160) instead of
    bouncing it, and delivers it with a delay stamp (XEP-0203) at login."""
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            a.send_message(mto=inst.jid("dave"), mbody="are you there?",
                           mtype="chat")
            await a.no_message(wait=1.0)    # no error comes back
        finally:
            await a.close()
        d = await xu.login(inst, "dave", PW)
        try:
            m = await d.next_message(timeout=10)
            assert m["body"] == "are you there?", str(m)
            assert str(m["from"]).startswith(inst.jid("alice")), str(m)
            assert "urn:xmpp:delay" in str(m), str(m)
        finally:
            await d.close()
    xu.run(go())


def test_message_to_remote_domain_is_remote_server_not_found(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            a.send_message(mto="someone@remote.invalid", mbody="hi", mtype="chat")
            m = await a.next_message(timeout=15)
            assert m["type"] == "error", str(m)
            assert error_of(m) == ("cancel", "remote-server-not-found"), str(m)
        finally:
            await a.close()
    xu.run(go())


def test_server_ping(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            r = await xu.iq(a, inst.domain, "<ping xmlns='urn:xmpp:ping'/>")
            assert r["type"] == "result" and str(r["from"]) == inst.domain, str(r)
        finally:
            await a.close()
    xu.run(go())


def test_server_disco_info(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            r = await xu.iq(a, inst.domain,
                            "<query xmlns='http://jabber.org/protocol/disco#info'/>")
            assert r["type"] == "result", str(r)
            ns = "http://jabber.org/protocol/disco#info"
            query = r.xml.find(q(ns, "query"))
            feats = {f.get("var") for f in query.findall(q(ns, "feature"))}
            for want in ("urn:xmpp:ping", ns, "http://jabber.org/protocol/disco#items",
                         "jabber:iq:version", "urn:xmpp:time"):
                assert want in feats, feats
            ids = {(i.get("category"), i.get("type")) for i in query.findall(q(ns, "identity"))}
            assert ("server", "im") in ids, ids
        finally:
            await a.close()
    xu.run(go())


def test_server_version(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            r = await xu.iq(a, inst.domain, "<query xmlns='jabber:iq:version'/>")
            assert r["type"] == "result", str(r)
            query = r.xml.find(q("jabber:iq:version", "query"))
            assert query.find(q("jabber:iq:version", "name")).text == "Rampart"
            assert query.find(q("jabber:iq:version", "version")).text
        finally:
            await a.close()
    xu.run(go())


def test_server_time(inst):
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            r = await xu.iq(a, inst.domain, "<time xmlns='urn:xmpp:time'/>")
            assert r["type"] == "result", str(r)
            t = r.xml.find(q("urn:xmpp:time", "time"))
            utc = t.find(q("urn:xmpp:time", "utc")).text
            tzo = t.find(q("urn:xmpp:time", "tzo")).text
            assert len(utc) >= 20 and utc.endswith("Z") and utc[10] == "T", utc
            assert tzo[0] in "+-" and tzo[3] == ":", tzo
        finally:
            await a.close()
    xu.run(go())


def test_spoofed_from_never_arrives(inst):
    async def go():
        a = await xu.login(inst, "erin", PW)
        b = await xu.login(inst, "bob", PW)
        try:
            a.send_raw("<message from='%s/x' to='%s' type='chat' id='spoof1'>"
                       "<body>forged</body></message>"
                       % (inst.jid("alice"), b.boundjid))
            # c2sd answers a forged 'from' with invalid-from (RFC 6120
            # 8.1.2.1 / 4.9.3.9) and closes the stream.
            await asyncio.wait_for(asyncio.shield(a.gone), 5)
            assert a.stream_errors == ["invalid-from"]
            await b.no_message(1.0)
        finally:
            await a.close()
            await b.close()
    xu.run(go())


@pytest.mark.parametrize("bad", ["a@b@c", "@x", "user@", "u@dom/"])
def test_malformed_to_is_jid_malformed(inst, bad):
    async def go():
        a = await xu.login(inst, "alice", PW)
        try:
            a.send_raw("<message to='%s' type='chat' id='bad1'><body>x</body></message>" % bad)
            m = await a.next_message()
            assert m["type"] == "error" and m["id"] == "bad1", str(m)
            assert error_of(m) == ("modify", "jid-malformed"), str(m)
            # The stream is still fine.
            r = await xu.iq(a, inst.domain, "<ping xmlns='urn:xmpp:ping'/>")
            assert r["type"] == "result"
        finally:
            await a.close()
    xu.run(go())


def test_sm_resume_after_dropped_connection(inst):
    async def go():
        a = await xu.login(inst, "frank", PW, resource="mobile", plugins=("xep_0198",))
        b = await xu.login(inst, "bob", PW)
        try:
            sm = a["xep_0198"]
            for _ in range(50):
                if sm.sm_id:
                    break
                await asyncio.sleep(0.1)
            assert sm.sm_id, "stream management was not enabled with resume"
            full = str(a.boundjid)
            resumed = asyncio.get_event_loop().create_future()
            a.add_event_handler("session_resumed",
                                lambda _: resumed.done() or resumed.set_result(True))
            a.abort()	# TCP gone, no </stream:stream>
            await asyncio.wait_for(asyncio.shield(a.gone), 3)
            await asyncio.sleep(0.5)	# let c2sd notice the drop
            b.send_message(mto=full, mbody="while you were away", mtype="chat")
            await asyncio.sleep(0.5)
            a.connect((inst.host, inst.port))
            await asyncio.wait_for(resumed, 10)
            assert str(a.boundjid) == full
            m = await a.next_message(timeout=5)
            assert m["body"] == "while you were away", str(m)
            assert str(m["from"]) == str(b.boundjid)
        finally:
            await a.close()
            await b.close()
    xu.run(go())
