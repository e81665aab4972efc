"""s2sd: federation (RFC 6120, XEP-0220, XEP-0178, XEP-0368).

Each instance runs on its own loopback address with its server listener
on port 5269; the test adds the names to /etc/hosts (which s2sd's
resolver honours) and removes them afterwards.

- a.test (127.0.0.2) and b.test (127.0.0.3) have self-signed
  certificates that no one trusts: their streams authenticate with
  dialback over STARTTLS.  Users exchange messages with custom payloads,
  subscribe to each other's presence and see it; idle streams close
  (s2s-idle-timeout 10s) and open again for the next stanza.
- c.test and d.test have certificates from one test CA (the harness's
  --ca) and authenticate with SASL EXTERNAL.  c.test finds d.test through
  SRV records (RAMPART_S2S_DNS_DATA): a dead _xmpps-server target first,
  then d.test's direct TLS listener (XEP-0368), before its STARTTLS one.
- A Prosody from Debian on 127.0.0.6 (p.test, certificate from the same
  CA, dialback allowed) federates with a.test by dialback and with c.test
  by certificates, both ways.
- Raw peers: a stream that skipped dialback may not send stanzas; a
  direct TLS peer authenticated by EXTERNAL may not send from another
  domain; a remote that stops reading has its stream closed with every
  stanza either delivered or bounced.
- A domain that does not resolve, refuses or never answers bounces
  remote-server-not-found / -timeout while other traffic flows.
- Stalled remotes: incoming streams that stop mid-stanza are closed
  after s2s-idle-timeout; an outgoing stream whose remote authenticated
  and stopped reading is closed once its output has not moved for
  s2s-idle-timeout (even while new stanzas keep coming), its stanzas
  bounce remote-server-timeout; local users and other domains go on.
- dialback-secret: the key a.test computes for a db:verify is the one
  XEP-0185 derives from the configured secret, which is never logged.

The log lines asserted are those docs/s2s.md lists.  Needs root (for
/etc/hosts and port 5269).
"""
import asyncio
import hashlib
import hmac
import os
import shutil
import socket
import ssl
import tempfile
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import xmpp_util as xu
from conftest import BUILD, HARNESS, Instance, free_port_base
from xmpp_util import q
from test_imd_core import Client, befriend

import re
import threading

PW = "pw-s2s-1"
HOSTS = [("127.0.0.2", "a.test"), ("127.0.0.3", "b.test"),
         ("127.0.0.4", "c.test"), ("127.0.0.5", "d.test"),
         ("127.0.0.6", "p.test"), ("127.0.0.7", "slow.test"),
         ("127.0.0.8", "closed.test")]
PROSODY_CONF = """
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
interfaces = {{ "127.0.0.6" }}
ssl = {{ cafile = "{ca}" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ 5269 }}
s2s_secure_auth = false
s2s_require_encryption = true
c2s_require_encryption = true
authentication = "internal_hashed"
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco";
    "ping"; "presence" }}
modules_disabled = {{ "s2s_bidi" }}
unbound = {{ hoststxt = "/etc/hosts" }}
log = {{ debug = "{d}/prosody.log" }}
certificates = "{d}/certs"
VirtualHost "p.test"
"""
MARK = "# rampart test_s2s"
DB_SECRET = "test-dialback-secret-7f3a9c"
PAYLOAD = ('<gadget xmlns="urn:example:gadget" mode="x&amp;y">'
           '<part n="1">wheel &lt;left&gt;</part></gadget>')

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to edit /etc/hosts")


def hosts_add():
    with open("/etc/hosts", "a") as f:
        for addr, name in HOSTS:
            f.write("%s %s %s\n" % (addr, name, MARK))


def hosts_remove():
    with open("/etc/hosts") as f:
        lines = [l for l in f if MARK not in l]
    with open("/etc/hosts", "w") as f:
        f.writelines(lines)


def start(tmp, addr, domain, extra="", env=None, ca=None):
    d = os.path.join(str(tmp), domain)
    conf = os.path.join(str(tmp), domain + ".conf")
    with open(conf, "w") as f:
        f.write("listen server on %s port 5269\n%s%s" % (addr, os.environ.get("S2S_TEST_EXTRA", ""), extra))
    argv = [HARNESS, "start", "--dir", d, "--domain", domain,
            "--addr", addr, "--port-base", str(free_port_base()),
            "--build", BUILD, "--conf-extra", conf]
    if ca:
        argv += ["--ca", ca]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=90,
                       env=env)
    if r.returncode != 0:
        raise RuntimeError("instance %s did not start: %s" % (domain, r.stderr))
    return Instance(d, dict(l.split("=", 1) for l in r.stdout.split()))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    hosts_remove()
    hosts_add()
    tmp = tmp_path_factory.mktemp("s2s")
    insts = []
    try:
        for addr, name in HOSTS[:2]:
            # a short setup limit for test_setup_timeout_bounces_all, a
            # short idle time (the least the grammar allows) for
            # test_idle_streams_close
            insts.append(start(tmp, addr, name, extra="unauth-timeout 4s\n"
                               "s2s-idle-timeout 10s\n"
                               "dialback-secret \"%s\"\n" % DB_SECRET))
        for i in insts:
            for u in ("alice", "bob", "carol"):
                i.adduser(u, PW)
        yield insts
    finally:
        stopped = [i.stop() for i in insts]
        hosts_remove()
    assert all(stopped), "processes were left behind at stop"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """The test CA's directory (the harness makes the CA in it)."""
    return str(tmp_path_factory.mktemp("s2s-ca"))


