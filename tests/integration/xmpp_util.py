"""Helpers for the c2sd integration tests: real clients over real TLS.

Two kinds of client:

- RawStream: a blocking socket (plain, STARTTLS or direct TLS) that sends
  bytes exactly as the test writes them and parses what the server sends
  into top-level elements, so a test can see stream headers, features and
  stream errors as they are on the wire.
- Client: a slixmpp ClientXMPP that can be told which SASL mechanism and
  which channel binding to use (slixmpp only knows p=tls-unique, which is
  undefined for TLS 1.3; here it can send p=tls-server-end-point, RFC 5929).

Everything has a timeout so that a hang fails the test within seconds.
Used by tests/integration/test_c2s_*.py.
"""
import asyncio
import base64
import hashlib
import hmac
import os
import socket
import ssl
import time
import xml.etree.ElementTree as ET

import slixmpp
import slixmpp.exceptions
from slixmpp.util.sasl import client as sasl_client
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp.util.sasl.mechanisms import SCRAM

NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_CLIENT = "jabber:client"


def rss_kib(pid):
    """A process's resident set size in KiB (/proc/PID/status VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def asan_factor(pid):
    """4 when the process runs with AddressSanitizer, else 1.  ASan pads
    every allocation and keeps freed memory in quarantine, so memory and
    timing bounds are that much looser there; tests/run repeats the
    resource tests on a plain build, where the tight bounds hold."""
    with open("/proc/%d/maps" % pid) as f:
        return 4 if "libasan" in f.read() else 1


def q(ns, name):
    return "{%s}%s" % (ns, name)


def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx


class StreamClosed(Exception):
    pass


class RawStream:
    """One client connection driven byte by byte by the test."""

    def __init__(self, inst, direct_tls=False, timeout=5.0):
        self.inst = inst
        self.timeout = timeout
        port = inst.tls_port if direct_tls else inst.port
        self.sock = socket.create_connection((inst.host, port), timeout=timeout)
        if direct_tls:
            self._wrap()
        self.eof = False
        self.header = None
        self._reset_parser()

    def _wrap(self):
        self.sock = tls_context(self.inst.cafile).wrap_socket(
            self.sock, server_hostname=self.inst.domain)

    def _reset_parser(self):
        self.parser = ET.XMLPullParser(("start", "end"))
        self.depth = 0
        self.ready = []
        self.header = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _recv(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("no answer from the server")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError):
            data = b""
        except socket.timeout:
            raise TimeoutError("no answer from the server")
        except ssl.SSLError as e:
            if "EOF" in str(e) or "eof" in str(e):
                data = b""
            else:
                raise
        if not data:
            self.eof = True
            raise StreamClosed()
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == "start":
                if self.depth == 0:
                    self.header = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(el)
                    self.header.remove(el)
                elif self.depth == 0:
                    self.ready.append("</stream>")

    def next(self, timeout=None):
        """The next top-level element (or the string "</stream>")."""
        deadline = time.time() + (timeout or self.timeout)
        while not self.ready:
            self._recv(deadline)
        return self.ready.pop(0)

    def wait_header(self, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while self.header is None:
            self._recv(deadline)
        return self.header

    def open(self, to=None, version="1.0", ns=NS_STREAM, extra=""):
        """Send a stream header; returns the server's header element."""
        to = self.inst.domain if to is None else to
        attrs = "xmlns='jabber:client' xmlns:stream='%s'" % ns
        if to is not False:
            attrs += " to='%s'" % to
        if version is not None:
            attrs += " version='%s'" % version
        self._reset_parser()
        self.send("<?xml version='1.0'?><stream:stream %s%s>" % (attrs, extra))
        return self.wait_header()

    def features(self):
        el = self.next()
        assert el != "</stream>" and el.tag == q(NS_STREAM, "features"), \
            "expected stream features, got %s" % describe(el)
        return el

    def starttls(self):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next()
        assert el.tag == q(NS_TLS, "proceed"), describe(el)
        self._wrap()
        self._reset_parser()

    def auth_plain(self, user, password):
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, ir.decode()))
        return self.next()

    def login(self, user, password, resource="raw", direct_tls=False):
        """STARTTLS (unless direct), PLAIN, bind; returns the full JID."""
        self.open()
        f = self.features()
        if f.find(q(NS_TLS, "starttls")) is not None:
            self.starttls()
            self.open()
            self.features()
        el = self.auth_plain(user, password)
        assert el.tag == q(NS_SASL, "success"), describe(el)
        self.open()
        f = self.features()
        assert f.find(q(NS_BIND, "bind")) is not None, describe(f)
        self.send("<iq type='set' id='b1'><bind xmlns='%s'><resource>%s</resource>"
                  "</bind></iq>" % (NS_BIND, resource))
        el = self.next()
        jid = el.find("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid")))
        assert el.get("type") == "result" and jid is not None, describe(el)
        return jid.text

    def expect_stream_error(self, timeout=None):
        """Read until a stream error; return its condition.  Then check
        the server closes the stream and the connection."""
        deadline = time.time() + (timeout or self.timeout)
        while True:
            try:
                el = self.next(max(0.01, deadline - time.time()))
            except StreamClosed:
                raise AssertionError("connection closed without a stream error")
            if el == "</stream>":
                raise AssertionError("stream closed without a stream error")
            if el.tag == q(NS_STREAM, "error"):
                break
        cond = stream_error_condition(el)
        self.expect_closed(max(1.0, deadline - time.time()))
        return cond

    def expect_closed(self, timeout=None):
        """The server ends the stream and closes the connection."""
        deadline = time.time() + (timeout or self.timeout)
        try:
            while True:
                el = self.next(max(0.01, deadline - time.time()))
                if el == "</stream>":
                    # Answer the close (RFC 6120 4.4) so the server
                    # need not wait for its close timeout.
                    try:
                        self.send("</stream:stream>")
                    except OSError:
                        pass
        except StreamClosed:
            return
        except OSError:
            return	# reset while we wrote: closed too

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def scram_parse(data):
    return dict(kv.split(b"=", 1) for kv in data.split(b","))


