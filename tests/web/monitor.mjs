// tests/web/monitor.mjs - drives web/monitor (served by c2sd) in Debian's
// headless chromium through playwright-core, for
// tests/integration/test_monitor.py.
//
// 1. PAGE_URL?jid=XMPP_JID&password=...&source=SOURCE_JID: waits for the
//    load value (the last item, sent on login), records it, writes load
//    1.7 into PROC_ROOT/loadavg (monitord publishes it), waits for it,
//    saves SCREENSHOT.
// 2. the same with mobile=1 (alerts only): once it is online, writes load
//    3.5 (an alert and a load item are published), waits for the alert,
//    then 2 s more, and counts metric notifications (must stay 0).
// Prints one JSON line and exits 0 when every step saw what it waited for.
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { runTest } from './runner.mjs';

const env = process.env;
const timeout = Number(env.TIMEOUT_MS || 40000);
let result;

function setLoad(v) {
	const p = join(env.PROC_ROOT, 'loadavg');
	writeFileSync(p + '.tmp', `${v.toFixed(2)} 0.40 0.30 1/200 4242\n`);
	renameSync(p + '.tmp', p);
}

async function open(ctx, extra) {
	const page = await ctx.newPage();
	page.on('console', (m) => result.log.push(m.text()));
	page.on('pageerror', (e) => result.log.push('pageerror ' + e));
	const q = new URLSearchParams({ jid: env.XMPP_JID,
	    password: env.XMPP_PASSWORD, source: env.SOURCE_JID, ...extra });
	await page.goto(env.PAGE_URL + '?' + q.toString());
	return page;
}

async function main(launch, res) {
	result = res;
	const browser = await launch({ viewport: { width: 1000, height: 560 } });
	const wait = { timeout: timeout / 3 };

	const page = await open(browser, {});
	await page.waitForFunction(() => window.monitor &&
	    window.monitor.metrics.load, null, wait);
	result.first = await page.evaluate(() => ({
		load: window.monitor.metrics.load.value,
		memory: window.monitor.metrics.memory &&
		    window.monitor.metrics.memory.value }));
	setLoad(1.7);
	await page.waitForFunction(() => window.monitor.metrics.load.value ===
	    '1.7', null, wait);
	result.updated = await page.evaluate(() => ({
		load: window.monitor.metrics.load.value,
		events: window.monitor.metricEvents }));
	await page.waitForTimeout(300);	// the chart's last stroke
	await page.screenshot({ path: env.SCREENSHOT });
	result.caps = await page.evaluate(() => window.monitor.caps.ver);
	await page.close();

	const mobile = await open(browser, { mobile: '1' });
	await mobile.waitForFunction(() => window.monitor &&
	    window.monitor.ready, null, wait);
	await mobile.waitForTimeout(1500);	// caps checked by the server
	const before = await mobile.evaluate(() => window.monitor.alertEvents);
	setLoad(3.5);
	await mobile.waitForFunction((n) => window.monitor.alertEvents > n,
	    before, wait);
	await mobile.waitForTimeout(2000);
	result.mobile = await mobile.evaluate(() => ({
		alerts: window.monitor.alertEvents,
		metrics: window.monitor.metricEvents,
		shown: Object.keys(window.monitor.metrics).length,
		last: window.monitor.alerts.at(-1) }));
	await mobile.screenshot({ path: env.SCREENSHOT.replace(/\.png$/,
	    '-mobile.png') });
	result.ok = result.mobile.metrics === 0 && result.mobile.alerts > 0;
}

runTest(timeout, main);
