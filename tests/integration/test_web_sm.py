"""XEP-0198 over WebSocket (RFC 7395), with a raw client in Python.

A session logs in over the plain loopback WebSocket listener (SASL PLAIN,
bind, <enable resume='true'/>), receives messages a slixmpp TCP client
sends to its full JID (after its initial presence), and drops the TCP connection without acking them
or closing the stream.  While it hibernates more messages arrive.  A new
WebSocket authenticates and resumes with the old 'h' (XEP-0198 5; it
counts only the presence echo as handled): every message after it comes
again, in order, then the resumed session
sends and receives as before.  A WebSocket close frame without <close/>
is an unclean end too (docs/web.md) and resumes the same way.
"""
import asyncio
import base64
import xml.etree.ElementTree as ET

import pytest

import xmpp_util as xu
from test_web_protocol import ws_handshake, ws_recv, ws_send

PW = "pw-web-sm-1"
SM = "urn:xmpp:sm:3"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


class WS:
    """One RFC 7395 connection: one element per text message."""

    def __init__(self, inst):
        self.inst = inst
        self.s, (st, _, _) = ws_handshake(inst)
        assert st == 101
        self.s.settimeout(10)

    def send(self, xml):
        ws_send(self.s, xml.encode())

    def recv(self):
        while True:
            op, data = ws_recv(self.s)
            if op == 9:		# keepalive ping
                ws_send(self.s, data, opcode=10)
                continue
            assert op == 1, (op, data)
            return ET.fromstring(data)

    def recv_not_r(self):
        """The next element that is not an <r/> ack request."""
        while True:
            el = self.recv()
            if el.tag != "{%s}r" % SM:
                return el

    def open(self):
        self.send("<open xmlns='%s' to='%s' version='1.0'/>"
                  % (FRAMING, self.inst.domain))
        assert self.recv().tag == "{%s}open" % FRAMING
        return self.recv()	# stream:features

    def login(self, user):
        self.open()
        cred = base64.b64encode(b"\0" + user.encode() + b"\0" + PW.encode())
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                  "mechanism='PLAIN'>%s</auth>" % cred.decode())
        el = self.recv()
        assert el.tag.endswith("}success"), ET.tostring(el)
        return self.open()

    def bind(self, resource):
        self.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:"
                  "ns:xmpp-bind'><resource>%s</resource></bind></iq>" % resource)
        el = self.recv()
        assert el.get("type") == "result", ET.tostring(el)
        return el.find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid").text

    def close(self):
        self.s.close()


def body(el):
    b = el.find("{jabber:client}body")
    return b.text if b is not None else None


async def bodies(ws, n):
    """n messages, skipping <r/>, read off the event loop's thread."""
    out = []
    for _ in range(n):
        el = await asyncio.to_thread(ws.recv_not_r)
        assert el.tag == "{jabber:client}message", ET.tostring(el)
        out.append(body(el))
    return out


async def resume_after_drop(inst, drop):
    peer = await xu.login(inst, "smpeer", PW, resource="tcp")
    ws = WS(inst)
    try:
        feats = ws.login("smuser")
        assert feats.find("{%s}sm" % SM) is not None, ET.tostring(feats)
        full = ws.bind("web")
        ws.send("<enable xmlns='%s' resume='true'/>" % SM)
        en = ws.recv()
        assert en.tag == "{%s}enabled" % SM and en.get("resume") in ("true", "1")
        previd = en.get("id")
        # initial presence: messages go to available resources; its echo
        # is the first stanza we handle (h=1)
        ws.send("<presence xmlns='jabber:client'/>")
        el = ws.recv_not_r()
        assert el.tag == "{jabber:client}presence" and el.get("from") == full
        for i in range(3):
            peer.send_message(mto=full, mbody="m%d" % i, mtype="chat")
        assert await bodies(ws, 3) == ["m0", "m1", "m2"]
        drop(ws)	# nothing acked, no <close/>
        await asyncio.sleep(0.5)
        for i in range(3, 5):	# to the hibernating session
            peer.send_message(mto=full, mbody="m%d" % i, mtype="chat")
        await asyncio.sleep(0.5)

        ws = WS(inst)
        feats = ws.login("smuser")
        assert feats.find("{%s}sm" % SM) is not None
        ws.send("<resume xmlns='%s' previd='%s' h='1'/>" % (SM, previd))
        el = ws.recv()
        assert el.tag == "{%s}resumed" % SM, ET.tostring(el)
        assert el.get("previd") == previd
        assert el.get("h") == "1"	# it handled our presence
        # everything after the presence echo again, then the new ones
        assert await bodies(ws, 5) == ["m0", "m1", "m2", "m3", "m4"]
        ws.send("<a xmlns='%s' h='6'/>" % SM)
        # the resumed session is the same full JID, both ways
        ws.send("<message xmlns='jabber:client' to='%s' type='chat'><body>back</body></message>"
                % inst.jid("smpeer"))
        m = await peer.next_message(timeout=10)
        assert m["body"] == "back" and str(m["from"]) == full
        peer.send_message(mto=full, mbody="after", mtype="chat")
        assert await bodies(ws, 1) == ["after"]
        # acknowledged and closed: nothing left to hibernate or bounce
        ws.send("<a xmlns='%s' h='7'/>" % SM)
        ws.send("<close xmlns='%s'/>" % FRAMING)
        assert ws.recv_not_r().tag == "{%s}close" % FRAMING
    finally:
        ws.close()
        await peer.close()


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("smuser", "smpeer"):
        instance.adduser(u, PW)
    return instance


def test_ws_resume_after_tcp_drop(inst):
    xu.run(resume_after_drop(inst, lambda ws: ws.close()), timeout=60)


def test_ws_resume_after_close_frame(inst):
    """A close frame (code 1001, a page going away) without <close/>."""
    def going_away(ws):
        ws_send(ws.s, b"\x03\xe9", opcode=8)
        while True:	# an <r/> may be on its way; then the reply
            op, data = ws_recv(ws.s)
            if op == 8:
                break
            assert op == 1 and b"<r " in data, data
        ws.close()
    xu.run(resume_after_drop(inst, going_away), timeout=60)
