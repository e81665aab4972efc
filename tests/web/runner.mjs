// tests/web/runner.mjs - what every browser test script shares: Debian's
// chromium launched headless by playwright-core in a scratch profile,
// one JSON result line on stdout, exit status 0 (result.ok) or 1, and a
// hard deadline so that a stuck page never hangs the suite.
//
// Usage: runTest(timeoutMs, async (launch, result) => { ... set result.ok })
// where launch(options) starts chromium (options are added to ours).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'];

export function runTest(timeout, body) {
	const profile = mkdtempSync(join(tmpdir(), 'rampart-chromium-'));
	const result = { ok: false, log: [] };
	let browser;

	const finish = async (code) => {
		clearTimeout(killer);
		try { if (browser) await browser.close(); } catch (e) { /* gone */ }
		rmSync(profile, { recursive: true, force: true });
		console.log(JSON.stringify(result));
		process.exit(code);
	};
	const killer = setTimeout(() => {
		result.why = 'node timeout';
		finish(1);
	}, timeout + 15000);
	const launch = async (opts = {}) => {
		// a fresh profile directory: playwright passes it as
		// --user-data-dir
		browser = await chromium.launchPersistentContext(profile, {
			executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
			headless: true,
			timeout,
			...opts,
			args: ARGS.concat(opts.args || []),
		});
		return browser;
	};
	body(launch, result).then(() => finish(result.ok ? 0 : 1), (e) => {
		result.why = String(e);
		finish(1);
	});
}
