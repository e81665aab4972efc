"""c2sd web listeners with a real browser: Strophe.js in headless chromium.

tests/web/chat.mjs (playwright-core, Debian's /usr/bin/chromium) logs in
over RFC 7395 WebSocket or XEP-0206 BOSH, on the TLS listener (self-signed
certificate ignored) and on the plain loopback listener, and chats with a
slixmpp client on TCP: the browser's message reaches the TCP client with
the browser's full JID, the reply reaches the browser, and the TCP client
sees the browser's presence (same routing as TCP clients).

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
    for u in ("browser", "tcp"):
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
