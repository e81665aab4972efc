"""mucd with the compliance log on and a room archive retention: every
groupchat and private message through a room lands as one JSON line in
mucd's own compliance/<host>-muc.log (same record shape as imd's log,
docs/muc.md), and archived room messages older than
`room-archive-retention` leave the archive and the join history.

The instance starts with `room-archive-retention 2s`; then
`compliance-log yes` is put in its host block and routerd reloaded (as
test_imd_mam.py does), so both hold for every test here.
"""
import asyncio
import json
import os
import time

import pytest

import xmpp_util as xu
from xmpp_util import q
from conftest import start_instance
from test_muc import (PW, MAM, Muc, create, enter, groupchat, got_body,
                      close, room)

RETENTION = 2


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    inst = start_instance(tmp_path_factory.mktemp("rampart-muclog"),
                          extra_conf="room-archive-retention %ds\n" % RETENTION)
    inst.set_host_option("compliance-log yes")
    for u in ("alice", "bob"):
        inst.adduser(u, PW)
    yield inst
    assert inst.stop(), "processes were left behind at stop"


async def login(inst, user):
    return Muc(await xu.login(inst, user, PW, plugins=("xep_0045",)))


def log_lines(inst):
    path = os.path.join(inst.dir, "data", "mucd", "compliance",
                        "%s-muc.log" % inst.domain)
    assert os.path.exists(path), os.listdir(os.path.join(inst.dir, "data", "mucd"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_compliance_log_of_room_messages(inst):
    body = 'room "quote" \\ line\nbreak'
    rj = room(inst, "audited")

    async def t():
        a, b = await login(inst, "alice"), await login(inst, "bob")
        await create(a, rj, "A")
        await enter(b, rj, "B")
        groupchat(a, rj, body.replace("\n", "&#10;"))
        await got_body(b, body)
        b.send_raw("<message to='%s/A' type='chat'><body>just you</body></message>" % rj)
        await got_body(a, "just you")
        # No body, no line (a chat state only).
        b.send_raw("<message to='%s' type='groupchat'><active xmlns="
                   "'http://jabber.org/protocol/chatstates'/></message>" % rj)
        await close(a, b)
    xu.run(t())
    lines = log_lines(inst)
    g = [l for l in lines if l["body"] == body]
    assert len(g) == 1, lines
    assert g[0]["from"].startswith(inst.jid("alice") + "/")
    assert (g[0]["to"], g[0]["nick"], g[0]["type"]) == (rj, "A", "groupchat")
    p = [l for l in lines if l["body"] == "just you"]
    assert len(p) == 1, lines
    assert p[0]["from"].startswith(inst.jid("bob") + "/")
    assert (p[0]["to"], p[0]["nick"], p[0]["type"]) == (rj + "/A", "B", "chat")
    assert len(lines) == 2, lines


async def mam_bodies(m, rj):
    r = await xu.iq(m.c, rj, "<query xmlns='%s' queryid='r'/>" % MAM, itype="set")
    assert r["type"] == "result", str(r)
    count = int(r.xml.find(q(MAM, "fin")).find(
        q("http://jabber.org/protocol/rsm", "set")).findtext(
        q("http://jabber.org/protocol/rsm", "count")) or 0)
    out = []
    while len(out) < count:
        msg = await m.msg(lambda x: x.xml.find(q(MAM, "result")) is not None)
        fw = msg.xml.find(q(MAM, "result")).find(q("urn:xmpp:forward:0", "forwarded"))
        out.append(fw.find(q("jabber:client", "message")).findtext(
            q("jabber:client", "body")))
    return out


def test_archive_retention_prunes(inst):
    async def t():
        a = await login(inst, "alice")
        rj = room(inst, "fleeting")
        await create(a, rj, "A")
        groupchat(a, rj, "old news")
        await got_body(a, "old news")
        assert await mam_bodies(a, rj) == ["old news"]
        # Past the retention plus one pruning period, it is gone...
        await asyncio.sleep(RETENTION + 2)
        groupchat(a, rj, "fresh")
        await got_body(a, "fresh")
        assert await mam_bodies(a, rj) == ["fresh"]
        # ...from the join history too.
        b = await login(inst, "bob")
        await enter(b, rj, "B")
        h = await b.msg(lambda x: x["body"] or x["subject"] is not None)
        assert h["body"] == "fresh", str(h)
        await close(a, b)
    xu.run(t())
