"""mucd, the parts of XEP-0045 beyond the basics of test_muc.py:
mediated invitations and declines (7.8.2), direct invitations (XEP-0249)
between slixmpp clients, voice requests (7.13, 8.6), room registration
and reserved nicks (7.10, 7.12, status 210), the roomowners/roomadmins
fields of the configuration form (10.2), status codes 100/170/321/322,
and 332 when mucd stops (`rampartctl restart mucd`).

Real slixmpp clients over TLS through c2sd -> routerd -> mucd.  Each test
has its own room; the restart test runs last because it empties every
room of its occupants.
"""
import asyncio

import pytest

import xmpp_util as xu
from xmpp_util import q
from test_muc import (PW, MUC_USER, MUC_ADMIN, MUC_OWNER, XDATA, DISCO_INFO,
                      Muc, codes, item, join, self_presence, create, enter,
                      groupchat, got_body, close, room)

REGISTER = "jabber:iq:register"
MUC_REGISTER = "http://jabber.org/protocol/muc#register"
MUC_REQUEST = "http://jabber.org/protocol/muc#request"
CONFERENCE = "jabber:x:conference"


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("alice", "bob", "carol"):
        instance.adduser(u, PW)
    return instance


async def login(inst, user, resource=None, plugins=("xep_0045",)):
    return Muc(await xu.login(inst, user, PW, resource=resource,
                              plugins=plugins))


def field_values(form, var):
    for f in form.findall(q(XDATA, "field")):
        if f.get("var") == var:
            return [v.text or "" for v in f.findall(q(XDATA, "value"))]
    return None


def submit(fields):
    """A submitted form: {var: value or [values]}."""
    out = "<x xmlns='%s' type='submit'>" % XDATA
    for var, val in fields.items():
        vals = val if isinstance(val, list) else [val]
        out += "<field var='%s'>%s</field>" % (
            var, "".join("<value>%s</value>" % v for v in vals))
    return out + "</x>"


async def admin_list(m, rj, aff):
    r = await xu.iq(m.c, rj, "<query xmlns='%s'><item affiliation='%s'/></query>"
                    % (MUC_ADMIN, aff))
    assert r["type"] == "result", str(r)
    return {i.get("jid") for i in r.xml.find(q(MUC_ADMIN, "query"))}


async def set_aff(m, rj, jid, aff):
    r = await xu.iq(m.c, rj, "<query xmlns='%s'><item jid='%s' affiliation='%s'/>"
                    "</query>" % (MUC_ADMIN, jid, aff), itype="set")
    assert r["type"] == "result", str(r)


async def configure(m, rj, fields):
    return await xu.iq(m.c, rj, "<query xmlns='%s'>%s</query>"
                       % (MUC_OWNER, submit(fields)), itype="set")


def muc_x(m):
    return m.xml.find(q(MUC_USER, "x"))


