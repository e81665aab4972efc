"""The monitoring demo (docs/monitor.md): tools/monitord publishing to PEP,
watched by slixmpp, and the web page (web/monitor/) in headless chromium.

monitord runs from the build directory against a real suite, logs in over
STARTTLS with the instance's certificate as its only trust anchor, and
reads fake /proc files the test writes (--proc-root), so every value is
known.  A viewer account is approved by monitord (--allow) and advertises
"<node>+notify" in its XEP-0115 caps, so pepd sends it the items.

The browser part serves web/monitor/ (plus strophe.umd.min.js, installed
by web/install) from c2sd's HTTP listener (`web-root`), opens the page in
Debian's chromium through playwright-core (tests/web/monitor.mjs) and
saves a screenshot: $RAMPART_ARTIFACTS/monitor.png, else
BUILD/test-artifacts/monitor.png; its path is printed.
"""
import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

import xmpp_util as xu
from xmpp_util import q
from conftest import BUILD, ROOT, start_instance
from test_pep import PW as PEP_PW

PW = "pw-monitor-1"
PSE = "http://jabber.org/protocol/pubsub#event"
PS = "http://jabber.org/protocol/pubsub"
MON = "urn:rampart:monitor:0"
NODE = "urn:rampart:monitor:"
MONITORD = os.environ.get("MONITORD") or os.path.join(
    BUILD, "tools", "monitord", "monitord")
WEB = os.path.join(ROOT, "web")
TESTWEB = os.path.join(ROOT, "tests", "web")

pytestmark = pytest.mark.skipif(not os.path.exists(MONITORD),
                                reason="monitord not built (libstrophe-dev)")


def write_proc(d, load=0.5, avail_kb=4096000, total_kb=8192000):
    """The files monitord reads, with the values a test wants."""
    os.makedirs(os.path.join(d, "net"), exist_ok=True)
    files = {
        "loadavg": "%.2f 0.40 0.30 1/200 4242\n" % load,
        "meminfo": "MemTotal:       %d kB\nMemFree:          1000 kB\n"
                   "MemAvailable:   %d kB\n" % (total_kb, avail_kb),
        "stat": "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n",
        "net/dev": "Inter-|   Receive\n face |bytes\n"
                   "    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n"
                   "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n",
    }
    for name, text in files.items():
        tmp = os.path.join(d, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(d, name))   # never a half-written file


class Monitord:
    def __init__(self, inst, tmp, user="monitor", extra=()):
        self.proc_root = os.path.join(tmp, "proc")
        write_proc(self.proc_root)
        pwfile = os.path.join(tmp, "password")
        with open(pwfile, "w") as f:
            f.write(PW + "\n")
        os.chmod(pwfile, 0o600)
        self.logpath = os.path.join(tmp, "monitord.log")
        argv = [MONITORD, "--jid", inst.jid(user), "--password-file", pwfile,
                "--ca-file", inst.cafile, "--host", inst.host,
                "--port", str(inst.port), "--interval", "1",
                "--proc-root", self.proc_root, "--alert-load", "2",
                "--alert-memory", "1000"] + list(extra)
        self.log = open(self.logpath, "w")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(10)
        self.log.close()
        return rc


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("monitor", "badca"):
        instance.adduser(u, PW)
    instance.adduser("viewer", PEP_PW)
    return instance


async def viewer_login(inst, user, notify):
    """A client whose caps ask for `notify` nodes (XEP-0163 4.3 filtering);
    test_pep's, so the account has test_pep's password."""
    from test_pep import pep_login
    return await pep_login(inst, user, notify=[NODE + n for n in notify])


async def subscribe(c, to):
    """Ask for `to`'s presence; monitord approves it, and imd tells pepd
    at once that our resources are its contacts, so the last items come
    with no presence of ours (docs/pep.md, "Contacts")."""
    c.send_presence(pto=to, ptype="subscribe")
    await c.presence(to, "subscribed", timeout=15)


async def items_of(c, timeout):
    """(node, element) pubsub event items received within `timeout`, after
    those an earlier wait_item() left unclaimed."""
    got = getattr(c, "unclaimed", [])
    c.unclaimed = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            m = await c.next_message(max(0.05, deadline - time.time()))
        except asyncio.TimeoutError:
            break
        ev = m.xml.find(q(PSE, "event"))
        its = ev.find(q(PSE, "items")) if ev is not None else None
        for it in its.findall(q(PSE, "item")) if its is not None else ():
            for p in it:
                got.append((its.get("node"), p))
    return got


