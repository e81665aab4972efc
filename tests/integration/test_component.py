"""s2sd: external components (XEP-0114) through the real suite.

A slixmpp ComponentXMPP authenticates on the component listener with the
shared secret from the configuration and exchanges a custom payload and an
iq with a slixmpp client; raw sockets check the handshake's failures
(wrong secret, unknown domain), the from-domain check (invalid-from), the
error a client gets while the component is away, and that the secret never
appears in the log (docs/s2s.md).
"""
import asyncio
import hashlib
import socket
import xml.etree.ElementTree as ET

import pytest
import slixmpp
import slixmpp.exceptions
from slixmpp.componentxmpp import ComponentXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import xmpp_util as xu
from conftest import free_port_base, start_instance
from xmpp_util import q

PW = "pw-component-1"
COMP = "comp.localhost"
SECRET = "c0mp-s3cret-never-logged"
NS_COMP = "jabber:component:accept"
NS_STREAM = "http://etherx.jabber.org/streams"
PAYLOAD = ('<gadget xmlns="urn:example:gadget" mode="x&amp;y">'
           '<part n="1">wheel &lt;left&gt;</part><part n="2"/></gadget>')


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    port = free_port_base(1)
    extra = ('listen component on 127.0.0.1 port %d\n'
             'component "%s" {\n\tsecret "%s"\n}\n' % (port, COMP, SECRET))
    i = start_instance(tmp_path_factory.mktemp("rampart"), extra_conf=extra)
    i.comp_port = port
    i.adduser("alice", PW)
    yield i
    assert i.stop(), "processes were left behind at stop"


class Comp(ComponentXMPP):
    def __init__(self, inst, secret=SECRET):
        super().__init__(COMP, secret, "127.0.0.1", inst.comp_port)
        self.started = asyncio.get_event_loop().create_future()
        self.messages = asyncio.Queue()
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("message", self.messages.put_nowait)

    def _start(self, _):
        if not self.started.done():
            self.started.set_result(True)


async def component(inst):
    c = Comp(inst)
    c.connect()
    await asyncio.wait_for(asyncio.shield(c.started), 10)
    return c


class RawComp:
    """A component connection driven byte by byte."""

    def __init__(self, inst, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", inst.comp_port),
                                             timeout=timeout)
        self.parser = ET.XMLPullParser(("start", "end"))
        self.depth = 0
        self.header = None
        self.ready = []
        self.eof = False

    def send(self, s):
        self.sock.sendall(s.encode())

    def open(self, to=COMP):
        self.send("<stream:stream xmlns='%s' xmlns:stream='%s' to='%s'>"
                  % (NS_COMP, NS_STREAM, to))

    def next(self, want_header=False):
        while not self.ready and not (want_header and self.header is not None):
            data = self.sock.recv(65536)
            if not data:
                self.eof = True
                raise xu.StreamClosed()
            self.parser.feed(data)
            for ev, el in self.parser.read_events():
                if ev == "start":
                    self.depth += 1
                    if self.depth == 1:
                        self.header = el
                else:
                    self.depth -= 1
                    if self.depth == 1:
                        self.ready.append(el)
        return self.ready.pop(0) if self.ready else None

    def handshake(self, secret=SECRET):
        self.next(want_header=True)
        sid = self.header.get("id")
        self.send("<handshake>%s</handshake>"
                  % hashlib.sha1((sid + secret).encode()).hexdigest())
        return self.next()

    def stream_error(self):
        el = self.next()
        assert el.tag == q(NS_STREAM, "error"), ET.tostring(el)
        return xu.stream_error_condition(el)

    def close(self):
        self.sock.close()


def test_payload_both_ways(inst):
    async def go():
        k = await component(inst)
        a = await xu.login(inst, "alice", PW, resource="a1")
        try:
            m = a.make_message(mto="bot@" + COMP, mtype="chat", mbody="hi bot")
            m.append(ET.fromstring(PAYLOAD))
            m.send()
            got = await asyncio.wait_for(k.messages.get(), 5)
            assert str(got["from"]) == str(a.boundjid)
            assert got["body"] == "hi bot"
            g = got.xml.find(q("urn:example:gadget", "gadget"))
            assert g is not None and xu.xml_equal(g, ET.fromstring(PAYLOAD)), \
                str(got)
            r = k.make_message(mto=str(a.boundjid), mfrom="bot@" + COMP,
                               mtype="chat", mbody="hi alice")
            r.append(ET.fromstring(PAYLOAD))
            r.send()
            m = await a.next_message()
            assert str(m["from"]) == "bot@" + COMP and m["body"] == "hi alice"
            g = m.xml.find(q("urn:example:gadget", "gadget"))
            assert g is not None and xu.xml_equal(g, ET.fromstring(PAYLOAD))
        finally:
            await a.close()
            k.disconnect()
    xu.run(go())


