// tests/web/chat.mjs - a browser XMPP client for the pytest web tests.
//
// Debian's chromium, headless, driven by playwright-core, opens page.html
// (Strophe.js), logs in to XMPP_URL (ws:// or wss:// = RFC 7395, http(s)://
// = BOSH) as XMPP_JID / XMPP_PASSWORD, sends presence and then "hello from
// the browser" to PEER_JID, and waits for a message from PEER_JID whose
// body is "reply". It prints one JSON line with what it saw and exits 0
// on success, 1 on any failure or after TIMEOUT_MS. Used by
// tests/integration/test_web_browser.py.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const env = process.env;
const timeout = Number(env.TIMEOUT_MS || 30000);
const here = dirname(fileURLToPath(import.meta.url));
const profile = mkdtempSync(join(tmpdir(), 'rampart-chromium-'));
let browser;
const result = { ok: false, log: [] };

async function main() {
	// a fresh profile directory: playwright passes it as --user-data-dir
	browser = await chromium.launchPersistentContext(profile, {
		executablePath: env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		ignoreHTTPSErrors: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu',
		    '--disable-quic', '--no-first-run',
		    '--disable-background-networking',
		    '--disable-component-update', '--disable-sync',
		    '--ignore-certificate-errors',
		    '--allow-file-access-from-files'],
		timeout,
	});
	const ctx = browser;
	const page = await ctx.newPage();
	page.on('console', (m) => result.log.push(m.text()));
	await page.goto(pathToFileURL(join(here, 'page.html')).href);
	const r = await page.evaluate(run, {
		url: env.XMPP_URL, jid: env.XMPP_JID, password: env.XMPP_PASSWORD,
		peer: env.PEER_JID, timeout: timeout - 2000,
	});
	Object.assign(result, r);
}

// Runs inside the page.
function run(o) {
	return new Promise((resolve) => {
		const S = window.Strophe;
		const conn = new S.Connection(o.url);
		const seen = { statuses: [], messages: [] };
		const done = (ok, why) => {
			seen.ok = ok;
			seen.why = why;
			seen.transport = o.url.startsWith('ws') ? 'websocket' : 'bosh';
			try { conn.disconnect(); } catch (e) { /* closing anyway */ }
			setTimeout(() => resolve(seen), 500);
		};
		setTimeout(() => done(false, 'timeout'), o.timeout);
		conn.addHandler((m) => {
			const body = m.getElementsByTagName('body')[0];
			const text = body ? body.textContent : '';
			const from = m.getAttribute('from') || '';
			seen.messages.push({ from, text });
			if (from.split('/')[0] === o.peer && text === 'reply')
				done(true, 'reply received');
			return true;
		}, null, 'message');
		conn.connect(o.jid, o.password, (status, cond) => {
			seen.statuses.push(status);
			if (status === S.Status.CONNECTED) {
				seen.jid = conn.jid;
				conn.send(window.$pres());
				conn.send(window.$msg({ to: o.peer, type: 'chat' })
				    .c('body').t('hello from the browser'));
			} else if (status === S.Status.AUTHFAIL ||
			    status === S.Status.CONNFAIL) {
				done(false, 'status ' + status + ' ' + cond);
			}
		});
	});
}

const killer = setTimeout(() => {
	result.why = 'node timeout';
	finish(1);
}, timeout + 15000);

async function finish(code) {
	clearTimeout(killer);
	try { if (browser) await browser.close(); } catch (e) { /* gone */ }
	rmSync(profile, { recursive: true, force: true });
	console.log(JSON.stringify(result));
	process.exit(code);
}

main().then(() => finish(result.ok ? 0 : 1), (e) => {
	result.why = String(e);
	finish(1);
});