async def wait_item(c, node, pred=lambda e: True, timeout=8.0):
    """The first item on `node` that satisfies pred; the other items
    stay for the next call."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = await items_of(c, min(0.5, deadline - time.time()))
        for i, (n, e) in enumerate(got):
            if n == NODE + node and pred(e):
                c.unclaimed = got[:i] + got[i + 1:]
                return e
    raise AssertionError("no item on %s" % node)


def value(e):
    return float(e.get("value"))


def test_publish_threshold_alert(inst, tmp_path):
    async def t():
        view = await viewer_login(inst, "viewer", ("load", "memory", "alerts"))
        mon = Monitord(inst, str(tmp_path), extra=("--allow", inst.jid("viewer")))
        try:
            await subscribe(view, inst.jid("monitor"))
            # first values: published at once, sent to the new contact
            e = await wait_item(view, "load", timeout=15)
            assert e.tag == q(MON, "metric") and value(e) == 0.5, e.attrib
            assert e.get("name") == "load" and e.get("time", "").endswith("Z")
            m = await wait_item(view, "memory", lambda e: True)
            assert value(m) == 4000 and m.get("unit") == "MiB"
            assert float(m.get("max")) == 8000
            # a change below the threshold (0.1): nothing within 3 samples
            write_proc(mon.proc_root, load=0.55)
            got = await items_of(view, 3.0)
            assert not [x for x in got if x[0] == NODE + "load"], got
            # beyond it: a new item with the new value
            write_proc(mon.proc_root, load=0.9)
            e = await wait_item(view, "load", lambda e: value(e) == 0.9)
            # load above the alert limit (2): an alert item, and the metric
            write_proc(mon.proc_root, load=3.5)
            a = await wait_item(view, "alerts")
            assert a.tag == q(MON, "alert") and a.get("state") == "raised"
            assert a.get("name") == "load" and value(a) == 3.5
            assert float(a.get("limit")) == 2 and "above" in a.text
            # memory below its limit (1000 MiB available): an alert too
            write_proc(mon.proc_root, load=3.5, avail_kb=512000)
            a = await wait_item(view, "alerts", lambda e: e.get("name") == "memory")
            assert a.get("state") == "raised" and value(a) == 500
            # and back: cleared
            write_proc(mon.proc_root, load=0.5, avail_kb=4096000)
            a = await wait_item(view, "alerts", lambda e: e.get("name") == "load")
            assert a.get("state") == "cleared"
            # the owner can fetch the last item too (XEP-0060 6.5.7)
            own = await xu.login(inst, "monitor", PW, resource="check")
            r = await xu.iq(own, None,
                            "<pubsub xmlns='%s'><items node='%sload'/></pubsub>"
                            % (PS, NODE))
            assert r["type"] == "result", str(r)
            its = r.xml.find(q(PS, "pubsub")).find(q(PS, "items")).findall(q(PS, "item"))
            assert [i.get("id") for i in its] == ["current"]
            assert value(its[0].find(q(MON, "metric"))) == 0.5
            await own.close()
        except BaseException:
            print(mon.text())
            raise
        finally:
            rc = mon.stop()
            await view.close()
        assert rc == 0, mon.text()
        assert "approved the subscription of " + inst.jid("viewer") in mon.text()
    xu.run(t(), timeout=90)


def test_node_configuration(inst, tmp_path):
    """The nodes monitord made by publishing (XEP-0060 7.1.5
    publish-options): access model presence, one item; the alerts node
    keeps ten.  Read by the owner account from another resource."""
    async def t():
        mon = Monitord(inst, str(tmp_path))
        c = await xu.login(inst, "monitor", PW, resource="check")
        try:
            async def config(node):
                deadline = time.time() + 10
                while True:
                    r = await xu.iq(c, None, "<pubsub xmlns='%s#owner'><configure"
                                    " node='%s%s'/></pubsub>" % (PS, NODE, node))
                    if r["type"] == "result":
                        break
                    assert time.time() < deadline, str(r)
                    await asyncio.sleep(0.3)
                return {f.get("var"): f.find(q("jabber:x:data", "value")).text
                        for f in r.xml.iter(q("jabber:x:data", "field"))
                        if f.find(q("jabber:x:data", "value")) is not None}
            cfg = await config("load")
            assert cfg["pubsub#access_model"] == "presence", cfg
            assert cfg["pubsub#max_items"] == "1", cfg
            write_proc(mon.proc_root, load=5)
            cfg = await config("alerts")
            assert cfg["pubsub#access_model"] == "presence", cfg
            assert cfg["pubsub#max_items"] == "10", cfg
        finally:
            await c.close()
            assert mon.stop() == 0
    xu.run(t(), timeout=40)


def test_untrusted_certificate_refused(inst, tmp_path):
    """Another CA than the server's: monitord never logs in."""
    ca = tmp_path / "other.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    str(tmp_path / "other.key"), "-out", str(ca), "-days", "1",
                    "-subj", "/CN=" + inst.domain], check=True, capture_output=True)
    mon = Monitord(inst, str(tmp_path), user="badca", extra=("--ca-file", str(ca)))
    deadline = time.time() + 20
    while "certificate refused" not in mon.text() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    assert mon.stop() == 0
    out = mon.text()
    assert "logged in" not in out and "certificate refused" in out, out


