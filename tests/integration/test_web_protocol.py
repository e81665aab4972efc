"""c2sd web listeners at the protocol level (docs/web.md), raw sockets.

HTTP limits (header flood, oversized head: 431), XEP-0156 host-meta (and
the public URLs a reverse proxy names with Forwarded/X-Forwarded-Proto on
the plain listener), CORS as cors-origin says (*, a list, none), BOSH
terminal conditions (unknown sid, a rid outside the window, an expired
sid: HTTP 404 with condition='item-not-found', XEP-0124 17), BOSH pause
(XEP-0124 10), the WebSocket handshake without the xmpp subprotocol (400,
RFC 7395 3.2), <close/> followed by a close frame and the end of the TCP
connection (RFC 7395 3.6), an oversized WebSocket message (stream error,
then close code 1009) and ping/pong; after each, the listener still
serves a fresh request.
"""
import base64
import json
import os
import re
import socket
import ssl
import struct
import time

import pytest

from conftest import start_instance

NS_BIND = "http://jabber.org/protocol/httpbind"
FRAMING = b"urn:ietf:params:xml:ns:xmpp-framing"


def connect(inst):
    s = socket.create_connection((inst.host, int(inst.env["HTTP_PORT"])),
                                 timeout=5)
    return s


def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, head.decode("latin-1"), body.decode()


def request(inst, raw):
    s = connect(inst)
    try:
        s.sendall(raw)
        return read_response(s)
    finally:
        s.close()


def bosh(inst, body):
    b = body.encode()
    return request(inst, b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\n"
                   b"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s"
                   % (len(b), b))


def still_serving(inst):
    st, _, body = request(inst, b"GET /.well-known/host-meta.json HTTP/1.1\r\n"
                          b"Host: localhost\r\n\r\n")
    assert st == 200 and "xmpp-websocket" in body


def test_host_meta(instance):
    st, head, body = request(instance, b"GET /.well-known/host-meta HTTP/1.1\r\n"
                             b"Host: localhost\r\n\r\n")
    assert st == 200 and "urn:xmpp:alt-connections:xbosh" in body
    assert "Access-Control-Allow-Origin: *" in head