def sign(ca, domain, d):
    """A key and certificate for domain from the test CA, in d."""
    key, crt = os.path.join(d, domain + ".key"), os.path.join(d, domain + ".crt")
    subprocess.run([HARNESS, "sign", "--ca", ca, "--domain", domain,
                    "--key", key, "--cert", crt], check=True,
                   capture_output=True, timeout=30)
    return key, crt


class CertPair(list):
    """c.test and d.test, plus what the tests need to know of them."""


@pytest.fixture(scope="module")
def cert_pair(tmp_path_factory, pair, ca):
    """c.test and d.test, certificates from the test CA.  d.test also
    listens for direct TLS; c.test's resolver gets SRV records for d.test
    (dead xmpps target, then the direct TLS listener, then 5269) and an
    address for sink.test (test_slow_remote_bounces); d.test's has
    sink.test's records (test_stalled_outgoing_stream)."""
    tmp = str(tmp_path_factory.mktemp("s2s-cert"))
    insts = CertPair()
    insts.dead_port = free_port_base(1)
    insts.tls_port = free_port_base(1)
    dns = os.path.join(tmp, "dns-data")
    with open(dns, "w") as f:
        f.write("_xmpps-server._tcp.d.test. 60 IN SRV 0 0 %d d.test.\n"
                "_xmpps-server._tcp.d.test. 60 IN SRV 5 0 %d d.test.\n"
                "_xmpp-server._tcp.d.test. 60 IN SRV 10 0 5269 d.test.\n"
                "sink.test. 60 IN A 127.0.0.9\n"
                % (insts.dead_port, insts.tls_port))
    try:
        # short idle and setup limits for test_stalled_*
        insts.append(start(tmp, "127.0.0.4", "c.test", ca=ca,
                           extra="rate-limit 0\ns2s-idle-timeout 10s\n",
                           env=dict(os.environ, RAMPART_S2S_DNS_DATA=dns)))
        # d.test's output limit is above what TCP holds (4 MB here), so
        # that a remote that stops reading leaves stanzas in s2sd's
        # output without reaching the limit
        # (and sink.test answered locally, so that no query for it
        # waits on the upstream resolver while the route's time runs)
        dns_d = os.path.join(tmp, "dns-data-d")
        with open(dns_d, "w") as f:
            f.write("_xmpp-server._tcp.sink.test. 60 IN SRV 0 0 5269 "
                    "sink.test.\n_xmpps-server._tcp.sink.test. 60 IN SRV "
                    "0 0 0 .\nsink.test. 60 IN A 127.0.0.9\n")
        insts.append(start(tmp, "127.0.0.5", "d.test", ca=ca,
                           extra="listen server-tls on 127.0.0.5 port %d\n"
                           "s2s-idle-timeout 10s\nunauth-timeout 10s\n"
                           "rate-limit 0\ns2s-max-outbuf 16M\n"
                           % insts.tls_port,
                           env=dict(os.environ, RAMPART_S2S_DNS_DATA=dns_d)))
        for i in insts:
            i.adduser("alice", PW)
        yield insts
    finally:
        stopped = [i.stop() for i in insts]
    assert all(stopped), "processes were left behind at stop"


class Prosody:
    """Just enough of conftest.Instance for xmpp_util.Client."""

    def __init__(self, d, port):
        self.dir, self.host, self.port, self.domain = d, "127.0.0.6", port, "p.test"
        self.cafile = os.path.join(d, "certs", "p.test.crt")
        self.conf = os.path.join(d, "prosody.cfg.lua")

    def jid(self, user):
        return "%s@%s" % (user, self.domain)

    def ctl(self, *argv):
        subprocess.run(["runuser", "-u", "prosody", "--", "prosodyctl",
                        "--config", self.conf] + list(argv),
                       check=True, capture_output=True, timeout=30)

    def log(self):
        with open(os.path.join(self.dir, "prosody.log"), errors="replace") as f:
            return f.read()


