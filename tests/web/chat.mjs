// tests/web/chat.mjs - a browser XMPP client for the pytest web tests.
//
// Debian's chromium, headless, driven by playwright-core, opens page.html
// (Strophe.js), logs in to XMPP_URL (ws:// or wss:// = RFC 7395, http(s)://
// = BOSH) as XMPP_JID / XMPP_PASSWORD (a full JID asks for that
// resource), sends presence and then "hello from the browser" to PEER_JID
// (bare or full), and waits for a message from PEER_JID whose body is
// "reply" and, when WANT_PRESENCE names a full JID, for that JID's
// available presence. It prints one JSON line with what it saw and exits
// 0 on success, 1 on any failure or after TIMEOUT_MS. Used by
// tests/integration/test_web_browser.py.
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runTest } from './runner.mjs';

const env = process.env;
const timeout = Number(env.TIMEOUT_MS || 30000);
const here = dirname(fileURLToPath(import.meta.url));

async function main(launch, result) {
	const ctx = await launch({ ignoreHTTPSErrors: true,
	    args: ['--ignore-certificate-errors',
	    '--allow-file-access-from-files'] });
	const page = await ctx.newPage();
	page.on('console', (m) => result.log.push(m.text()));
	await page.goto(pathToFileURL(join(here, 'page.html')).href);
	const r = await page.evaluate(run, {
		url: env.XMPP_URL, jid: env.XMPP_JID, password: env.XMPP_PASSWORD,
		peer: env.PEER_JID, presence: env.WANT_PRESENCE || '',
		timeout: timeout - 2000,
	});
	Object.assign(result, r);
}

// Runs inside the page.
function run(o) {
	return new Promise((resolve) => {
		const S = window.Strophe;
		const conn = new S.Connection(o.url);
		const seen = { statuses: [], messages: [], presences: [] };
		const bare = (j) => j.split('/')[0];
		let replied = false;
		const check = () => {
			if (replied && (!o.presence || seen.presences.some(
			    (p) => p.from === o.presence && p.type === '')))
				done(true, 'reply and presence received');
		};
		const done = (ok, why) => {
			if (seen.why)
				return;	/* already ending */
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
			if ((from === o.peer || bare(from) === o.peer) &&
			    text === 'reply') {
				replied = true;
				check();
			}
			return true;
		}, null, 'message');
		conn.addHandler((p) => {
			seen.presences.push({ from: p.getAttribute('from') || '',
			    type: p.getAttribute('type') || '' });
			check();
			return true;
		}, null, 'presence');
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

runTest(timeout, main);