def scram_exchange(raw, mech, user, password, gs2=b"n,,", cbdata=b"",
                   proof_override=None):
    """Drive one SCRAM exchange (RFC 5802) by hand on a RawStream.

    Returns (server-first attributes or None, the final element).  `gs2`
    and `cbdata` choose the channel binding; `proof_override` sends a
    wrong proof on purpose.
    """
    hname = "sha256" if "SHA-256" in mech else "sha1"
    cnonce = base64.b64encode(os.urandom(18))
    first_bare = b"n=" + user.encode() + b",r=" + cnonce
    raw.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (
        NS_SASL, mech, base64.b64encode(gs2 + first_bare).decode()))
    el = raw.next()
    if el == "</stream>" or el.tag != q(NS_SASL, "challenge"):
        return None, el
    server_first = base64.b64decode(el.text or "")
    a = scram_parse(server_first)
    salted = hashlib.pbkdf2_hmac(hname, password.encode(),
                                 base64.b64decode(a[b"s"]), int(a[b"i"]))
    ckey = hmac.new(salted, b"Client Key", hname).digest()
    stored = hashlib.new(hname, ckey).digest()
    final_wo = b"c=" + base64.b64encode(gs2 + cbdata) + b",r=" + a[b"r"]
    auth_msg = first_bare + b"," + server_first + b"," + final_wo
    sig = hmac.new(stored, auth_msg, hname).digest()
    proof = bytes(x ^ y for x, y in zip(ckey, sig))
    if proof_override is not None:
        proof = proof_override
    raw.send("<response xmlns='%s'>%s</response>" % (
        NS_SASL, base64.b64encode(final_wo + b",p=" + base64.b64encode(proof)).decode()))
    return a, raw.next()


def sasl_failure_condition(el):
    if el == "</stream>" or el.tag != q(NS_SASL, "failure"):
        return None
    for c in el:
        if c.tag.startswith("{%s}" % NS_SASL) and not c.tag.endswith("}text"):
            return c.tag.split("}", 1)[1]
    return None


def stream_error_condition(el):
    for c in el:
        if c.tag.startswith("{%s}" % NS_STREAMS) and not c.tag.endswith("}text"):
            return c.tag.split("}", 1)[1]
    return None


def stanza_error_condition(el):
    """(type, condition) of a stanza error element tree or slixmpp stanza."""
    if hasattr(el, "xml"):
        el = el.xml
    err = el.find(q(NS_CLIENT, "error"))
    if err is None:
        return None, None
    for c in err:
        if c.tag.startswith("{%s}" % NS_STANZAS) and not c.tag.endswith("}text"):
            return err.get("type"), c.tag.split("}", 1)[1]
    return err.get("type"), None


def describe(el):
    if isinstance(el, str):
        return el
    return ET.tostring(el).decode(errors="replace")


# ---- slixmpp ----

class ChannelBindingSCRAM(SCRAM):
    """slixmpp's SCRAM, able to name the channel-binding type.

    When the credentials carry 'cb_name' (the callback below adds it), the
    gs2 header says p=<cb_name> instead of slixmpp's fixed p=tls-unique.
    """

    def process_1(self, challenge):
        msg = SCRAM.process_1(self, challenge)
        name = self.credentials.get("cb_name")
        if self.use_channel_binding and name:
            old = self.gs2_header
            self.gs2_header = b"p=" + name + old[len(b"p=tls-unique"):]
            self.client_first_message = self.gs2_header + \
                self.client_first_message_bare
            msg = self.client_first_message
        return msg


