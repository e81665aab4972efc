"""c2sd + authd: XEP-0077 in-band registration over real TLS.

Accounts created on an unauthenticated stream (after STARTTLS only, on a
host with `registration yes`) can log in; a host without registration
refuses (no stream feature, service-unavailable / not-allowed); a taken
name is a conflict; password change (3.3) and cancellation (3.2: iq
result, then <not-authorized/> for every session of the account) with
slixmpp's xep_0077 and raw streams; the per-address limit (one account
per address per 60 s).  Each test registers from its own 127.0.0.x
source address, so that the per-address limit only bites where it is
tested.  Also the server's disco#info (features of imd and
jabber:iq:register) and the post-authentication stream features
(pre-approval, roster versioning).
"""
import asyncio
import itertools
import socket

import pytest

from conftest import start_instance
import xmpp_util as xu
from xmpp_util import q, NS_STREAM, NS_TLS, NS_SASL, NS_CLIENT, NS_STANZAS

NS_REG = "jabber:iq:register"
NS_REG_FEATURE = "http://jabber.org/features/iq-register"
PW = "reg-pw-1"
EXTRA = "auth-max-fails 1000\n"

_addr = itertools.count(10)


def new_source():
    """A loopback source address of its own for each registration test."""
    return "127.0.0.%d" % next(_addr)


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    i = start_instance(tmp_path_factory.mktemp("c2s-reg"), extra_conf=EXTRA,
                       registration=True)
    i.adduser("taken", PW)
    yield i
    assert i.stop(), "processes were left behind at stop"


@pytest.fixture(scope="module")
def noreg(tmp_path_factory):
    i = start_instance(tmp_path_factory.mktemp("c2s-noreg"), extra_conf=EXTRA)
    yield i
    assert i.stop(), "processes were left behind at stop"


class SourceStream(xu.RawStream):
    """A RawStream (STARTTLS port) connected from a chosen source address."""

    def __init__(self, inst, source, timeout=5.0):
        self.inst = inst
        self.timeout = timeout
        self.sock = socket.create_connection((inst.host, inst.port),
                                             timeout=timeout,
                                             source_address=(source, 0))
        self.eof = False
        self.header = None
        self._reset_parser()


def tls_stream(inst, source=None):
    """Open, STARTTLS, reopen: returns (stream, features after TLS)."""
    raw = SourceStream(inst, source or new_source())
    raw.open()
    f = raw.features()
    assert f.find(q(NS_TLS, "starttls")) is not None, xu.describe(f)
    assert f.find(q(NS_REG_FEATURE, "register")) is None, \
        "registration offered before TLS"
    raw.starttls()
    raw.open()
    return raw, raw.features()


def reg_iq(raw, itype, body, iq_id="r1"):
    raw.send("<iq type='%s' id='%s'><query xmlns='%s'>%s</query></iq>"
             % (itype, iq_id, NS_REG, body))
    el = raw.next()
    assert el != "</stream>" and el.tag == q(NS_CLIENT, "iq"), xu.describe(el)
    assert el.get("id") == iq_id, xu.describe(el)
    return el


def register(inst, user, password, source=None):
    """Register on a fresh stream; returns the answer (an iq element)."""
    raw, f = tls_stream(inst, source)
    try:
        return reg_iq(raw, "set", "<username>%s</username><password>%s"
                      "</password>" % (user, password))
    finally:
        raw.close()


def error(el):
    return xu.stanza_error_condition(el)


async def can_login(inst, user, password):
    try:
        c = await xu.login(inst, user, password, mech="PLAIN", cb=None)
    except AssertionError:
        return False
    await c.close()
    return True


def test_feature_only_after_tls_and_only_with_registration(reg, noreg):
    raw, f = tls_stream(reg)
    try:
        assert f.find(q(NS_REG_FEATURE, "register")) is not None, xu.describe(f)
        assert f.find(q(NS_SASL, "mechanisms")) is not None
    finally:
        raw.close()
    raw, f = tls_stream(noreg)
    try:
        assert f.find(q(NS_REG_FEATURE, "register")) is None, xu.describe(f)
    finally:
        raw.close()