def wait_port(addr, port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("nothing listens on %s:%d" % (addr, port))


@pytest.fixture(scope="module")
def prosody(tmp_path_factory, pair, ca):
    if subprocess.run(["which", "prosody"], capture_output=True).returncode:
        pytest.skip("prosody is not installed (tools/deps)")
    # pytest's directories are private to root: the prosody user could
    # not read its configuration there
    d = tempfile.mkdtemp(prefix="rampart-prosody-")
    os.chmod(d, 0o755)
    p = Prosody(d, free_port_base(1))
    os.makedirs(os.path.join(d, "certs"))
    sign(ca, "p.test", os.path.join(d, "certs"))
    shutil.copy(os.path.join(ca, "ca.pem"), os.path.join(d, "ca.pem"))
    p.cafile = os.path.join(d, "ca.pem")
    os.makedirs(os.path.join(d, "data"))
    with open(p.conf, "w") as f:
        f.write(PROSODY_CONF.format(d=d, c2s=p.port, ca=p.cafile))
    subprocess.run(["chown", "-R", "prosody:prosody", d], check=True)
    proc = subprocess.Popen(["runuser", "-u", "prosody", "--", "prosody",
                             "--config", p.conf, "-F"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_port("127.0.0.6", p.port)
        wait_port("127.0.0.6", 5269)
        p.ctl("register", "pat", "p.test", PW)
        yield p
    finally:
        stop_group(proc)
        if not os.environ.get("S2S_KEEP_PROSODY"):
            shutil.rmtree(d, ignore_errors=True)


def stop_group(proc, timeout=10):
    """SIGTERM to the process group (runuser and Prosody), SIGKILL to
    what is left after timeout: a stray Prosody would hold port 5269."""
    os.killpg(proc.pid, 15)
    end = time.time() + timeout
    while time.time() < end:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, 9)
    proc.wait()


async def login(inst, user, resource="r"):
    c = Client(inst, user, PW, resource=resource)
    c.connect((inst.host, inst.port), force_starttls=True)
    try:
        await asyncio.wait_for(asyncio.shield(c.started), 10)
    except BaseException:
        xu.safe_abort(c)
        raise
    return c


def test_messages_both_ways(pair):
    a, b = pair

    async def go():
        ca = await login(a, "alice")
        cb = await login(b, "bob")
        try:
            m = ca.make_message(mto=str(cb.boundjid), mtype="chat",
                                mbody="hello b")
            m.append(ET.fromstring(PAYLOAD))
            m.send()
            got = await cb.next_message(timeout=15)
            assert got["body"] == "hello b"
            assert str(got["from"]) == str(ca.boundjid)
            g = got.xml.find(q("urn:example:gadget", "gadget"))
            assert g is not None and xu.xml_equal(g, ET.fromstring(PAYLOAD))
            cb.send_message(mto=a.jid("alice"), mbody="hello a", mtype="chat")
            got = await ca.next_message(timeout=15)
            assert got["body"] == "hello a"
            assert str(got["from"]) == str(cb.boundjid)
        finally:
            await ca.close()
            await cb.close()
    xu.run(go(), timeout=60)
    # self-signed certificates: dialback over STARTTLS, both ways
    for x, y in ((a, b), (b, a)):
        assert "%s -> %s: authenticated (dialback, STARTTLS)" % (
            x.domain, y.domain) in x.log()
        assert "%s -> %s: incoming stream authenticated (dialback, " \
            "STARTTLS" % (x.domain, y.domain) in y.log()
        assert "SASL EXTERNAL" not in x.log()


def test_idle_streams_close(pair):
    """s2s-idle-timeout 10s: an unused stream closes; the next stanza
    opens and authenticates a new one."""
    a, b = pair

    def authed():
        return a.log().count("a.test -> b.test: authenticated")

    def idled():
        return (a.log().count("a.test -> b.test: idle for 10s") +
                b.log().count("b.test <- a.test: idle for 10s"))

    async def go():
        ca = await login(a, "alice", "idle")
        cb = await login(b, "bob", "idle")
        try:
            n_auth, n_idle = authed(), idled()
            ca.send_message(mto=str(cb.boundjid), mbody="before")
            assert (await cb.next_message(timeout=15))["body"] == "before"
            t0 = time.time()
            while idled() == n_idle and time.time() - t0 < 25:
                await asyncio.sleep(0.5)
            assert idled() > n_idle, "no idle close within 25 s"
            assert time.time() - t0 >= 8
            await asyncio.sleep(1)
            ca.send_message(mto=str(cb.boundjid), mbody="after")
            assert (await cb.next_message(timeout=15))["body"] == "after"
            assert authed() > n_auth
        finally:
            await ca.close()
            await cb.close()
    xu.run(go(), timeout=90)


def test_subscription_and_presence(pair):
    a, b = pair

    async def go():
        ca = await login(a, "carol")
        cb = await login(b, "carol")
        try:
            ca.send_presence()
            cb.send_presence()
            await befriend(None, ca, cb)
            # a later presence change is seen on the other side
            ca.send_presence(pstatus="away for lunch", pshow="away")
            p = await cb.presence(ca.boundjid.bare, None, timeout=10)
            while p["status"] != "away for lunch":
                p = await cb.presence(ca.boundjid.bare, None, timeout=10)
            assert p["show"] == "away"
        finally:
            await ca.close()
            await cb.close()
    xu.run(go(), timeout=60)


def test_unknown_domain_bounces(pair):
    a, _ = pair

    async def go():
        ca = await login(a, "alice", "r2")
        try:
            ca.send_message(mto="someone@nowhere.invalid", mbody="lost?")
            err = await ca.next_message(timeout=20)
            assert err["type"] == "error", str(err)
            assert xu.stanza_error_condition(err.xml)[1] == \
                "remote-server-not-found"
        finally:
            await ca.close()
    xu.run(go(), timeout=60)


def test_setup_timeout_bounces_all(pair):
    """A server that accepts and never answers: every queued stanza
    bounces remote-server-timeout; a refused connection bounces
    remote-server-not-found, and a message to b.test meanwhile goes
    through."""
    tarpit = socket.socket()
    tarpit.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tarpit.bind(("127.0.0.7", 5269))
    tarpit.listen(8)

    a, b = pair

    async def go():
        ca = await login(a, "alice", "r3")
        cb = await login(b, "bob", "r3")
        try:
            t0 = time.time()
            for i in range(3):
                ca.send_message(mto="x@slow.test", mbody="m%d" % i)
            ca.send_message(mto="y@closed.test", mbody="refused")
            # other traffic flows while slow.test's queue waits
            ca.send_message(mto=str(cb.boundjid), mbody="meanwhile")
            m = await cb.next_message(timeout=10)
            assert m["body"] == "meanwhile"
            got = {}
            for _ in range(4):
                e = await ca.next_message(timeout=15)
                assert e["type"] == "error", str(e)
                got[e["body"]] = xu.stanza_error_condition(e.xml)[1]
            # unauth-timeout is 4s: bounced within it, not much later
            assert time.time() - t0 < 4 + 3
            assert got == {"m0": "remote-server-timeout",
                           "m1": "remote-server-timeout",
                           "m2": "remote-server-timeout",
                           "refused": "remote-server-not-found"}, got
        finally:
            await ca.close()
            await cb.close()
    try:
        xu.run(go(), timeout=60)
    finally:
        tarpit.close()


def test_sasl_external(cert_pair):
    c, d = cert_pair

    async def go():
        cc = await login(c, "alice")
        cd = await login(d, "alice")
        try:
            cc.send_message(mto=str(cd.boundjid), mbody="by certificate")
            got = await cd.next_message(timeout=15)
            assert got["body"] == "by certificate"
            assert str(got["from"]) == str(cc.boundjid)
            cd.send_message(mto=str(cc.boundjid), mbody="and back")
            got = await cc.next_message(timeout=15)
            assert got["body"] == "and back"
        finally:
            await cc.close()
            await cd.close()
    xu.run(go(), timeout=60)
    clog, dlog = c.log(), d.log()
    # c.test found d.test by SRV: the dead xmpps target first (refused),
    # then direct TLS (XEP-0368) before the STARTTLS target of priority 10
    assert "connect to 127.0.0.5:%d" % cert_pair.dead_port in clog, clog[-3000:]
    assert "c.test -> d.test: authenticated (SASL EXTERNAL, direct TLS)" \
        in clog, clog[-3000:]
    assert "c.test -> d.test: incoming stream authenticated (SASL " \
        "EXTERNAL, direct TLS" in dlog, dlog[-3000:]
    # d.test has no SRV records for c.test: STARTTLS on 5269
    assert "d.test -> c.test: authenticated (SASL EXTERNAL, STARTTLS)" \
        in dlog, dlog[-3000:]
    assert "d.test -> c.test: incoming stream authenticated (SASL " \
        "EXTERNAL, STARTTLS" in clog
    for log in (clog, dlog):
        assert "(dialback" not in log


def test_unauthenticated_stanza_refused(pair):
    """A stream that skipped dialback may not send stanzas."""
    a, _ = pair
    s = socket.create_connection(("127.0.0.2", 5269), timeout=5)
    try:
        def read_until(token, limit=5.0):
            buf, end = b"", time.time() + limit
            while token not in buf and time.time() < end:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            return buf
        s.sendall(b"<stream:stream xmlns='jabber:server' "
                  b"xmlns:stream='http://etherx.jabber.org/streams' "
                  b"xmlns:db='jabber:server:dialback' version='1.0' "
                  b"from='b.test' to='a.test'>")
        assert b"starttls" in read_until(b"</stream:features>")
        s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        assert b"proceed" in read_until(b"proceed")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="a.test")
        s.sendall(b"<stream:stream xmlns='jabber:server' "
                  b"xmlns:stream='http://etherx.jabber.org/streams' "
                  b"xmlns:db='jabber:server:dialback' version='1.0' "
                  b"from='b.test' to='a.test'>")
        assert b"dialback" in read_until(b"</stream:features>")
        # an unsolicited "valid" result is ignored, not believed
        s.sendall(b"<db:result from='b.test' to='a.test' type='valid'/>")
        s.sendall(b"<message from='mallory@b.test' to='alice@a.test'>"
                  b"<body>forged</body></message>")
        data = read_until(b"</stream:stream>")
        assert b"not-authorized" in data, data
    finally:
        s.close()


def test_prosody_messages_and_presence(pair, prosody):
    a, _ = pair

    async def go():
        ca = await login(a, "bob", "pro")
        cp = await login(prosody, "pat", "pro")
        try:
            m = ca.make_message(mto=str(cp.boundjid), mtype="chat",
                                mbody="hello prosody")
            m.append(ET.fromstring(PAYLOAD))
            m.send()
            got = await cp.next_message(timeout=20)
            assert got["body"] == "hello prosody", str(got)
            assert str(got["from"]) == str(ca.boundjid)
            g = got.xml.find(q("urn:example:gadget", "gadget"))
            assert g is not None and xu.xml_equal(g, ET.fromstring(PAYLOAD))
            cp.send_message(mto=a.jid("bob"), mbody="hello rampart",
                            mtype="chat")
            got = await ca.next_message(timeout=20)
            assert got["body"] == "hello rampart", str(got)
            assert str(got["from"]) == str(cp.boundjid)
            # mutual subscription; Prosody tells its client about
            # 'subscribed' with a roster push only, so that side waits
            # for the presence that follows
            ja, jp = ca.boundjid.bare, cp.boundjid.bare
            ca.send_presence(pto=jp, ptype="subscribe")
            await cp.presence(ja, "subscribe", timeout=15)
            cp.send_presence(pto=ja, ptype="subscribed")
            await ca.presence(jp, "subscribed", timeout=15)
            p = await ca.presence(jp, None, timeout=15)
            while p["type"] not in ("available", ""):
                p = await ca.presence(jp, None, timeout=15)
            cp.send_presence(pto=ja, ptype="subscribe")
            await ca.presence(jp, "subscribe", timeout=15)
            ca.send_presence(pto=jp, ptype="subscribed")
            p = await cp.presence(ja, None, timeout=15)
            while p["type"] not in ("available", ""):
                p = await cp.presence(ja, None, timeout=15)
            assert str(p["from"]) == str(ca.boundjid)
        finally:
            await ca.close()
            await cp.close()
    try:
        xu.run(go(), timeout=90)
    except BaseException:
        print(prosody.log()[-6000:])
        print(a.log()[-3000:])
        raise
    # a.test's certificate is self-signed: dialback both ways
    alog = a.log()
    assert "a.test -> p.test: authenticated (dialback, STARTTLS)" in alog
    assert "p.test -> a.test: incoming stream authenticated (dialback, " \
        "STARTTLS" in alog, alog[-3000:]


def test_prosody_certificates(cert_pair, prosody):
    """c.test and p.test share the test CA: SASL EXTERNAL both ways,
    asserted in both servers' logs."""
    c, _ = cert_pair

    async def go():
        cc = await login(c, "alice", "pro")
        cp = await login(prosody, "pat", "cert")
        try:
            cc.send_message(mto=str(cp.boundjid), mbody="certified")
            got = await cp.next_message(timeout=20)
            assert got["body"] == "certified", str(got)
            cp.send_message(mto=str(cc.boundjid), mbody="likewise")
            got = await cc.next_message(timeout=20)
            assert got["body"] == "likewise", str(got)
            assert str(got["from"]) == str(cp.boundjid)
        finally:
            await cc.close()
            await cp.close()
    try:
        xu.run(go(), timeout=90)
    except BaseException:
        print(prosody.log()[-6000:])
        print(c.log()[-3000:])
        raise
    clog = c.log()
    assert "c.test -> p.test: authenticated (SASL EXTERNAL, STARTTLS)" in clog
    assert "p.test -> c.test: incoming stream authenticated (SASL " \
        "EXTERNAL" in clog, clog[-3000:]
    assert "Accepting SASL EXTERNAL identity from c.test" in prosody.log()


def tls_peer(inst, port, ca, cert=None, alpn=True):
    """A direct TLS connection to inst's server-tls port, as a server
    (client certificate from the test CA) would open it (XEP-0368)."""
    ctx = ssl.create_default_context(cafile=os.path.join(ca, "ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(["xmpp-server"])
    if cert:
        ctx.load_cert_chain(cert[1], cert[0])
    s = socket.create_connection((inst.host, port), timeout=5)
    return ctx.wrap_socket(s, server_hostname=inst.domain)


def read_until(s, token, limit=5.0):
    buf, end = b"", time.time() + limit
    while token not in buf and time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
    return buf


HEADER = ("<stream:stream xmlns='jabber:server' "
          "xmlns:stream='http://etherx.jabber.org/streams' "
          "xmlns:db='jabber:server:dialback' version='1.0' "
          "from='%s' to='%s'>")


def test_direct_tls_incoming(cert_pair, ca, tmp_path):
    """d.test's server-tls listener: ALPN xmpp-server, d.test's
    certificate, no STARTTLS offered; without authentication a stanza is
    refused; after SASL EXTERNAL as b.test, a stanza from b.test is
    delivered and one from another domain closes the stream
    (invalid-from)."""
    _, d = cert_pair
    port = cert_pair.tls_port
    # unauthenticated
    s = tls_peer(d, port, ca)
    try:
        assert s.selected_alpn_protocol() == "xmpp-server"
        assert s.getpeercert()["subject"] == ((("commonName", "d.test"),),)
        s.sendall((HEADER % ("b.test", "d.test")).encode())
        f = read_until(s, b"</stream:features>")
        assert b"dialback" in f and b"starttls" not in f, f
        assert b"EXTERNAL" not in f     # no client certificate
        s.sendall(b"<message from='mallory@b.test' to='alice@d.test'>"
                  b"<body>forged</body></message>")
        data = read_until(s, b"</stream:stream>")
        assert b"not-authorized" in data, data
    finally:
        s.close()

    key, crt = sign(ca, "b.test", str(tmp_path))

    async def go():
        cd = await login(d, "alice", "tls")
        s = tls_peer(d, port, ca, cert=(key, crt))
        try:
            s.sendall((HEADER % ("b.test", "d.test")).encode())
            f = read_until(s, b"</stream:features>")
            assert b"<mechanism>EXTERNAL</mechanism>" in f, f
            s.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                      b"mechanism='EXTERNAL'>Yi50ZXN0</auth>")  # b.test
            assert b"<success" in read_until(s, b"success")
            s.sendall((HEADER % ("b.test", "d.test")).encode())
            read_until(s, b"</stream:features>")
            s.sendall(("<message from='bob@b.test/x' to='%s' type='chat'>"
                       "<body>direct</body></message>"
                       % cd.boundjid).encode())
            got = await cd.next_message(timeout=10)
            assert got["body"] == "direct" and \
                str(got["from"]) == "bob@b.test/x"
            s.sendall(("<message from='eve@a.test/x' to='%s' type='chat'>"
                       "<body>spoofed</body></message>"
                       % cd.boundjid).encode())
            data = read_until(s, b"</stream:stream>")
            assert b"invalid-from" in data, data
            await cd.no_message(1.0)
        finally:
            s.close()
            await cd.close()
    xu.run(go(), timeout=60)
    assert "b.test -> d.test: incoming stream authenticated (SASL " \
        "EXTERNAL, direct TLS" in d.log()


class Sink(threading.Thread):
    """sink.test: a server that authenticates c.test's stream (STARTTLS,
    then SASL EXTERNAL: its certificate comes from the test CA, so c.test
    trusts it), then stops reading until told to drain.  It accepts one
    connection and then closes its listener, so later attempts are
    refused at once."""

    def __init__(self, ca, d, peer="c.test"):
        super().__init__(daemon=True)
        self.peer = peer.encode()
        self.key, self.crt = sign(ca, "sink.test", d)
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # a small window, so the kernel holds little of what s2sd sends
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.ls.bind(("127.0.0.9", 5269))
        self.ls.listen(4)
        self.ls.settimeout(30)
        self.authed = threading.Event()
        self.drain = threading.Event()
        self.received = b""
        self.error = None

    def run(self):
        try:
            self.serve()
        except Exception as e:      # reported by the test
            self.error = repr(e)
            self.authed.set()

    def features(self, s, body):
        read_until(s, b">", 5)      # their header (ours has the id)
        s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server'"
                  b" xmlns:stream='http://etherx.jabber.org/streams' "
                  b"version='1.0' id='sink1' from='sink.test' to='" +
                  self.peer + b"'>"
                  b"<stream:features>" + body + b"</stream:features>")

    def serve(self):
        s, _ = self.ls.accept()
        self.ls.close()
        s.settimeout(10)
        self.features(s, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                      b"<required/></starttls>")
        read_until(s, b"<starttls")
        s.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.crt, self.key)
        s = ctx.wrap_socket(s, server_side=True)
        self.features(s, b"<mechanisms xmlns='urn:ietf:params:xml:ns:"
                      b"xmpp-sasl'><mechanism>EXTERNAL</mechanism>"
                      b"</mechanisms>")
        read_until(s, b"</auth>")
        s.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        self.features(s, b"")
        self.authed.set()
        self.drain.wait(120)        # not reading: s2sd's output grows
        s.settimeout(5)
        while True:
            try:
                d = s.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                break
            if not d:
                break
            self.received += d
        s.close()


