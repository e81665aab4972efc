"""c2sd + authd: logging in over real TLS (RFC 6120 sections 4-7).

Every SASL mechanism over STARTTLS and over direct TLS (XEP-0368) with
slixmpp; wrong passwords and unknown users, which must look the same;
SASL before TLS; resource binding and conflicts; stream header errors
seen on a raw TLS socket.  The instance allows many failed logins
(auth-max-fails 1000) so the failure tests cannot throttle the others.
"""
import asyncio
import hashlib
import time

import pytest
import slixmpp

from conftest import start_instance
import xmpp_util as xu
from xmpp_util import q, NS_SASL, NS_TLS, NS_STREAM

PW = "correct horse 1"


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    i = start_instance(tmp_path_factory.mktemp("c2s-login"),
                       extra_conf="auth-max-fails 1000\n")
    for u in ("alice", "bob", "carol"):
        i.adduser(u, PW)
    yield i
    assert i.stop(), "processes were left behind at stop"


MECHS = ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS",
         "SCRAM-SHA-256-PLUS", "PLAIN"]


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "directtls"])
@pytest.mark.parametrize("mech", MECHS)
def test_login_each_mechanism(inst, mech, direct_tls):
    async def go():
        c = await xu.login(inst, "alice", PW, mech=mech, direct_tls=direct_tls,
                           cb="tls-server-end-point" if mech.endswith("-PLUS") else None)
        try:
            assert c["feature_mechanisms"].mech.name == mech
            assert c.boundjid.bare == inst.jid("alice")
            assert c.boundjid.resource
            # The session works: the server answers a ping.
            await asyncio.wait_for(c["xep_0199"].ping(jid=inst.domain, timeout=5), 6)
        finally:
            await c.close()
    xu.run(go())


def test_plus_checks_the_binding(inst):
    """-PLUS with binding data of another certificate must fail: proves
    the server compares the data instead of accepting any p=."""
    raw = xu.RawStream(inst, direct_tls=True)
    try:
        raw.open()
        raw.features()
        _, el = xu.scram_exchange(raw, "SCRAM-SHA-256-PLUS", "alice", PW,
                                  gs2=b"p=tls-server-end-point,,",
                                  cbdata=hashlib.sha256(b"not the cert").digest())
        assert xu.sasl_failure_condition(el) == "not-authorized", xu.describe(el)
        # And the right data on the same stream succeeds.
        der = raw.sock.getpeercert(binary_form=True)
        _, el = xu.scram_exchange(raw, "SCRAM-SHA-256-PLUS", "alice", PW,
                                  gs2=b"p=tls-server-end-point,,",
                                  cbdata=hashlib.sha256(der).digest())
        assert el.tag == q(NS_SASL, "success"), xu.describe(el)
    finally:
        raw.close()


def test_tls_unique_refused_cleanly(inst):
    """p=tls-unique (undefined for TLS 1.3, RFC 9266) is a SASL failure,
    not a broken stream: a second attempt on the same stream works."""
    raw = xu.RawStream(inst, direct_tls=True)
    try:
        raw.open()
        raw.features()
        cb = raw.sock.get_channel_binding("tls-unique") or b"\0" * 12
        _, el = xu.scram_exchange(raw, "SCRAM-SHA-1-PLUS", "alice", PW,
                                  gs2=b"p=tls-unique,,", cbdata=cb)
        assert xu.sasl_failure_condition(el) == "not-authorized", xu.describe(el)
        el = raw.auth_plain("alice", PW)
        assert el.tag == q(NS_SASL, "success"), xu.describe(el)
    finally:
        raw.close()


def test_slixmpp_tls_unique_refused(inst):
    async def go():
        with pytest.raises(AssertionError, match="not-authorized"):
            await xu.login(inst, "alice", PW, mech="SCRAM-SHA-256-PLUS",
                           cb="tls-unique", timeout=8)
    xu.run(go())


