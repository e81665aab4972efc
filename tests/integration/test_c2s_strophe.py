"""c2sd with a second client library: libstrophe (C) talks to slixmpp.

strophe_client.c is compiled here with `cc ... $(pkg-config libstrophe)`
into a temporary directory, logs in over STARTTLS trusting the
instance's certificate, sends a message to a slixmpp client and waits for
the reply, which the slixmpp client sends when the message arrives.
"""
import asyncio
import os
import shutil
import subprocess

import pytest

import xmpp_util as xu

PW = "pw-strophe-1"
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def strophe_client(tmp_path_factory):
    if shutil.which("pkg-config") is None or subprocess.run(
            ["pkg-config", "--exists", "libstrophe"]).returncode != 0:
        pytest.skip("libstrophe is not installed")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libstrophe"],
                           capture_output=True, text=True, check=True).stdout.split()
    out = str(tmp_path_factory.mktemp("strophe") / "strophe_client")
    r = subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o", out,
                        os.path.join(HERE, "strophe_client.c")] + flags,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("stro", "slix"):
        instance.adduser(u, PW)
    return instance


def test_strophe_and_slixmpp_exchange_messages(inst, strophe_client):
    async def go():
        peer = await xu.login(inst, "slix", PW, resource="s1")
        try:
            proc = await asyncio.create_subprocess_exec(
                strophe_client, inst.jid("stro") + "/cli", PW, inst.cafile,
                inst.host, str(inst.port), str(peer.boundjid), "hello from C",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                m = await peer.next_message(timeout=15)
                assert m["body"] == "hello from C", str(m)
                assert str(m["from"]) == inst.jid("stro") + "/cli"
                peer.send_message(mto=str(m["from"]), mbody="hello from Python",
                                  mtype="chat")
                out, err = await asyncio.wait_for(proc.communicate(), 15)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            assert proc.returncode == 0, err.decode(errors="replace")
            assert out.decode().strip() == "hello from Python"
        finally:
            await peer.close()
    xu.run(go(), 40)


def test_strophe_wrong_password_fails(inst, strophe_client):
    r = subprocess.run([strophe_client, inst.jid("stro"), "wrong", inst.cafile,
                        inst.host, str(inst.port), inst.jid("slix")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stdout == ""