# ---- the page, in a browser ----

def have_browser():
    return (shutil.which("node") and os.path.exists("/usr/bin/chromium") and
            os.path.isdir(os.path.join(TESTWEB, "node_modules", "playwright-core")))


def artifacts_dir():
    d = os.environ.get("RAMPART_ARTIFACTS") or os.path.join(BUILD, "test-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def webinst(tmp_path_factory):
    """An instance whose c2sd serves the page from a web-root made by
    web/install (the same step tools/quickstart runs)."""
    if not have_browser():
        pytest.skip("node, chromium or tests/web/node_modules missing")
    tmp = tmp_path_factory.mktemp("monweb")
    root = str(tmp / "webroot")
    r = subprocess.run([os.path.join(WEB, "install"), root],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    inst = start_instance(tmp, extra_conf='web-root "%s"\n' % root)
    for u in ("monitor", "viewer"):
        inst.adduser(u, PW)
    yield inst
    assert inst.stop()


def http_get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_page_served(webinst):
    base = webinst.env["BOSH_URL_PLAIN"].rsplit("/", 1)[0]
    st, h, body = http_get(base + "/monitor/")
    assert st == 200 and h["Content-Type"].startswith("text/html"), (st, h)
    assert b"monitor.js" in body and int(h["Content-Length"]) == len(body)
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in h["Content-Security-Policy"]
    st, h, js = http_get(base + "/monitor/monitor.js")
    assert st == 200 and h["Content-Type"].startswith("text/javascript")
    st, h, body = http_get(base + "/monitor/vendor/strophe.umd.min.js", "HEAD")
    assert st == 200 and body == b"" and int(h["Content-Length"]) > 10000
    for bad in ("/monitor/nothere.js", "/monitor/../rampart.conf",
                "/monitor/%2e%2e/rampart.conf", "/monitor/vendor"):
        assert http_get(base + bad)[0] == 404, bad
    st, h, _ = http_get(base + "/monitor/index.html", "POST")
    assert st in (404, 405)


def run_browser(inst, env):
    base = inst.env["BOSH_URL_PLAIN"].rsplit("/", 1)[0]
    e = dict(os.environ, PAGE_URL=base + "/monitor/", XMPP_PASSWORD=PW,
             TIMEOUT_MS="40000", **env)
    r = subprocess.run(["node", os.path.join(TESTWEB, "monitor.mjs")], env=e,
                       capture_output=True, text=True, timeout=90)
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr[-3000:]
    return json.loads(lines[-1]), r


def test_page_live_values(webinst, tmp_path):
    """Values on load (last item), an update after monitord publishes, and
    the alerts-only (mobile) view that gets the alert and no metric."""
    mon = Monitord(webinst, str(tmp_path),
                   extra=("--allow", webinst.jid("viewer")))
    shot = os.path.join(artifacts_dir(), "monitor.png")
    try:
        deadline = time.time() + 15
        while "publish" not in mon.text() and "logged in" not in mon.text():
            assert time.time() < deadline, mon.text()
            time.sleep(0.2)
        # the browser writes new values through these files while it waits
        res, r = run_browser(webinst, dict(
            XMPP_JID=webinst.jid("viewer"), SOURCE_JID=webinst.jid("monitor"),
            PROC_ROOT=mon.proc_root, SCREENSHOT=shot))
        assert res.get("ok"), (res, r.stderr[-3000:], mon.text()[-3000:])
        assert res["first"]["load"] == "0.5", res
        assert res["updated"]["load"] == "1.7", res
        assert res["mobile"]["alerts"] >= 1 and res["mobile"]["metrics"] == 0, res
        # the page's XEP-0115 ver, recomputed here (5.1) from what it
        # advertises: pepd checks the same with a disco#info query
        feats = sorted(["http://jabber.org/protocol/disco#info",
                        "http://jabber.org/protocol/caps", "urn:xmpp:ping"] +
                       [NODE + n + "+notify" for n in ("load", "cpu", "memory",
                        "net-rx", "net-tx", "disk:/", "alerts")])
        s = "client/web//Rampart monitor<" + "".join(f + "<" for f in feats)
        assert res["caps"] == base64.b64encode(
            hashlib.sha1(s.encode()).digest()).decode(), res["caps"]
    finally:
        assert mon.stop() == 0
    assert os.path.getsize(shot) > 1000
    print("\nscreenshot: %s" % shot)