def _failure(inst, user, password, mech):
    raw = xu.RawStream(inst, direct_tls=True)
    try:
        raw.open()
        raw.features()
        if mech == "PLAIN":
            return None, raw.auth_plain(user, password)
        return xu.scram_exchange(raw, mech, user, password)
    finally:
        raw.close()


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_bad_password_and_unknown_user_look_the_same(inst, mech):
    first_bad, bad = _failure(inst, "bob", "wrong password", mech)
    first_unk, unk = _failure(inst, "nosuchuser", "wrong password", mech)
    assert xu.sasl_failure_condition(bad) == "not-authorized", xu.describe(bad)
    assert xu.sasl_failure_condition(unk) == "not-authorized", xu.describe(unk)
    # Same answer shape: the same failure element, byte for byte.
    assert xu.describe(bad) == xu.describe(unk)
    if mech != "PLAIN":
        # The server-first-message of an unknown user looks real.
        assert sorted(first_bad) == sorted(first_unk) == [b"i", b"r", b"s"]
        assert first_bad[b"i"] == first_unk[b"i"]
        assert len(first_bad[b"s"]) == len(first_unk[b"s"])


def test_slixmpp_bad_password(inst):
    async def go():
        with pytest.raises(AssertionError, match="not-authorized"):
            await xu.login(inst, "bob", "nope", mech="SCRAM-SHA-256", cb=None, timeout=8)
    xu.run(go())


def test_sasl_before_starttls_refused(inst):
    raw = xu.RawStream(inst)
    try:
        raw.open()
        f = raw.features()
        # Only <starttls><required/></starttls> before TLS.
        assert [c.tag for c in f] == [q(NS_TLS, "starttls")], xu.describe(f)
        assert [c.tag for c in f[0]] == [q(NS_TLS, "required")], xu.describe(f)
        ir = "AGFsaWNlAGNvcnJlY3QgaG9yc2UgMQ=="	# \0alice\0correct horse 1
        raw.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, ir))
        el = raw.next()
        if el != "</stream>" and el.tag == q(NS_SASL, "failure"):
            assert xu.sasl_failure_condition(el) == "encryption-required"
        else:
            assert el != "</stream>" and el.tag == q(NS_STREAM, "error"), xu.describe(el)
            assert xu.stream_error_condition(el) == "policy-violation"
            raw.expect_closed()
    finally:
        raw.close()


def test_bind_chosen_and_generated_resources(inst):
    async def go():
        a = await xu.login(inst, "carol", PW, resource="desk")
        b = await xu.login(inst, "carol", PW)
        c = await xu.login(inst, "carol", PW)
        try:
            assert str(a.boundjid) == inst.jid("carol") + "/desk"
            assert b.boundjid.bare == inst.jid("carol") and b.boundjid.resource
            assert b.boundjid.resource != c.boundjid.resource
            assert "desk" not in (b.boundjid.resource, c.boundjid.resource)
        finally:
            for x in (a, b, c):
                await x.close()
    xu.run(go())


def test_resource_conflict_replaces_old_session(inst):
    async def go():
        first = await xu.login(inst, "bob", PW, resource="phone")
        second = await xu.login(inst, "bob", PW, resource="phone")
        try:
            await asyncio.wait_for(asyncio.shield(first.gone), 5)
            assert first.stream_errors == ["conflict"]
            assert str(second.boundjid) == inst.jid("bob") + "/phone"
            # The new session is the one that gets messages.
            third = await xu.login(inst, "alice", PW)
            third.send_message(mto=inst.jid("bob") + "/phone", mbody="to the new one",
                               mtype="chat")
            m = await second.next_message()
            assert m["body"] == "to the new one"
            await third.close()
        finally:
            await first.close()
            await second.close()
    xu.run(go())


def _header_error(inst, **kw):
    raw = xu.RawStream(inst, direct_tls=True)
    try:
        raw.open(**kw)
        return raw.expect_stream_error()
    finally:
        raw.close()


