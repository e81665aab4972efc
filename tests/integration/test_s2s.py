"""s2sd: federation between two Rampart instances (RFC 6120, XEP-0220).

Each instance runs on its own loopback address (a.test on 127.0.0.2,
b.test on 127.0.0.3) with its server listener on port 5269; the test adds
the names to /etc/hosts (which s2sd's resolver honours) and removes them
afterwards.  Users on each side exchange messages with custom payloads,
subscribe to each other's presence and see it; streams authenticate with
dialback over STARTTLS (the harness certificates are self-signed and
trusted by no one).  A second pair (c.test, d.test) trusts each other's
certificate through SSL_CERT_FILE and authenticates with SASL EXTERNAL
(XEP-0178).  Last, a Prosody from Debian on 127.0.0.6 (p.test, its own
configuration in a temporary directory, dialback allowed) federates with
a.test both ways.  A domain that does not resolve bounces
remote-server-not-found; a stream that sends a stanza for a domain it did
not authenticate is closed (docs/s2s.md).  Needs root (for /etc/hosts).
"""
import asyncio
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

PW = "pw-s2s-1"
HOSTS = [("127.0.0.2", "a.test"), ("127.0.0.3", "b.test"),
         ("127.0.0.4", "c.test"), ("127.0.0.5", "d.test"),
         ("127.0.0.6", "p.test"), ("127.0.0.7", "slow.test"),
         ("127.0.0.8", "closed.test")]
PROSODY_CONF = """
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
interfaces = {{ "127.0.0.6" }}
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


def start(tmp, addr, domain, extra="", env=None):
    d = os.path.join(str(tmp), domain)
    conf = os.path.join(str(tmp), domain + ".conf")
    with open(conf, "w") as f:
        f.write("listen server on %s port 5269\n%s%s" % (addr, os.environ.get("S2S_TEST_EXTRA", ""), extra))
    r = subprocess.run([HARNESS, "start", "--dir", d, "--domain", domain,
                        "--addr", addr, "--port-base", str(free_port_base()),
                        "--build", BUILD, "--conf-extra", conf],
                       capture_output=True, text=True, timeout=90,
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
            # a short setup limit for test_setup_timeout_bounces_all
            insts.append(start(tmp, addr, name, extra="unauth-timeout 4s\n"))
        for i in insts:
            for u in ("alice", "bob", "carol"):
                i.adduser(u, PW)
        yield insts
    finally:
        stopped = [i.stop() for i in insts]
        hosts_remove()
    assert all(stopped), "processes were left behind at stop"


@pytest.fixture(scope="module")
def cert_pair(tmp_path_factory, pair):
    """c.test and d.test, each trusting the other's certificate."""
    tmp = tmp_path_factory.mktemp("s2s-cert")
    bundle = os.path.join(str(tmp), "trusted.pem")
    env = dict(os.environ, SSL_CERT_FILE=bundle)
    insts = []
    try:
        for addr, name in HOSTS[2:4]:
            insts.append(start(tmp, addr, name, env=env))
        with open(bundle, "w") as out:
            for i in insts:
                with open(i.cafile) as f:
                    out.write(f.read())
        # s2sd reads its trust store before the sandbox: restart it
        for i in insts:
            old = i.pid_of("s2sd")
            i.ctl("restart", "s2sd")
            i.wait_ready("s2sd", timeout=10, not_pid=old)
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
def prosody(tmp_path_factory, pair):
    if subprocess.run(["which", "prosody"], capture_output=True).returncode:
        pytest.skip("prosody is not installed (tools/deps)")
    # pytest's directories are private to root: the prosody user could
    # not read its configuration there
    d = tempfile.mkdtemp(prefix="rampart-prosody-")
    os.chmod(d, 0o755)
    p = Prosody(d, free_port_base(1))
    os.makedirs(os.path.join(d, "certs"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", os.path.join(d, "certs", "p.test.key"),
                    "-out", p.cafile, "-days", "30", "-subj", "/CN=p.test",
                    "-addext", "subjectAltName=DNS:p.test"],
                   check=True, capture_output=True)
    os.makedirs(os.path.join(d, "data"))
    with open(p.conf, "w") as f:
        f.write(PROSODY_CONF.format(d=d, c2s=p.port))
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
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        if not os.environ.get("S2S_KEEP_PROSODY"):
            shutil.rmtree(d, ignore_errors=True)


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
    assert "authenticated" in a.log() and "authenticated" in b.log()


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
    remote-server-not-found."""
    a, _ = pair
    tarpit = socket.socket()
    tarpit.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tarpit.bind(("127.0.0.7", 5269))
    tarpit.listen(8)

    async def go():
        ca = await login(a, "alice", "r3")
        try:
            for i in range(3):
                ca.send_message(mto="x@slow.test", mbody="m%d" % i)
            ca.send_message(mto="y@closed.test", mbody="refused")
            got = {}
            for _ in range(4):
                e = await ca.next_message(timeout=15)
                assert e["type"] == "error", str(e)
                got[e["body"]] = xu.stanza_error_condition(e.xml)[1]
            assert got == {"m0": "remote-server-timeout",
                           "m1": "remote-server-timeout",
                           "m2": "remote-server-timeout",
                           "refused": "remote-server-not-found"}, got
        finally:
            await ca.close()
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
    for i, other in ((c, "d.test"), (d, "c.test")):
        log = i.log()
        assert "SASL EXTERNAL accepted" in log, log[-3000:]
        assert "%s -> %s: incoming stream authenticated (SASL EXTERNAL" % (
            other, i.domain) in log
        assert "dialback" not in log.split("s2sd ready")[-1]


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