def test_header_flood(instance):
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(100))
    st, _, _ = request(instance, b"GET / HTTP/1.1\r\n" + hdrs + b"\r\n")
    assert st == 431
    st, _, _ = request(instance, b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
    assert st == 431
    st, _, _ = request(instance, b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")
    assert st == 400	# obs-fold
    still_serving(instance)


def test_bosh_unknown_sid(instance):
    st, _, body = bosh(instance, "<body rid='10' sid='nosuchsid' xmlns='%s'/>" % NS_BIND)
    assert st == 404
    assert "type='terminate'" in body and "condition='item-not-found'" in body
    still_serving(instance)


def test_bosh_bad_rid(instance):
    st, _, body = bosh(instance, "<body rid='1000' to='%s' wait='5' hold='1' "
                       "xmlns='%s'/>" % (instance.domain, NS_BIND))
    assert st == 200, body
    sid = re.search(r"sid='([0-9a-f]+)'", body).group(1)
    assert "<mechanisms" in body
    st, _, body = bosh(instance, "<body rid='5000' sid='%s' xmlns='%s'/>"
                       % (sid, NS_BIND))
    assert st == 404 and "item-not-found" in body
    # the session is gone
    st, _, body = bosh(instance, "<body rid='1001' sid='%s' xmlns='%s'/>"
                       % (sid, NS_BIND))
    assert st == 404 and "item-not-found" in body
    st, _, body = bosh(instance, "<notbody/>")
    assert st == 400 and "bad-request" in body
    still_serving(instance)


def ws_handshake(inst, proto=b"xmpp"):
    s = connect(inst)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Protocol: " + proto + b"\r\n\r\n")
    return s, read_response(s)


def ws_send(s, payload, opcode=1, length=None):
    n = len(payload) if length is None else length
    mask = os.urandom(4)
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(hdr + mask + body)


def ws_recv(s):
    def exact(n):
        d = b""
        while len(d) < n:
            c = s.recv(n - len(d))
            if not c:
                raise EOFError
            d += c
        return d
    b0, b1 = exact(2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    return b0 & 0x0f, exact(n)


def assert_eof(s):
    """The server closes the TCP connection (after its close frame)."""
    s.settimeout(5)
    try:
        rest = s.recv(65536)
    except ConnectionResetError:
        rest = b""
    assert rest == b"", rest


def expect_close(s, code):
    """RFC 7395 3.6: <close/>, a close frame with `code`, then EOF."""
    op, data = ws_recv(s)
    assert op == 1 and data.startswith(b"<close") and FRAMING in data, data
    op, data = ws_recv(s)
    assert op == 8 and struct.unpack("!H", data[:2])[0] == code
    assert_eof(s)


def test_ws_wrong_subprotocol(instance):
    s, (st, _, _) = ws_handshake(instance, b"chat")
    s.close()
    assert st == 400
    still_serving(instance)


def test_ws_open_ping_oversized(instance):
    s, (st, head, _) = ws_handshake(instance)
    try:
        assert st == 101 and "Sec-WebSocket-Protocol: xmpp" in head
        ws_send(s, ("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='%s' "
                    "version='1.0'/>" % instance.domain).encode())
        op, data = ws_recv(s)
        assert op == 1 and data.startswith(b"<open") and b"from=" in data
        op, data = ws_recv(s)
        assert op == 1 and b"<stream:features" in data and b"mechanisms" in data
        ws_send(s, b"hi", opcode=9)
        op, data = ws_recv(s)
        assert op == 10 and data == b"hi"
        try:	# over max-stanza-size; the server may stop reading
            ws_send(s, b"<message>" + b"x" * (1 << 20) + b"</message>")
        except OSError:
            pass
        # as on TCP: the stream error, <close/> (RFC 7395 3.6.1), then
        # the WebSocket close with 1009 and the end of the TCP connection
        op, data = ws_recv(s)
        assert op == 1 and b"<stream:error" in data, data
        assert b"<policy-violation" in data and b"xmlns:stream=" in data
        expect_close(s, 1009)
    finally:
        s.close()
    still_serving(instance)


def ws_open(inst, to=None):
    """A WebSocket with the stream opened; returns it after the features."""
    s, (st, _, _) = ws_handshake(inst)
    assert st == 101
    ws_send(s, ("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='%s' "
                "version='1.0'/>" % (to or inst.domain)).encode())
    return s


def test_ws_client_close(instance):
    """RFC 7395 3.6: our <close/> answers the client's, then a close frame
    (1000) and the TCP connection goes."""
    s = ws_open(instance)
    try:
        assert ws_recv(s)[1].startswith(b"<open")
        assert b"<stream:features" in ws_recv(s)[1]
        ws_send(s, b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
        expect_close(s, 1000)
    finally:
        s.close()


def test_ws_server_close(instance):
    """A stream error: <open/>, the error, <close/>, close frame, EOF."""
    s = ws_open(instance, to="no-such-host.example")
    try:
        op, data = ws_recv(s)
        assert op == 1 and data.startswith(b"<open")
        op, data = ws_recv(s)
        assert op == 1 and b"<host-unknown" in data, data
        expect_close(s, 1000)
    finally:
        s.close()
    still_serving(instance)


def meta(inst, headers=b"", tls=False):
    """host-meta.json's two URLs, on the plain or the TLS listener."""
    port = int(inst.env["HTTPS_PORT" if tls else "HTTP_PORT"])
    s = socket.create_connection((inst.host, port), timeout=5)
    if tls:
        ctx = ssl.create_default_context(cafile=inst.cafile)
        ctx.check_hostname = False
        s = ctx.wrap_socket(s)
    try:
        s.sendall(b"GET /.well-known/host-meta.json HTTP/1.1\r\n"
                  b"Host: localhost:%d\r\n" % port + headers + b"\r\n")
        st, _, body = read_response(s)
    finally:
        s.close()
    assert st == 200, body
    links = {l["rel"].rsplit(":", 1)[1]: l["href"]
             for l in json.loads(body)["links"]}
    return links["xbosh"], links["websocket"]


def test_host_meta_behind_proxy(instance):
    """The plain listener takes the scheme (and host) a TLS-terminating
    proxy names; the TLS listener ignores such headers."""
    p = int(instance.env["HTTP_PORT"])
    t = int(instance.env["HTTPS_PORT"])
    assert meta(instance) == ("http://localhost:%d/http-bind" % p,
                              "ws://localhost:%d/xmpp-websocket" % p)
    assert meta(instance, b"X-Forwarded-Proto: https\r\n") == (
        "https://localhost:%d/http-bind" % p,
        "wss://localhost:%d/xmpp-websocket" % p)
    assert meta(instance, b'Forwarded: for=192.0.2.1;proto=https;'
                b'host="chat.example.org", for=10.0.0.1;proto=http\r\n') == (
        "https://chat.example.org/http-bind",
        "wss://chat.example.org/xmpp-websocket")
    # RFC 7239 wins over the X-Forwarded-* convention
    assert meta(instance, b"X-Forwarded-Proto: https\r\n"
                b"Forwarded: proto=http\r\n")[1].startswith("ws://")
    assert meta(instance, b"X-Forwarded-Proto: https\r\n"
                b"X-Forwarded-Host: xmpp.example.net\r\n")[1] == \
        "wss://xmpp.example.net/xmpp-websocket"
    # a host that cannot go into the document is refused
    st, _, _ = request(instance, b"GET /.well-known/host-meta HTTP/1.1\r\n"
                       b"Host: localhost\r\nX-Forwarded-Host: a'b\r\n\r\n")
    assert st == 400
    # on the TLS listener no proxy is in between
    assert meta(instance, b"X-Forwarded-Proto: http\r\nForwarded: "
                b"proto=http;host=evil.example\r\n", tls=True) == (
        "https://localhost:%d/http-bind" % t,
        "wss://localhost:%d/xmpp-websocket" % t)


# ---- configured instances: cors-origin, bosh-inactivity ----

@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    inst = start_instance(tmp_path_factory.mktemp("web-tuned"), extra_conf=(
        'cors-origin "https://a.example, https://B.example:8443"\n'
        "bosh-inactivity 2s\n"))
    yield inst
    assert inst.stop()


def get_with_origin(inst, origin, method=b"GET",
                    path=b"/.well-known/host-meta"):
    return request(inst, method + b" " + path + b" HTTP/1.1\r\n"
                   b"Host: localhost\r\nOrigin: " + origin + b"\r\n\r\n")


def acao(head):
    m = re.search(r"(?im)^access-control-allow-origin: *(.*?)\r?$", head)
    return m.group(1) if m else None


def test_cors_origin_list(tuned):
    st, head, _ = get_with_origin(tuned, b"https://b.example:8443")
    assert st == 200 and acao(head) == "https://b.example:8443"
    assert re.search(r"(?im)^vary: *origin", head)
    st, head, _ = get_with_origin(tuned, b"https://a.example", b"OPTIONS",
                                  b"/http-bind")
    assert st == 204 and acao(head) == "https://a.example"
    assert "Access-Control-Allow-Methods:" in head
    st, head, _ = get_with_origin(tuned, b"https://evil.example")
    assert st == 200 and acao(head) is None
    assert re.search(r"(?im)^vary: *origin", head)
    st, head, _ = get_with_origin(tuned, b"https://a.example.evil")
    assert acao(head) is None
    # WebSocket has no CORS in browsers: a listed origin or none only
    for origin, want in ((b"https://evil.example", 403),
                         (b"https://a.example", 101), (None, 101)):
        s = connect(tuned)
        try:
            s.sendall(b"GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\n"
                      b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) +
                      b"\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Protocol: xmpp\r\n" +
                      (b"Origin: " + origin + b"\r\n" if origin else b"") +
                      b"\r\n")
            assert read_response(s)[0] == want, origin
        finally:
            s.close()
    still_serving(tuned)


def test_cors_none(tmp_path):
    inst = start_instance(tmp_path, extra_conf="cors-origin none\n")
    try:
        st, head, _ = get_with_origin(inst, b"https://a.example")
        assert st == 200 and "access-control-" not in head.lower()
        st, head, _ = get_with_origin(inst, b"https://a.example", b"OPTIONS",
                                      b"/http-bind")
        assert st == 204 and "access-control-" not in head.lower()
    finally:
        assert inst.stop()


def bosh_new(inst, rid, wait=2):
    st, _, body = bosh(inst, "<body rid='%d' to='%s' wait='%d' hold='1' "
                       "xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh' "
                       "xmpp:version='1.0'/>" % (rid, inst.domain, wait, NS_BIND))
    assert st == 200, body
    return re.search(r"sid='([0-9a-f]+)'", body).group(1), body


def test_bosh_expired_sid(tuned):
    """No request for bosh-inactivity (2 s): the session is gone and its
    sid is item-not-found (XEP-0124 17)."""
    sid, body = bosh_new(tuned, 500)
    assert "inactivity='2'" in body
    time.sleep(3.5)
    st, _, body = bosh(tuned, "<body rid='501' sid='%s' xmlns='%s'/>"
                       % (sid, NS_BIND))
    assert st == 404
    assert "type='terminate'" in body and "condition='item-not-found'" in body
    still_serving(tuned)


def bosh_send(inst, raw):
    s = connect(inst)
    b = raw.encode()
    s.sendall(b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\n"
              b"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s"
              % (len(b), b))
    return s


def test_bosh_pause(tuned):
    """XEP-0124 10: a pause answers every held request at once and keeps
    the session past 'inactivity'; the next request ends the pause."""
    sid, body = bosh_new(tuned, 600, wait=2)
    assert "maxpause='120'" in body
    held = bosh_send(tuned, "<body rid='601' sid='%s' xmlns='%s'/>"
                     % (sid, NS_BIND))
    time.sleep(0.3)
    t0 = time.monotonic()
    pausing = bosh_send(tuned, "<body rid='602' sid='%s' pause='6' xmlns='%s'/>"
                        % (sid, NS_BIND))
    try:
        for s in (held, pausing):
            st, _, body = read_response(s)
            assert st == 200 and "type='terminate'" not in body, body
    finally:
        held.close()
        pausing.close()
    assert time.monotonic() - t0 < 1.5	# not after 'wait' (2 s)
    time.sleep(3.5)		# past inactivity (2 s), within the pause
    st, _, body = bosh(tuned, "<body rid='603' sid='%s' xmlns='%s'/>"
                       % (sid, NS_BIND))
    assert st == 200 and "type='terminate'" not in body, body
    time.sleep(3.5)		# no pause any more: inactivity again
    st, _, body = bosh(tuned, "<body rid='604' sid='%s' xmlns='%s'/>"
                       % (sid, NS_BIND))
    assert st == 404 and "item-not-found" in body
    # more than maxpause: policy-violation (XEP-0124 10)
    sid, _ = bosh_new(tuned, 700)
    st, _, body = bosh(tuned, "<body rid='701' sid='%s' pause='121' xmlns='%s'/>"
                       % (sid, NS_BIND))
    assert st == 200 and "type='terminate'" in body
    assert "condition='policy-violation'" in body
    st, _, body = bosh(tuned, "<body rid='702' sid='%s' xmlns='%s'/>"
                       % (sid, NS_BIND))
    assert st == 404