def test_iq_to_component(inst):
    async def go():
        k = await component(inst)

        def answer(req):
            r = req.reply(clear=True)
            r.append(ET.fromstring("<query xmlns='urn:example:echo'>"
                                   "<answer>42</answer></query>"))
            r.send()
        k.register_handler(Callback("echo", MatchXPath(
            "{%s}iq/{urn:example:echo}query" % NS_COMP), answer))
        a = await xu.login(inst, "alice", PW, resource="a2")
        try:
            r = await xu.iq(a, COMP, "<query xmlns='urn:example:echo'/>")
            assert r["type"] == "result", str(r)
            assert str(r["from"]) == COMP
            ans = r.xml.find("%s/%s" % (q("urn:example:echo", "query"),
                                        q("urn:example:echo", "answer")))
            assert ans is not None and ans.text == "42", str(r)
        finally:
            await a.close()
            k.disconnect()
    xu.run(go())


def test_component_may_not_create_pubsub_nodes(inst):
    """pubsub-create local (the default): only accounts of the server
    create nodes on pubsub.<domain>; a component is not one (XEP-0060
    8.1.1, forbidden)."""
    async def go():
        k = await component(inst)
        try:
            req = k.make_iq_set(ito="pubsub.localhost", ifrom=COMP)
            req.append(ET.fromstring("<pubsub xmlns='http://jabber.org/"
                                     "protocol/pubsub'><create node='c1'/>"
                                     "</pubsub>"))
            try:
                r = await req.send(timeout=5)
            except slixmpp.exceptions.IqError as e:
                r = e.iq
            assert r["type"] == "error", str(r)
            # the error as pepd sent it (slixmpp's component mode adds a
            # jabber:client error of its own to the stanza object)
            e = r.xml.find(q(NS_COMP, "error"))
            assert e is not None and e.get("type") == "auth", str(r)
            assert e.find(q("urn:ietf:params:xml:ns:xmpp-stanzas",
                            "forbidden")) is not None, str(r)
        finally:
            k.disconnect()
    xu.run(go())


def test_wrong_secret(inst):
    c = RawComp(inst)
    try:
        c.open()
        el = c.handshake(secret="not-the-secret")
        assert el.tag == q(NS_STREAM, "error")
        assert xu.stream_error_condition(el) == "not-authorized"
    finally:
        c.close()


def test_unknown_domain(inst):
    c = RawComp(inst)
    try:
        c.open(to="nobody.localhost")
        assert c.stream_error() == "host-unknown"
    finally:
        c.close()


def test_stanza_before_handshake(inst):
    c = RawComp(inst)
    try:
        c.open()
        c.send("<message from='bot@%s' to='alice@localhost'><body>x</body>"
               "</message>" % COMP)
        assert c.stream_error() == "not-authorized"
    finally:
        c.close()


def test_from_outside_its_domain(inst):
    async def go():
        a = await xu.login(inst, "alice", PW, resource="a3")
        c = RawComp(inst)
        try:
            c.open()
            el = c.handshake()
            assert el.tag == q(NS_COMP, "handshake"), ET.tostring(el)
            # a forged local sender: refused, and nothing reaches alice
            c.send("<message from='bob@localhost' to='%s'><body>forged</body>"
                   "</message>" % a.boundjid)
            assert c.stream_error() == "invalid-from"
            await a.no_message(0.5)
        finally:
            c.close()
            await a.close()
    xu.run(go())


def test_component_away_bounces(inst):
    async def go():
        a = await xu.login(inst, "alice", PW, resource="a4")
        try:
            r = await xu.iq(a, "bot@" + COMP, "<query xmlns='urn:example:echo'/>")
            assert r["type"] == "error", str(r)
            assert xu.stanza_error_condition(r.xml)[1] == "service-unavailable"
        finally:
            await a.close()
    xu.run(go())


def test_one_stream_per_component(inst):
    c1, c2 = RawComp(inst), RawComp(inst)
    try:
        c1.open()
        assert c1.handshake().tag == q(NS_COMP, "handshake")
        c2.open()
        el = c2.handshake()
        assert xu.stream_error_condition(el) == "conflict"
    finally:
        c1.close()
        c2.close()


def test_secret_not_logged(inst):
    assert SECRET not in inst.log()
