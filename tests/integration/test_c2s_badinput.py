"""c2sd under hostile input, on raw TLS sockets (RFC 6120 4.9, 11.1).

Each case sends one kind of bad input and checks that the offender gets
the right stream error and is disconnected, that c2sd was not restarted,
and that two slixmpp clients connected before the attack still exchange
a message afterwards.  The raw socket runs in a thread so the slixmpp
clients keep being served by the event loop meanwhile.
"""
import asyncio
import socket
import ssl
import threading
import time

import pytest

from conftest import start_instance
import xmpp_util as xu
from xmpp_util import q, NS_SASL, NS_STREAM

PW = "pw-badinput-1"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("alice", "bob", "mallory"):
        instance.adduser(u, PW)
    return instance


def with_bystanders(inst, attack, timeout=60):
    """Run attack() (blocking) while alice and bob are connected; then
    check they still talk and c2sd is the same process."""
    pid = inst.pid_of("c2sd")

    async def go():
        a = await xu.login(inst, "alice", PW)
        b = await xu.login(inst, "bob", PW)
        try:
            result = await asyncio.to_thread(attack)
            a.send_message(mto=str(b.boundjid), mbody="still here", mtype="chat")
            m = await b.next_message()
            assert m["body"] == "still here"
            return result
        finally:
            await a.close()
            await b.close()
    result = xu.run(go(), timeout)
    assert inst.pid_of("c2sd") == pid, "c2sd was restarted"
    return result


def logged_in(inst):
    raw = xu.RawStream(inst, direct_tls=True)
    raw.login("mallory", PW, resource="evil%d" % time.monotonic_ns())
    return raw


def send_quietly(raw, data):
    """Send; the server may close while we are still writing."""
    try:
        raw.send(data)
    except OSError:
        pass


def attack_after_login(inst, data, send_timeout=5.0):
    def attack():
        raw = logged_in(inst)
        try:
            raw.sock.settimeout(send_timeout)
            send_quietly(raw, data)
            return raw.expect_stream_error(timeout=send_timeout + 5)
        finally:
            raw.close()
    return with_bystanders(inst, attack)


def attack_before_login(inst, data):
    def attack():
        raw = xu.RawStream(inst, direct_tls=True)
        try:
            send_quietly(raw, data)
            return raw.expect_stream_error()
        finally:
            raw.close()
    return with_bystanders(inst, attack)


def header(inst):
    return ("<stream:stream xmlns='jabber:client' xmlns:stream='%s' to='%s' "
            "version='1.0'>" % (NS_STREAM, inst.domain))


def test_malformed_xml(inst):
    cond = attack_after_login(inst, "<message to='%s'><body>x</bod></message>"
                              % inst.jid("bob"))
    assert cond == "not-well-formed"


def test_doctype(inst):
    data = "<?xml version='1.0'?><!DOCTYPE stream:stream>" + header(inst)
    assert attack_before_login(inst, data) in ("restricted-xml", "not-well-formed")