def test_slow_remote_bounces(cert_pair, ca, tmp_path):
    """A remote that stops reading: s2sd's output for it stops at its
    limit, the stream is closed, and every stanza is either delivered
    (read by the remote once it drains) or bounced to its sender --
    nothing vanishes."""
    c, _ = cert_pair
    sink = Sink(ca, str(tmp_path))
    sink.start()
    body = "x" * 60000
    n = 200                         # 12 MB: more than s2sd and TCP hold

    def send(cc, mid, text):
        m = cc.make_message(mto="u@sink.test", mbody=text)
        m["id"] = mid
        m.send()

    async def go():
        cc = await login(c, "alice", "sink")
        try:
            send(cc, "first", "first")
            assert await asyncio.get_running_loop().run_in_executor(
                None, sink.authed.wait, 20)
            assert sink.error is None, sink.error
            for i in range(n):
                send(cc, "m%d" % i, body)
                if i % 20 == 19:
                    await asyncio.sleep(0.05)
            bounced = {}
            t0 = time.time()
            while time.time() - t0 < 60:
                try:
                    e = await cc.next_message(timeout=15)
                except asyncio.TimeoutError:
                    break
                assert e["type"] == "error", str(e)
                bounced[e["id"]] = xu.stanza_error_condition(e.xml)[1]
            return bounced
        finally:
            await cc.close()
    try:
        bounced = xu.run(go(), timeout=180)
    finally:
        sink.drain.set()
        sink.join(30)
    log = c.log()
    assert "c.test -> sink.test: authenticated (SASL EXTERNAL, STARTTLS)" \
        in log, log[-3000:]
    assert "the remote does not read; stream closed" in log, log[-3000:]
    delivered = set(re.findall(rb"<message[^>]* id=['\"](m\d+|first)['\"]"
                               rb"[^>]*>(?:(?!</message>).)*</message>",
                               sink.received, re.S))
    delivered = {x.decode() for x in delivered}
    everything = {"first"} | {"m%d" % i for i in range(n)}
    assert not (delivered & set(bounced)), delivered & set(bounced)
    assert delivered | set(bounced) == everything, (
        sorted(everything - delivered - set(bounced))[:10], len(delivered),
        len(bounced))
    assert "resource-constraint" in bounced.values(), bounced
    # the output limit held: far less than the 12 MB sent reached the
    # socket before the stream was closed
    assert len(sink.received) < 8 * 1024 * 1024, len(sink.received)


