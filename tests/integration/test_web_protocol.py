"""c2sd web listeners at the protocol level (docs/web.md), raw sockets.

HTTP limits (header flood, oversized head: 431), XEP-0156 host-meta,
BOSH terminal conditions (unknown sid and a rid outside the window:
HTTP 404 with condition='item-not-found', XEP-0124 17), the WebSocket
handshake without the xmpp subprotocol (400, RFC 7395 3.2), an oversized
WebSocket message (close code 1009) and ping/pong; after each, the
listener still serves a fresh request.
"""
import base64
import os
import re
import socket
import struct

NS_BIND = "http://jabber.org/protocol/httpbind"


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
        op, data = ws_recv(s)
        assert op == 8 and struct.unpack("!H", data[:2])[0] == 1009
    finally:
        s.close()
    still_serving(instance)