def test_register_then_login(reg):
    el = register(reg, "newbie", "s3cret pass")
    assert el.get("type") == "result", xu.describe(el)
    assert xu.run(can_login(reg, "newbie", "s3cret pass"))
    assert not xu.run(can_login(reg, "newbie", "wrong"))


def test_form_lists_the_fields(reg):
    raw, _ = tls_stream(reg)
    try:
        el = reg_iq(raw, "get", "")
        assert el.get("type") == "result", xu.describe(el)
        qu = el.find(q(NS_REG, "query"))
        assert qu is not None, xu.describe(el)
        for name in ("instructions", "username", "password"):
            assert qu.find(q(NS_REG, name)) is not None, xu.describe(el)
        assert qu.find(q(NS_REG, "registered")) is None
    finally:
        raw.close()


def test_register_on_the_same_stream_then_authenticate(reg):
    raw, _ = tls_stream(reg)
    try:
        el = reg_iq(raw, "set", "<username>samestream</username>"
                    "<password>pw-same</password>")
        assert el.get("type") == "result", xu.describe(el)
        el = raw.auth_plain("samestream", "pw-same")
        assert el.tag == q(NS_SASL, "success"), xu.describe(el)
    finally:
        raw.close()


def test_registration_disabled(noreg):
    raw, _ = tls_stream(noreg)
    try:
        el = reg_iq(raw, "get", "")
        assert error(el) == ("cancel", "service-unavailable"), xu.describe(el)
        el = reg_iq(raw, "set", "<username>nope</username>"
                    "<password>pw</password>", iq_id="r2")
        assert error(el) == ("cancel", "not-allowed"), xu.describe(el)
    finally:
        raw.close()
    assert not xu.run(can_login(noreg, "nope", "pw"))


def test_registration_before_tls_refused(reg):
    raw = SourceStream(reg, new_source())
    try:
        raw.open()
        raw.features()
        raw.send("<iq type='set' id='x'><query xmlns='%s'><username>plain"
                 "</username><password>pw</password></query></iq>" % NS_REG)
        assert raw.expect_stream_error() == "policy-violation"
    finally:
        raw.close()
    assert not xu.run(can_login(reg, "plain", "pw"))


def test_duplicate_is_conflict(reg):
    el = register(reg, "taken", "another pw")
    assert error(el) == ("cancel", "conflict"), xu.describe(el)
    assert xu.run(can_login(reg, "taken", PW))
    assert not xu.run(can_login(reg, "taken", "another pw"))


def test_bad_input_is_not_acceptable(reg):
    raw, _ = tls_stream(reg)
    try:
        el = reg_iq(raw, "set", "<username>a@b</username><password>x</password>")
        assert error(el) == ("modify", "not-acceptable"), xu.describe(el)
        el = reg_iq(raw, "set", "<username>nopw</username><password/>", "r2")
        assert error(el) == ("modify", "not-acceptable"), xu.describe(el)
        el = reg_iq(raw, "set", "<password>x</password>", "r3")
        assert error(el) == ("modify", "not-acceptable"), xu.describe(el)
        # the error never echoes the request (it holds a password)
        assert el.find(q(NS_REG, "query")) is None
    finally:
        raw.close()


def test_per_address_limit(reg):
    src = new_source()
    el = register(reg, "first1", PW, source=src)
    assert el.get("type") == "result", xu.describe(el)
    el = register(reg, "second1", PW, source=src)
    assert error(el) == ("wait", "resource-constraint"), xu.describe(el)
    assert not xu.run(can_login(reg, "second1", PW))
    # another address is not affected
    el = register(reg, "second1", PW)
    assert el.get("type") == "result", xu.describe(el)