def test_dialback_secret(pair):
    """a.test answers a db:verify (it is the authoritative server) from
    the configured dialback-secret: XEP-0185's key is valid, another is
    not; the secret appears in no log."""
    a, b = pair
    s = socket.create_connection(("127.0.0.2", 5269), timeout=5)
    try:
        s.sendall((HEADER % ("b.test", "a.test")).encode())
        assert b"starttls" in read_until(s, b"</stream:features>")
        s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        assert b"proceed" in read_until(s, b"proceed")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="a.test")
        s.sendall((HEADER % ("b.test", "a.test")).encode())
        read_until(s, b"</stream:features>")
        key = hmac.new(hashlib.sha256(DB_SECRET.encode()).digest(),
                       b"b.test a.test stream-x1", hashlib.sha256).hexdigest()
        for sid, k, want in (("stream-x1", key, b"type='valid'"),
                             ("stream-x2", key, b"type='invalid'")):
            s.sendall(("<db:verify from='b.test' to='a.test' id='%s'>%s"
                       "</db:verify>" % (sid, k)).encode())
            got = read_until(s, b"/>")
            assert b"db:verify" in got and want in got, got
            assert ("id='%s'" % sid).encode() in got, got
    finally:
        s.close()
    for i in (a, b):
        assert DB_SECRET not in i.log()


