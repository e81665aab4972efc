"""c2sd web listeners with a real browser: Strophe.js in headless chromium.

tests/web/chat.mjs (playwright-core, Debian's /usr/bin/chromium) logs in
over RFC 7395 WebSocket or XEP-0206 BOSH, on the TLS listener (self-signed
certificate ignored) and on the plain loopback listener, and chats with a
slixmpp client on TCP: the browser's message reaches the TCP client with
the browser's full JID, the reply reaches the browser, and the TCP client
sees the browser's presence (same routing as TCP clients).  Two sessions
of one account, the browser's (user@domain/web, WebSocket or BOSH) and a
TCP one (user@domain/tcp), see each other's available presence and each
gets the message sent to its full JID (RFC 6121 4.2.2, 8.5.3.1).

Skipped (not passed) when node, chromium or tests/web/node_modules is
missing; tests/run counts that as a failure (it runs npm ci first).
"""
import asyncio
import json
import os
import shutil
import subprocess

import pytest

import xmpp_util as xu
from conftest import ROOT

WEB = os.path.join(ROOT, "tests", "web")
PW = "pw-web-browser-1"

have_browser = (shutil.which("node") and os.path.exists("/usr/bin/chromium")
                and os.path.isdir(os.path.join(WEB, "node_modules",
                                               "playwright-core")))
pytestmark = pytest.mark.skipif(not have_browser,
                                reason="node, chromium or tests/web/node_modules missing")


@pytest.fixture(scope="module")
def inst(instance):
    for u in ("browser", "tcp", "both"):
        instance.adduser(u, PW)
    return instance


async def chat_with_browser(inst, url):
    peer = await xu.login(inst, "tcp", PW, resource="slix")
    seen_presence = []
    peer.add_event_handler("presence_available",
                           lambda p: seen_presence.append(str(p["from"])))
    try:
        env = dict(os.environ, XMPP_URL=url, XMPP_JID=inst.jid("browser"),
                   XMPP_PASSWORD=PW, PEER_JID=inst.jid("tcp"),
                   TIMEOUT_MS="30000")
        proc = await asyncio.create_subprocess_exec(
            "node", os.path.join(WEB, "chat.mjs"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        msg = await peer.next_message(timeout=30)
        assert msg["body"] == "hello from the browser"
        frm = str(msg["from"])
        assert frm.startswith(inst.jid("browser") + "/"), frm
        peer.send_message(mto=frm, mbody="reply", mtype="chat")
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        res = json.loads(out.decode().strip().splitlines()[-1])
        assert proc.returncode == 0, (res, err.decode()[-2000:])
        assert res["ok"] and res["jid"] == frm, res
        return res
    finally:
        await peer.close()


@pytest.mark.parametrize("kind", ["WS_URL", "WS_URL_PLAIN", "BOSH_URL",
                                  "BOSH_URL_PLAIN"])
def test_browser_chat(inst, kind):
    res = xu.run(chat_with_browser(inst, inst.env[kind]), timeout=90)
    assert res["transport"] == ("websocket" if kind.startswith("WS") else "bosh")


async def same_account(inst, url):
    """The browser as both@/web, slixmpp as both@/tcp."""
    web, tcp = inst.jid("both") + "/web", inst.jid("both") + "/tcp"
    peer = await xu.login(inst, "both", PW, resource="tcp")
    seen = []
    peer.add_event_handler("presence_available",
                           lambda p: seen.append(str(p["from"])))
    try:
        env = dict(os.environ, XMPP_URL=url, XMPP_JID=web, XMPP_PASSWORD=PW,
                   PEER_JID=tcp, WANT_PRESENCE=tcp, TIMEOUT_MS="30000")
        proc = await asyncio.create_subprocess_exec(
            "node", os.path.join(WEB, "chat.mjs"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        msg = await peer.next_message(timeout=30)
        assert msg["body"] == "hello from the browser"
        assert str(msg["from"]) == web and str(msg["to"]) == tcp
        assert web in seen, seen	# the browser's presence reached /tcp
        peer.send_message(mto=web, mbody="reply", mtype="chat")
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        res = json.loads(out.decode().strip().splitlines()[-1])
        assert proc.returncode == 0, (res, err.decode()[-2000:])
        assert res["jid"] == web
        assert {"from": tcp, "text": "reply"} in res["messages"], res
        assert {"from": tcp, "type": ""} in res["presences"], res
        return res
    finally:
        await peer.close()


@pytest.mark.parametrize("kind", ["WS_URL", "BOSH_URL"])
def test_browser_and_tcp_same_account(inst, kind):
    xu.run(same_account(inst, inst.env[kind]), timeout=90)