def test_header_wrong_to_is_host_unknown(inst):
    assert _header_error(inst, to="not-hosted.example") == "host-unknown"


@pytest.mark.parametrize("version", [None, "0.9"], ids=["missing", "0.9"])
def test_header_old_version_is_unsupported_version(inst, version):
    # RFC 6120 4.7.5: no version means 0.9; this server speaks only 1.0
    # (4.9.3.25 unsupported-version).
    assert _header_error(inst, version=version) == "unsupported-version"


def test_header_wrong_namespace_is_invalid_namespace(inst):
    assert _header_error(inst, ns="http://example.com/not-streams") == "invalid-namespace"


def test_header_ok_after_errors(inst):
    """The errors above did not hurt anyone else: a plain login works."""
    async def go():
        c = await xu.login(inst, "alice", PW, mech="SCRAM-SHA-256", cb=None)
        await c.close()
    xu.run(go())


async def stock_login(inst, user):
    """A slixmpp client as Poezio uses it: no mechanism or channel binding
    chosen for it.  Returns (mechanisms offered, mechanism used or None)."""
    c = slixmpp.ClientXMPP(inst.jid(user), PW)
    c.ca_certs = inst.cafile
    done = asyncio.get_event_loop().create_future()

    def finish(ok):
        if not done.done():
            done.set_result(ok)
    c.add_event_handler("session_start", lambda _: finish(True))
    c.add_event_handler("failed_all_auth", lambda _: finish(False))
    c.add_event_handler("disconnected", lambda _: finish(False))
    c.connect((inst.host, inst.port))
    try:
        ok = await asyncio.wait_for(done, 20)
        fm = c["feature_mechanisms"]
        return set(fm.mech_list), (fm.mech.name if ok else None)
    finally:
        c.disconnect()
        await asyncio.sleep(0.2)


def test_stock_slixmpp_needs_channel_binding_off(inst, tmp_path_factory):
    """slixmpp 1.8 binds only with tls-unique, which RFC 9266 leaves
    undefined over TLS 1.3: it picks the -PLUS mechanisms offered by
    default and fails, and its retry with plain SCRAM says "y" (it could
    bind), which must fail as a downgrade (RFC 5802 section 6).  With
    `channel-binding no` no -PLUS is offered and the same client logs in."""
    offered, used = xu.run(stock_login(inst, "carol"))
    assert "SCRAM-SHA-1-PLUS" in offered and used is None
    nocb = start_instance(tmp_path_factory.mktemp("c2s-nocb"),
                          extra_conf="channel-binding no\n")
    try:
        nocb.adduser("carol", PW)
        offered, used = xu.run(stock_login(nocb, "carol"))
        assert not any(m.endswith("-PLUS") for m in offered), offered
        assert used is not None and used.startswith("SCRAM-SHA-"), used
    finally:
        assert nocb.stop(), "processes were left behind at stop"


def test_keepalive_space(tmp_path_factory):
    """keepalive: a stream that wrote nothing for that long gets a
    whitespace keepalive (RFC 6120 4.6.1), from c2sd's 5-s idle sweep, so
    between `keepalive` and `keepalive` + 5 s; the stream still works."""
    ka = start_instance(tmp_path_factory.mktemp("c2s-keepalive"),
                        extra_conf="keepalive 2s\n")
    try:
        ka.adduser("erin", PW)
        raw = xu.RawStream(ka)
        raw.login("erin", PW)
        t0 = time.time()
        raw.sock.settimeout(10)
        data = raw.sock.recv(100)
        waited = time.time() - t0
        assert data and data.strip() == b"", data
        assert 1.4 <= waited <= 8, waited
        raw.send("<iq type='get' id='p1' to='%s'><ping xmlns='urn:xmpp:ping'/>"
                 "</iq>" % ka.domain)
        el = raw.next()
        assert el.get("id") == "p1" and el.get("type") == "result"
        raw.close()
    finally:
        assert ka.stop(), "processes were left behind at stop"