rss_kib = xu.rss_kib


def wait_closed(s, t0, limit):
    """(seconds from t0 until the server closed s, what it wrote), or
    (None, ...) if it was still open limit seconds after t0."""
    data = b""
    s.settimeout(0.5)
    while time.time() - t0 < limit:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except (ssl.SSLError, OSError):
            return time.time() - t0, data
        if not d:
            return time.time() - t0, data
        data += d
    return None, data


STALLED = 20            # incoming streams that stop mid-stanza
HALF = (b"<message from='bob@b.test/x' to='alice@d.test' type='chat'>"
        b"<body>" + b"x" * 200000)     # most of max-stanza-size (256K)


def stalled_in(d, port, ca, cert):
    """A direct TLS peer, authenticated by EXTERNAL as b.test, that sends
    a stream header and half a stanza, then nothing."""
    s = tls_peer(d, port, ca, cert=cert)
    s.sendall((HEADER % ("b.test", "d.test")).encode())
    read_until(s, b"</stream:features>")
    s.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
              b"mechanism='EXTERNAL'>Yi50ZXN0</auth>")     # b.test
    assert b"<success" in read_until(s, b"success")
    s.sendall((HEADER % ("b.test", "d.test")).encode())
    read_until(s, b"</stream:features>")
    s.sendall(HALF)
    return s