def test_mediated_invitation_members_only_and_decline(inst):
    async def t():
        a, b, c = (await login(inst, "alice"), await login(inst, "bob"),
                   await login(inst, "carol"))
        rj = room(inst, "invited")
        await create(a, rj, "A", {"muc#roomconfig_membersonly": "1"})
        join(b, rj, "B")
        err = await b.pres(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "registration-required"
        # The owner may add members: the invitation makes Bob one (7.8.2).
        a.send_raw("<message to='%s'><x xmlns='%s'><invite to='%s'><reason>"
                   "come in</reason></invite></x></message>"
                   % (rj, MUC_USER, inst.jid("bob")))
        inv = await b.msg(lambda x: muc_x(x) is not None and
                          muc_x(x).find(q(MUC_USER, "invite")) is not None)
        assert str(inv["from"]) == rj
        i = muc_x(inv).find(q(MUC_USER, "invite"))
        assert i.get("from") == str(a.c.boundjid)
        assert i.findtext(q(MUC_USER, "reason")) == "come in"
        assert inst.jid("bob") in await admin_list(a, rj, "member")
        p = await enter(b, rj, "B")
        assert item(p).get("affiliation") == "member"
        # A member may not invite when allowinvites is off.
        b.send_raw("<message to='%s'><x xmlns='%s'><invite to='%s'/></x></message>"
                   % (rj, MUC_USER, inst.jid("carol")))
        err = await b.msg(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "forbidden"
        assert inst.jid("carol") not in await admin_list(a, rj, "member")
        # Carol declines an invitation: Alice hears it from the room.
        c.send_raw("<message to='%s'><x xmlns='%s'><decline to='%s'><reason>"
                   "busy</reason></decline></x></message>"
                   % (rj, MUC_USER, inst.jid("alice")))
        d = await a.msg(lambda x: muc_x(x) is not None and
                        muc_x(x).find(q(MUC_USER, "decline")) is not None)
        assert str(d["from"]) == rj
        dd = muc_x(d).find(q(MUC_USER, "decline"))
        assert dd.get("from") == inst.jid("carol")
        assert dd.get("to") is None
        assert dd.findtext(q(MUC_USER, "reason")) == "busy"
        await close(a, b, c)
    xu.run(t())


def test_mediated_invitation_open_room_adds_no_member(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "openinv")
        await create(a, rj, "A", {"muc#roomconfig_passwordprotectedroom": "1",
                                  "muc#roomconfig_roomsecret": "s3cret"})
        a.send_raw("<message to='%s'><x xmlns='%s'><invite to='%s'/></x></message>"
                   % (rj, MUC_USER, inst.jid("bob")))
        inv = await b.msg(lambda x: muc_x(x) is not None and
                          muc_x(x).find(q(MUC_USER, "invite")) is not None)
        # The password of a protected room travels with the invitation.
        assert muc_x(inv).findtext(q(MUC_USER, "password")) == "s3cret"
        assert await admin_list(a, rj, "member") == set()
        await close(a, b)
    xu.run(t())


def test_direct_invitation_xep0249(inst):
    async def t():
        plugins = ("xep_0045", "xep_0249")
        a = await login(inst, "alice", plugins=plugins)
        b = await login(inst, "bob", plugins=plugins)
        rj = room(inst, "direct")
        await create(a, rj, "A")
        got = asyncio.get_running_loop().create_future()
        b.c.add_event_handler("groupchat_direct_invite",
                              lambda m: got.done() or got.set_result(m))
        a.c.plugin["xep_0249"].send_invitation(b.c.boundjid, rj,
                                                reason="see you there")
        m = await asyncio.wait_for(got, 5)
        assert str(m["from"]) == str(a.c.boundjid)
        assert str(m["groupchat_invite"]["jid"]) == rj
        assert m["groupchat_invite"]["reason"] == "see you there"
        # The invitee can discover and enter the room it names.
        r = await xu.iq(b.c, rj, "<query xmlns='%s'/>" % DISCO_INFO)
        feats = {f.get("var") for f in r.xml.find(q(DISCO_INFO, "query"))
                 .findall(q(DISCO_INFO, "feature"))}
        assert {"http://jabber.org/protocol/muc", REGISTER} <= feats
        await enter(b, rj, "B")
        await close(a, b)
    xu.run(t())


def test_voice_request_approved(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "quiet")
        await create(a, rj, "A", {"muc#roomconfig_moderatedroom": "1"})
        r = await xu.iq(b.c, rj, "<query xmlns='%s'/>" % DISCO_INFO)
        feats = {f.get("var") for f in r.xml.find(q(DISCO_INFO, "query"))
                 .findall(q(DISCO_INFO, "feature"))}
        assert {"muc_moderated", MUC_REQUEST} <= feats
        p = await enter(b, rj, "B")
        assert item(p).get("role") == "visitor"
        groupchat(b, rj, "hello?")
        err = await b.msg(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "forbidden"
        # 7.13: the visitor asks for voice.
        b.send_raw("<message to='%s'>%s</message>" % (rj, submit(
            {"FORM_TYPE": MUC_REQUEST, "muc#role": "participant"})))
        req = await a.msg(lambda x: x.xml.find(q(XDATA, "x")) is not None)
        assert str(req["from"]) == rj
        form = req.xml.find(q(XDATA, "x"))
        assert field_values(form, "FORM_TYPE") == [MUC_REQUEST]
        assert field_values(form, "muc#jid") == [inst.jid("bob")]
        assert field_values(form, "muc#roomnick") == ["B"]
        assert field_values(form, "muc#request_allow") == ["false"]
        # 8.6: the moderator approves; Bob becomes a participant.
        a.send_raw("<message to='%s'>%s</message>" % (rj, submit(
            {"FORM_TYPE": MUC_REQUEST, "muc#role": "participant",
             "muc#jid": inst.jid("bob"), "muc#roomnick": "B",
             "muc#request_allow": "true"})))
        p = await b.pres(lambda x: "110" in codes(x) and
                         item(x).get("role") == "participant")
        groupchat(b, rj, "now I speak")
        await got_body(a, "now I speak")
        await close(a, b)
    xu.run(t())


def test_voice_request_denied_or_forged(inst):
    async def t():
        a, b, c = (await login(inst, "alice"), await login(inst, "bob"),
                   await login(inst, "carol"))
        rj = room(inst, "quiet2")
        await create(a, rj, "A", {"muc#roomconfig_moderatedroom": "1"})
        await enter(b, rj, "B")
        await enter(c, rj, "C")
        # A visitor cannot approve its own (or anyone's) request.
        b.send_raw("<message to='%s'>%s</message>" % (rj, submit(
            {"FORM_TYPE": MUC_REQUEST, "muc#role": "participant",
             "muc#roomnick": "C", "muc#request_allow": "true"})))
        # A moderator's refusal grants nothing either.
        a.send_raw("<message to='%s'>%s</message>" % (rj, submit(
            {"FORM_TYPE": MUC_REQUEST, "muc#roomnick": "B",
             "muc#request_allow": "false"})))
        await asyncio.sleep(0.5)
        groupchat(c, rj, "still muted?")
        err = await c.msg(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "forbidden"
        groupchat(b, rj, "me too?")
        err = await b.msg(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "forbidden"
        await close(a, b, c)
    xu.run(t())


def test_registration_reserves_nick(inst):
    async def t():
        a, b, c = (await login(inst, "alice"), await login(inst, "bob"),
                   await login(inst, "carol"))
        rj = room(inst, "regs")
        await create(a, rj, "A")
        r = await xu.iq(b.c, rj, "<query xmlns='%s'/>" % REGISTER)
        form = r.xml.find(q(REGISTER, "query")).find(q(XDATA, "x"))
        assert field_values(form, "FORM_TYPE") == [MUC_REGISTER]
        assert field_values(form, "muc#register_roomnick") == []
        r = await xu.iq(b.c, rj, "<query xmlns='%s'>%s</query>" % (REGISTER, submit(
            {"FORM_TYPE": MUC_REGISTER, "muc#register_roomnick": "Bobby"})),
            itype="set")
        assert r["type"] == "result", str(r)
        # Registered: the form says so, and disco tells the nick (7.12).
        r = await xu.iq(b.c, rj, "<query xmlns='%s'/>" % REGISTER)
        qq = r.xml.find(q(REGISTER, "query"))
        assert qq.find(q(REGISTER, "registered")) is not None
        assert qq.findtext(q(REGISTER, "username")) == "Bobby"
        r = await xu.iq(b.c, rj, "<query xmlns='%s' node='x-roomuser-item'/>"
                        % DISCO_INFO)
        ident = r.xml.find(q(DISCO_INFO, "query")).find(q(DISCO_INFO, "identity"))
        assert ident.get("name") == "Bobby"
        assert inst.jid("bob") in await admin_list(a, rj, "member")
        # Carol may neither register nor use the nick.
        r = await xu.iq(c.c, rj, "<query xmlns='%s'>%s</query>" % (REGISTER, submit(
            {"FORM_TYPE": MUC_REGISTER, "muc#register_roomnick": "Bobby"})),
            itype="set")
        assert xu.stanza_error_condition(r)[1] == "conflict"
        join(c, rj, "Bobby")
        err = await c.pres(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "conflict"
        # Bob asks for another nick and is given his own, with 210.
        join(b, rj, "Robert")
        p = await self_presence(b, rj)
        assert str(p["from"]) == rj + "/Bobby"
        assert {"110", "210"} <= codes(p)
        assert item(p).get("affiliation") == "member"
        b.send_raw("<presence to='%s/Robert'/>" % rj)
        err = await b.pres(lambda x: x["type"] == "error")
        assert xu.stanza_error_condition(err)[1] == "not-acceptable"
        # Unregistering frees the nick and ends the membership.
        r = await xu.iq(b.c, rj, "<query xmlns='%s'><remove/></query>" % REGISTER,
                        itype="set")
        assert r["type"] == "result"
        r = await xu.iq(b.c, rj, "<query xmlns='%s' node='x-roomuser-item'/>"
                        % DISCO_INFO)
        assert r.xml.find(q(DISCO_INFO, "query")).find(q(DISCO_INFO, "identity")) is None
        assert inst.jid("bob") not in await admin_list(a, rj, "member")
        await close(a, b, c)
    xu.run(t())


def test_registration_refused_in_members_only_room(inst):
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "closedregs")
        await create(a, rj, "A", {"muc#roomconfig_membersonly": "1"})
        form = submit({"FORM_TYPE": MUC_REGISTER, "muc#register_roomnick": "Bo"})
        r = await xu.iq(b.c, rj, "<query xmlns='%s'>%s</query>" % (REGISTER, form),
                        itype="set")
        assert xu.stanza_error_condition(r)[1] == "not-allowed"
        await set_aff(a, rj, inst.jid("bob"), "member")
        r = await xu.iq(b.c, rj, "<query xmlns='%s'>%s</query>" % (REGISTER, form),
                        itype="set")
        assert r["type"] == "result", str(r)
        r = await xu.iq(b.c, rj, "<query xmlns='%s'>%s</query>" % (REGISTER,
                        "<x xmlns='%s' type='submit'/>" % XDATA), itype="set")
        assert xu.stanza_error_condition(r)[1] == "bad-request"
        await close(a, b)
    xu.run(t())


def test_config_roomowners_roomadmins(inst):
    async def t():
        a, b, c = (await login(inst, "alice"), await login(inst, "bob"),
                   await login(inst, "carol"))
        rj = room(inst, "owners")
        await create(a, rj, "A")
        r = await xu.iq(a.c, rj, "<query xmlns='%s'/>" % MUC_OWNER)
        form = r.xml.find(q(MUC_OWNER, "query")).find(q(XDATA, "x"))
        assert field_values(form, "muc#roomconfig_roomowners") == [inst.jid("alice")]
        assert field_values(form, "muc#roomconfig_roomadmins") == []
        r = await configure(a, rj, {
            "muc#roomconfig_roomowners": [inst.jid("alice"), inst.jid("bob")],
            "muc#roomconfig_roomadmins": [inst.jid("carol")]})
        assert r["type"] == "result", str(r)
        assert await admin_list(a, rj, "owner") == {inst.jid("alice"), inst.jid("bob")}
        assert await admin_list(a, rj, "admin") == {inst.jid("carol")}
        r = await xu.iq(b.c, rj, "<query xmlns='%s'/>" % MUC_OWNER)
        assert r["type"] == "result"
        # No owner left, a bad JID, or one JID on both lists: refused whole.
        for bad in ({"muc#roomconfig_roomowners": []},
                    {"muc#roomconfig_roomowners": ["@@bad"]},
                    {"muc#roomconfig_roomowners": [inst.jid("bob")],
                     "muc#roomconfig_roomadmins": [inst.jid("bob")]}):
            r = await configure(b, rj, bad)
            assert xu.stanza_error_condition(r)[1] == "not-acceptable", bad
        assert await admin_list(a, rj, "owner") == {inst.jid("alice"), inst.jid("bob")}
        # Bob drops Alice from the owners and Carol from the admins.
        r = await configure(b, rj, {"muc#roomconfig_roomowners": [inst.jid("bob")],
                                    "muc#roomconfig_roomadmins": []})
        assert r["type"] == "result", str(r)
        p = await a.pres(lambda x: "110" in codes(x) and
                         item(x).get("affiliation") == "none")
        assert item(p).get("role") == "participant"
        r = await xu.iq(a.c, rj, "<query xmlns='%s'/>" % MUC_OWNER)
        assert xu.stanza_error_condition(r)[1] == "forbidden"
        assert await admin_list(b, rj, "admin") == set()
        await close(a, b, c)
    xu.run(t())


def test_status_codes_100_170_322_321(inst):
    async def t():
        a, b, c = (await login(inst, "alice"), await login(inst, "bob"),
                   await login(inst, "carol"))
        rj = room(inst, "codes")
        p = await create(a, rj, "A", {"muc#roomconfig_whois": "anyone"})
        assert {"110", "201", "170"} <= codes(p)
        # Non-anonymous (100) and logged (170), told to the newcomer.
        p = await enter(b, rj, "B")
        assert {"110", "100", "170"} <= codes(p)
        # Logging off: later joins do not hear 170.
        r = await configure(a, rj, {"muc#roomconfig_enablelogging": "0"})
        assert r["type"] == "result"
        p = await enter(c, rj, "C")
        assert "100" in codes(p) and "170" not in codes(p)
        await set_aff(a, rj, inst.jid("bob"), "member")
        # Members-only now: Carol, no member, leaves with 322 (9.x, 10.2).
        r = await configure(a, rj, {"muc#roomconfig_membersonly": "1"})
        assert r["type"] == "result"
        k = await c.pres(lambda x: x["type"] == "unavailable")
        assert {"322", "110"} <= codes(k)
        seen = await b.pres(lambda x: x["type"] == "unavailable" and
                            str(x["from"]) == rj + "/C")
        assert "322" in codes(seen)
        # Bob loses his membership: 321.
        await set_aff(a, rj, inst.jid("bob"), "none")
        k = await b.pres(lambda x: x["type"] == "unavailable" and "110" in codes(x))
        assert "321" in codes(k)
        seen = await a.pres(lambda x: x["type"] == "unavailable" and
                            str(x["from"]) == rj + "/B")
        assert "321" in codes(seen)
        await close(a, b, c)
    xu.run(t())


def test_zz_shutdown_332_and_registration_survives(inst):
    """mucd stops: occupants get 332; the persistent room, its members
    and reserved nicks are there after the restart."""
    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        rj = room(inst, "lasting")
        await create(a, rj, "A", {"muc#roomconfig_persistentroom": "1"})
        r = await xu.iq(b.c, rj, "<query xmlns='%s'>%s</query>" % (REGISTER, submit(
            {"FORM_TYPE": MUC_REGISTER, "muc#register_roomnick": "Bobby"})),
            itype="set")
        assert r["type"] == "result", str(r)
        await enter(b, rj, "Bobby")
        old = inst.pid_of("mucd")
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: inst.ctl("restart", "mucd"))
        for m, nick in ((a, "A"), (b, "Bobby")):
            k = await m.pres(lambda x: x["type"] == "unavailable" and
                             str(x["from"]) == "%s/%s" % (rj, nick), timeout=10)
            assert {"332", "110"} <= codes(k), str(k)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: inst.wait_ready("mucd", timeout=10, not_pid=old))
        join(b, rj, "Other")
        p = await self_presence(b, rj)
        assert str(p["from"]) == rj + "/Bobby"
        assert "210" in codes(p) and "201" not in codes(p)
        assert item(p).get("affiliation") == "member"
        await close(a, b)
    xu.run(t(), timeout=40)