def test_password_change(reg):
    assert register(reg, "changer", "old-pw").get("type") == "result"

    async def go():
        c = await xu.login(reg, "changer", "old-pw", mech="PLAIN", cb=None,
                           plugins=("xep_0077",))
        try:
            r = await c["xep_0077"].change_password("new-pw", timeout=5)
            assert r["type"] == "result"
            # someone else's password: refused
            iq = c.make_iq_set(ito=reg.domain)
            iq.append(xu.ET.fromstring(
                "<query xmlns='%s'><username>taken</username><password>x"
                "</password></query>" % NS_REG))
            try:
                r = await iq.send(timeout=5)
            except xu.slixmpp.exceptions.IqError as e:
                r = e.iq
            assert error(r) == ("cancel", "not-allowed"), r
        finally:
            await c.close()
        assert await can_login(reg, "changer", "new-pw")
        assert not await can_login(reg, "changer", "old-pw")
        assert await can_login(reg, "taken", PW)
    xu.run(go())


def test_registered_form(reg):
    async def go():
        c = await xu.login(reg, "taken", PW, mech="PLAIN", cb=None,
                           plugins=("xep_0077",))
        try:
            r = await c["xep_0077"].get_registration(timeout=5)
            qu = r.xml.find(q(NS_REG, "query"))
            assert qu.find(q(NS_REG, "registered")) is not None
            assert qu.find(q(NS_REG, "username")).text == "taken"
            assert not (qu.find(q(NS_REG, "password")).text or "")
        finally:
            await c.close()
    xu.run(go())


def test_account_removal(reg):
    assert register(reg, "leaver", "pw-leave").get("type") == "result"
    other = xu.RawStream(reg)
    raw = xu.RawStream(reg)
    try:
        other.login("leaver", "pw-leave", resource="other")
        raw.login("leaver", "pw-leave", resource="main")
        raw.send("<iq type='set' id='rm'><query xmlns='%s'><remove/></query>"
                 "</iq>" % NS_REG)
        el = raw.next()
        assert el.tag == q(NS_CLIENT, "iq") and el.get("type") == "result", \
            xu.describe(el)
        assert el.get("id") == "rm"
        # XEP-0077 3.2: then not-authorized, for every session of the account
        assert raw.expect_stream_error() == "not-authorized"
        assert other.expect_stream_error() == "not-authorized"
    finally:
        raw.close()
        other.close()
    assert not xu.run(can_login(reg, "leaver", "pw-leave"))


def test_remove_with_more_is_bad_request(reg):
    raw = xu.RawStream(reg)
    try:
        raw.login("taken", PW)
        raw.send("<iq type='set' id='rm'><query xmlns='%s'><remove/>"
                 "<username>taken</username></query></iq>" % NS_REG)
        el = raw.next()
        assert error(el) == ("modify", "bad-request"), xu.describe(el)
    finally:
        raw.close()
    assert xu.run(can_login(reg, "taken", PW))


def test_server_disco_and_stream_features(reg, noreg):
    async def features(inst):
        c = await xu.login(inst, "taken" if inst is reg else "u1", PW,
                           mech="PLAIN", cb=None)
        try:
            info = await c["xep_0030"].get_info(jid=inst.domain, timeout=5)
            return set(info["disco_info"]["features"])
        finally:
            await c.close()
    f = xu.run(features(reg))
    for var in ("urn:xmpp:mam:2", "urn:xmpp:carbons:2", "urn:xmpp:blocking",
                "vcard-temp", "jabber:iq:private", "jabber:iq:last",
                "msgoffline", "jabber:iq:register", "urn:xmpp:ping"):
        assert var in f, (var, f)
    noreg.adduser("u1", PW)
    f = xu.run(features(noreg))
    assert "jabber:iq:register" not in f and "msgoffline" in f

    raw = xu.RawStream(reg)
    try:
        raw.open()
        raw.features()
        raw.starttls()
        raw.open()
        raw.features()
        assert raw.auth_plain("taken", PW).tag == q(NS_SASL, "success")
        raw.open()
        f = raw.features()
        assert f.find(q("urn:xmpp:features:pre-approval", "sub")) is not None
        assert f.find(q("urn:xmpp:features:rosterver", "ver")) is not None
        assert f.find(q(NS_REG_FEATURE, "register")) is None
    finally:
        raw.close()