async def exchange(x, y, y2, tag):
    """Messages from x to y (another server), back, and from y to y2
    (y's server)."""
    for src, dst, what in ((x, y, "there "), (y, x, "back "),
                           (y, y2, "local ")):
        src.send_message(mto=str(dst.boundjid), mbody=what + tag)
        assert (await dst.next_message(timeout=15))["body"] == what + tag


def test_stalled_incoming_streams(cert_pair, ca, tmp_path):
    """d.test (s2s-idle-timeout 10s, unauth-timeout 10s): STALLED
    authenticated streams each stop in the middle of a 200 KB stanza,
    and one unauthenticated stream stops after its header and half a
    stanza.  All are closed within the limits (plus the 5 s grace after
    our closing tag), s2sd's memory is bounded by what they sent, and
    c.test's and d.test's users keep talking meanwhile."""
    c, d = cert_pair
    cert = sign(ca, "b.test", str(tmp_path))
    pid = d.pid_of("s2sd")
    rss0 = rss_kib(pid)
    idled0 = d.log().count("d.test <- b.test: idle for 10s, closing")
    socks = []
    try:
        plain = socket.create_connection(("127.0.0.5", 5269), timeout=5)
        socks.append(plain)
        plain.sendall((HEADER % ("b.test", "d.test")).encode() +
                      b"<message from='eve@b.test' to='alice@d.test'><bo")
        starts = [time.time()]
        for _ in range(STALLED):
            socks.append(stalled_in(d, cert_pair.tls_port, ca, cert))
            starts.append(time.time())
        time.sleep(1)
        rss1 = rss_kib(pid)

        async def go():
            cc = await login(c, "alice", "stall")
            cd = await login(d, "alice", "stall")
            cd2 = await login(d, "alice", "stall2")
            try:
                await exchange(cc, cd, cd2, "during")
            finally:
                for x in (cc, cd, cd2):
                    await x.close()
        xu.run(go(), timeout=60)
        closed = [wait_closed(x, t, 40) for x, t in zip(socks, starts)]
        rss2 = rss_kib(pid)
    finally:
        for x in socks:
            x.close()
    print("\nd.test s2sd RSS: %d KiB before, %d KiB with %d stalled "
          "streams of 200 KB (%.0f KiB each), %d KiB after they closed; "
          "closed after %s s" % (rss0, rss1, STALLED, (rss1 - rss0) /
                                 STALLED, rss2,
                                 sorted(round(t, 1) for t, _ in closed
                                        if t is not None)))
    assert all(t is not None for t, _ in closed), closed
    t_plain, data = closed[0]
    assert b"connection-timeout" in data, data
    for t, data in closed[1:]:
        assert b"</stream:stream>" in data, data
    # 10 s idle + 5 s grace after our closing tag, and slack for the
    # sanitizer build on a loaded machine
    assert max(t for t, _ in closed) < 10 + 5 + 10, closed
    assert d.log().count("d.test <- b.test: idle for 10s, closing") >= \
        idled0 + STALLED
    # what s2sd holds for a stalled stream is about what the peer sent
    # (bounded by max-stanza-size) and its TLS state; a sanitizer build
    # keeps freed blocks in quarantine for a while, so it gets more
    factor = xu.asan_factor(pid)
    assert rss1 - rss0 < STALLED * 1024 * factor, (rss0, rss1)
    assert d.pid_of("s2sd") == pid      # not restarted