def test_billion_laughs(inst):
    ents = ['<!ENTITY lol "lol">']
    for i in range(1, 10):
        ents.append('<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % (i - 1 if i > 1 else "")) * 10))
    data = ("<?xml version='1.0'?><!DOCTYPE lolz [%s]>" % "".join(ents)
            + header(inst).replace("version='1.0'>", "version='1.0'>&lol9;"))
    assert attack_before_login(inst, data) in ("restricted-xml", "not-well-formed")


def test_stanza_over_max_stanza_size(inst):
    # Default max-stanza-size is 256K; rate-limit (64K/s) makes this slow.
    data = ("<message to='%s'><body>" % inst.jid("bob")) + "A" * (300 * 1024) \
        + "</body></message>"
    assert attack_after_login(inst, data, send_timeout=15) == "policy-violation"


def test_invalid_utf8(inst):
    data = (b"<message to='" + inst.jid("bob").encode() +
            b"'><body>\xff\xfe\xc0\x80</body></message>")
    assert attack_after_login(inst, data) == "not-well-formed"


def test_ten_thousand_attributes(inst):
    attrs = " ".join("a%d='x'" % i for i in range(10000))
    data = "<message to='%s' %s><body>x</body></message>" % (inst.jid("bob"), attrs)
    assert attack_after_login(inst, data) == "policy-violation"


def test_ten_thousand_levels(inst):
    data = "<message to='%s'>" % inst.jid("bob") + "<a>" * 10000
    assert attack_after_login(inst, data) == "policy-violation"


def test_hundred_thousand_children(inst):
    data = ("<message to='%s'>" % inst.jid("bob") + "<a/>" * 100000 +
            "</message>")
    assert attack_after_login(inst, data) == "policy-violation"


def test_one_mib_attribute_value(inst):
    data = ("<message to='%s' x='%s'><body>x</body></message>"
            % (inst.jid("bob"), "v" * MB))
    assert attack_after_login(inst, data) == "policy-violation"


def test_stanza_before_authentication(inst):
    def attack():
        raw = xu.RawStream(inst, direct_tls=True)
        try:
            raw.open()
            raw.features()
            raw.send("<message to='%s' type='chat'><body>unauth</body></message>"
                     % inst.jid("bob"))
            return raw.expect_stream_error()
        finally:
            raw.close()
    assert with_bystanders(inst, attack) == "not-authorized"


def test_rapid_connect_close_then_login(inst):
    ctx = xu.tls_context(inst.cafile)

    def attack():
        for i in range(200):
            if i % 2:
                s = socket.create_connection((inst.host, inst.port), timeout=5)
                s.close()
            else:
                s = socket.create_connection((inst.host, inst.tls_port), timeout=5)
                try:
                    t = ctx.wrap_socket(s, server_hostname=inst.domain)
                    t.close()
                except (ssl.SSLError, OSError):
                    s.close()
        # Nothing was counted twice: a fresh raw login still works.
        raw = logged_in(inst)
        raw.close()
    with_bystanders(inst, attack)


@pytest.fixture(scope="module")
def quick_inst(tmp_path_factory):
    i = start_instance(tmp_path_factory.mktemp("c2s-unauth"),
                       extra_conf="unauth-timeout 3s\n")
    for u in ("alice", "bob"):
        i.adduser(u, PW)
    yield i
    assert i.stop(), "processes were left behind at stop"


def test_slow_loris_closed_by_unauth_timeout(quick_inst):
    inst = quick_inst
    result = {}
    started = threading.Event()

    def loris():
        s = socket.create_connection((inst.host, inst.port), timeout=1)
        t0 = time.time()
        started.set()
        data = header(inst).encode()
        try:
            for i in range(20):
                s.sendall(data[i:i + 1])
                try:
                    got = s.recv(4096)
                    if got == b"":
                        result["closed"] = time.time() - t0
                        return
                    result.setdefault("got", b"")
                    result["got"] += got
                    if b"</stream:error>" in result["got"] and "error" not in result:
                        result["error"] = time.time() - t0
                        s.sendall(b"</stream:stream>")
                except socket.timeout:
                    pass
            result["closed"] = None
        except OSError:
            result["closed"] = time.time() - t0
        finally:
            s.close()

    th = threading.Thread(target=loris)
    th.start()
    started.wait(5)

    async def meanwhile():
        a = await xu.login(inst, "alice", PW)
        b = await xu.login(inst, "bob", PW)
        try:
            a.send_message(mto=str(b.boundjid), mbody="not blocked", mtype="chat")
            m = await b.next_message()
            assert m["body"] == "not blocked"
        finally:
            await a.close()
            await b.close()
    xu.run(meanwhile())
    th.join(30)
    assert not th.is_alive()
    assert result.get("closed") is not None, "slow client was never closed"
    # RFC 6120 4.9.3.4: connection-timeout, then the stream is closed.
    assert b"<connection-timeout" in result.get("got", b""), result
    assert 2.0 <= result["error"] <= 6.0, result
    # Our "</stream:stream>" does not parse after a partial header, so the
    # server closes on its own close timeout (C2SD_CLOSE_TIMEOUT, 5 s).
    assert result["closed"] - result["error"] <= 6.5, result


def test_close_handshake_is_prompt(inst):
    """RFC 6120 4.4: once both closing tags have been sent, the TCP
    connection is terminated; the server must not sit on it until its
    close timeout."""
    raw = xu.RawStream(inst, direct_tls=True)
    try:
        raw.open()
        raw.features()
        raw.send("<message to='%s'><body>x</body></message>" % inst.jid("bob"))
        el = raw.next()
        assert el != "</stream>" and el.tag == q(NS_STREAM, "error"), xu.describe(el)
        assert raw.next() == "</stream>"
        raw.send("</stream:stream>")
        t0 = time.time()
        with pytest.raises(xu.StreamClosed):
            raw.next(6.0)
        assert time.time() - t0 < 1.5, "closed only after %.1f s" % (time.time() - t0)
    finally:
        raw.close()