for _name, _cls in list(sasl_client.MECHANISMS.items()):
    if _cls is SCRAM:
        sasl_client.MECHANISMS[_name] = ChannelBindingSCRAM


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records what it receives.

    cb: None   -> no channel binding (gs2 'n'), for plain SCRAM over TLS;
        "tls-server-end-point" -> SHA-256 of the server certificate;
        "tls-unique" -> slixmpp's own tls-unique data.
    """

    def __init__(self, inst, user, password, resource=None, mech=None,
                 cb="tls-server-end-point", plugins=()):
        jid = inst.jid(user) + ("/" + resource if resource else "")
        super().__init__(jid, password)
        self.inst = inst
        self.ca_certs = inst.cafile
        self.cb = cb
        self.messages = asyncio.Queue()
        self.stream_errors = []
        self.auth_failures = []
        self.started = asyncio.get_event_loop().create_future()
        self.gone = asyncio.get_event_loop().create_future()
        fm = self["feature_mechanisms"]
        if mech:
            fm.use_mech = mech
        self._default_creds = fm.sasl_callback
        fm.sasl_callback = self._creds
        for p in ("xep_0030", "xep_0199") + tuple(plugins):
            self.register_plugin(p)
        self.add_event_handler("session_start", self._on_start)
        # Every message, with or without a body, errors included.
        self.register_handler(Callback("ctest messages",
                                       MatchXPath("{jabber:client}message"),
                                       self._on_message))
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("failed_all_auth", self._on_failed_all)
        self.add_event_handler("disconnected", self._on_disconnected)

    def _creds(self, required, optional):
        r = self._default_creds(required, optional)
        if "channel_binding" in r:
            sock = self.socket
            if self.cb is None or not isinstance(sock, (ssl.SSLSocket, ssl.SSLObject)):
                r["channel_binding"] = None
            elif self.cb == "tls-server-end-point":
                der = sock.getpeercert(binary_form=True)
                r["channel_binding"] = hashlib.sha256(der).digest()
                r["cb_name"] = self.cb
            else:
                r["channel_binding"] = sock.get_channel_binding("tls-unique") or b"\0" * 12
                r["cb_name"] = self.cb
        return r

    def _on_start(self, _):
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def _on_message(self, msg):
        self.messages.put_nowait(msg)

    def _on_stream_error(self, err):
        self.stream_errors.append(err["condition"])

    def _on_failed_auth(self, failure):
        self.auth_failures.append(failure["condition"])

    def _on_failed_all(self, _):
        if not self.started.done():
            self.started.set_exception(AssertionError(
                "authentication failed: %s" % self.auth_failures))

    def _on_disconnected(self, _):
        if not self.gone.done():
            self.gone.set_result(True)
        if not self.started.done():
            self.started.set_exception(AssertionError(
                "disconnected before the session started (auth failures %s, "
                "stream errors %s)" % (self.auth_failures, self.stream_errors)))

    async def next_message(self, timeout=5.0):
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def no_message(self, wait=0.5):
        try:
            m = await asyncio.wait_for(self.messages.get(), wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError("unexpected message: %s" % m)

    async def close(self):
        if self.transport is not None:
            try:
                await asyncio.wait_for(self.disconnect(wait=0.5), 3)
            except Exception:
                safe_abort(self)


def safe_abort(c):
    """Drop the TCP connection now, whatever state it is in."""
    try:
        if c.transport is not None:
            c.abort()
    except (AttributeError, OSError):
        pass


async def login(inst, user, password, resource=None, mech=None,
                direct_tls=False, cb="tls-server-end-point", plugins=(),
                timeout=10.0):
    """A connected, bound, available slixmpp client (or AssertionError)."""
    c = Client(inst, user, password, resource=resource, mech=mech, cb=cb,
               plugins=plugins)
    port = inst.tls_port if direct_tls else inst.port
    c.connect((inst.host, port), use_ssl=direct_tls, force_starttls=not direct_tls)
    try:
        await asyncio.wait_for(asyncio.shield(c.started), timeout)
    except asyncio.TimeoutError:
        safe_abort(c)
        raise AssertionError("no session within %.0f s (auth failures %s)"
                             % (timeout, c.auth_failures))
    except BaseException:
        safe_abort(c)
        raise
    return c


def run(coro, timeout=30.0):
    """Run one test coroutine with a hard limit."""
    async def wrapped():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(wrapped())


def xml_equal(a, b):
    """Same element name, namespace, attributes, text and children."""
    if a.tag != b.tag or dict(a.attrib) != dict(b.attrib):
        return False
    if (a.text or "").strip() != (b.text or "").strip():
        return False
    if len(a) != len(b):
        return False
    return all(xml_equal(x, y) for x, y in zip(a, b))


async def iq(c, to, payload, itype="get", timeout=5.0):
    """Send an iq with `payload` (XML text); the answer, result or error."""
    req = c.make_iq(ito=to, itype=itype)
    req.append(ET.fromstring(payload))
    try:
        return await req.send(timeout=timeout)
    except slixmpp.exceptions.IqError as e:
        return e.iq


def payload_of(stanza, ns, name):
    return stanza.xml.find(q(ns, name))