def test_stalled_outgoing_stream(cert_pair, ca, tmp_path):
    """d.test (s2s-idle-timeout 10s, s2s-max-outbuf 16M) to sink.test,
    which authenticates and stops reading: 8 MB of stanzas fill TCP's
    buffers and the rest waits in s2sd's output, under the limit; one
    small stanza every 2 s keeps the stream from ever being idle.  The
    stream is still closed once its output has not moved for 10 s; what
    it had not written bounces remote-server-timeout, the rest reached
    the remote; c.test and d.test's users are unaffected."""
    c, d = cert_pair
    sink = Sink(ca, str(tmp_path), peer="d.test")
    sink.start()
    pid = d.pid_of("s2sd")
    sent = []

    def send(cl, mid, text):
        m = cl.make_message(mto="u@sink.test", mbody=text)
        m["id"] = mid
        m.send()
        sent.append(mid)

    async def bounce(cl, bounced, t0, timeout):
        e = await cl.next_message(timeout=timeout)
        assert e["type"] == "error", str(e)
        bounced[e["id"]] = (xu.stanza_error_condition(e.xml)[1],
                            time.time() - t0)

    async def go():
        dd = await login(d, "alice", "stall-out")
        cc = await login(c, "alice", "stall-out")
        dx = await login(d, "alice", "stall-x")
        dx2 = await login(d, "alice", "stall-x2")
        try:
            send(dd, "first", "first")
            assert await asyncio.get_running_loop().run_in_executor(
                None, sink.authed.wait, 20), d.log()[-3000:]
            assert sink.error is None, sink.error
            rss0 = rss_kib(pid)
            for i in range(100):
                send(dd, "s%d" % i, "y" * 80000)
                if i % 10 == 9:
                    await asyncio.sleep(0.05)
            t0 = time.time()
            bounced, k, rss1 = {}, 0, 0
            while time.time() - t0 < 40 and not bounced:
                try:
                    await bounce(dd, bounced, t0, 2)
                except asyncio.TimeoutError:
                    send(dd, "k%d" % k, "keep")
                    k += 1
                    rss1 = max(rss1, rss_kib(pid))
                    if k == 2:      # others go on meanwhile
                        await exchange(cc, dx, dx2, "stall-out")
            while True:
                try:
                    await bounce(dd, bounced, t0, 5)
                except asyncio.TimeoutError:
                    break
            await exchange(cc, dx, dx2, "after")
            return bounced, rss0, rss1
        finally:
            for x in (dd, cc, dx, dx2):
                await x.close()
    try:
        bounced, rss0, rss1 = xu.run(go(), timeout=150)
    finally:
        sink.drain.set()
        sink.join(30)
    print("\nd.test s2sd RSS: %d KiB before, at most %d KiB while the "
          "stream was stalled; %d of %d stanzas bounced, the first after "
          "%.1f s; the remote had read %d bytes"
          % (rss0, rss1, len(bounced), len(sent),
             min(t for _, t in bounced.values()) if bounced else -1,
             len(sink.received)))
    log = d.log()
    assert "d.test -> sink.test: output stalled for 10s" in log, log[-3000:]
    delivered = {x.decode() for x in re.findall(
        rb"<message[^>]* id=['\"]([a-z]+\d*)['\"][^>]*>"
        rb"(?:(?!</message>).)*</message>", sink.received, re.S)}
    assert not (delivered & set(bounced)), delivered & set(bounced)
    assert delivered | set(bounced) == set(sent), (
        sorted(set(sent) - delivered - set(bounced)), len(delivered))
    # what the closed stream held bounced remote-server-timeout; a
    # stanza sent after it closed finds sink.test refusing
    assert any(cond == "remote-server-timeout"
               for cond, _ in bounced.values()), bounced
    for i, (cond, _) in bounced.items():
        assert cond in ("remote-server-timeout",
                        "remote-server-not-found"), (i, cond)
    # closed 10 s after its output stopped moving (plus slack), though
    # never idle
    assert min(t for _, t in bounced.values()) < 10 + 10, bounced
    assert d.pid_of("s2sd") == pid
