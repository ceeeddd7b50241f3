// tests/browser/pickup.mjs: the pickup page in a real browser, for
// tests/integration/99-browser-pickup.sh (which starts the portal, makes
// the enrollments and checks what this leaves behind with openssl).
//
//   node tests/browser/pickup.mjs CONFIG.json
//
// CONFIG: { "base": "http://127.0.0.1:PORT",
//           "main":    { "token": T, "password": P },  downloaded once
//           "locked":  { "token": T, "password": P },  two wrong passwords
//           "expired": { "token": T, "password": P },  past PickupLifetime
//           "out": DIR,            screenshots (tests/out/..., for a human)
//           "download": FILE,      where the PKCS#12 is saved
//           "fingerprint": FILE }  the page's root fingerprint, for openssl
//
// One Chromium (Debian's /usr/bin/chromium, driven by playwright-core;
// nothing downloads a browser), two contexts: a phone (iPhone, 390x844,
// isMobile) and a desktop (Windows, 1280x800).  Prints one TAP line per
// item of the markup contract ("ok - ..." / "not ok - ..."), "# " lines
// for details; exits 1 when anything failed.  Every wait is bounded.
//
// The contract (what the page must have; selectors below follow it):
//   <html lang="..">; <form id="pickup-form" method="post"> with
//   <label for="password">, <input id="password" name="password"
//   type="password">, <button type="submit">; radios name="format" with
//   values modern and legacy, one preselected; <section class="howto"
//   id="howto-..."> for the six clients in CLIENTS order, the visitor's
//   own first; <a id="root-cert" href="/root.crt"> and <code
//   id="root-fingerprint"> (SHA-256, colon hex); error pages <main
//   id="error" data-reason="wrong-password|used|expired|locked"> with an
//   <h1> and a <p class="next">.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 15000;          // ms, any one navigation, click or download
const DEADLINE = 240000;     // ms, the whole run

const CLIENTS = ['howto-outlook-windows', 'howto-outlook-mac', 'howto-apple-mail-macos',
    'howto-apple-mail-ios', 'howto-thunderbird', 'howto-android'];
const VISITORS = {
	phone: {
		first: 'howto-apple-mail-ios',
		context: {
			viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
			deviceScaleFactor: 2,
			userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) ' +
			    'AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
		},
	},
	desktop: {
		first: 'howto-outlook-windows',
		context: {
			viewport: { width: 1280, height: 800 }, isMobile: false, deviceScaleFactor: 1,
			userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ' +
			    '(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
		},
	},
};

let failures = 0;
const ok = (what) => console.log(`ok - ${what}`);
const diag = (line) => console.log(`# ${line}`.replace(/\n/g, '\n# '));
function notOk(what, details = []) {
	failures++;
	console.log(`not ok - ${what}`);
	for (const d of details)
		diag(d);
}
const check = (cond, what, details = []) => (cond ? ok(what) : notOk(what, details));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const link = (which) => `${cfg.base}/pickup?t=${cfg[which].token}`;

// ---- per-page bookkeeping: console errors and downloads ------------------

// Every download of the run, on any page.
const downloads = [];

// Console errors and uncaught exceptions of a page since the last call.
// Two of Chromium's own notes are left out (anything else counts): a
// document's own 4xx status ("Failed to load resource: ... status of
// 403"), which the error pages answer on purpose, and the 404 of the
// browser's own request for /favicon.ico, which no page asks for (shown
// as a "# " line).
function watch(page) {
	const w = { errors: [] };
	page.on('console', (m) => {
		if (m.type() !== 'error')
			return;
		const url = m.location().url || '';
		const status = /^Failed to load resource: the server responded with a status of 4\d\d/
		    .test(m.text());
		if (status && url === page.url())
			return;
		if (status && new URL(url, cfg.base).pathname === '/favicon.ico') {
			diag(`note: the browser's own request for /favicon.ico: ${m.text()}`);
			return;
		}
		w.errors.push(`${m.text()} (${url || 'no location'})`);
	});
	page.on('pageerror', (e) => w.errors.push(`uncaught: ${e.message}`));
	page.on('download', (d) => downloads.push(d));
	w.take = () => w.errors.splice(0);
	return w;
}

function consoleClean(w, where) {
	const errs = w.take();
	check(errs.length === 0, `${where}: no console errors`, errs);
}

// ---- axe-core --------------------------------------------------------

async function axeCheck(page, where) {
	try {
		await page.addScriptTag({ path: AXE });
		const r = await page.evaluate(() => globalThis.axe.run(document,
		    { resultTypes: ['violations'] }));
		const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
		const lines = bad.map((v) => `${v.impact}: ${v.id}: ${v.help} (${v.helpUrl})\n  at ` +
		    v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n  at '));
		check(bad.length === 0, `${where}: axe-core finds no serious or critical violation` +
		    (bad.length ? ` (${bad.length})` : ''), lines);
		const minor = r.violations.length - bad.length;
		if (minor > 0)
			diag(`${where}: axe-core: ${minor} minor or moderate: ` +
			    r.violations.filter((v) => !bad.includes(v)).map((v) => v.id).join(', '));
	} catch (e) {
		notOk(`${where}: axe-core runs on the page`, [String(e)]);
	}
}

// ---- the form page ---------------------------------------------------

async function attr(page, sel, name) {
	const el = await page.$(sel);
	return el ? el.getAttribute(name) : null;
}

async function checkLang(page, where) {
	const lang = await attr(page, 'html', 'lang');
	check(!!lang && lang.trim() !== '', `${where}: <html lang> is set (${lang})`);
}

async function checkForm(page, where) {
	const method = await attr(page, 'form#pickup-form', 'method');
	check(method !== null && method.toLowerCase() === 'post',
	    `${where}: <form id="pickup-form" method="post">` + (method === null ? ' (no such form)' : ''));
	const label = await page.$('label[for="password"]');
	const labelText = label ? (await label.innerText()).trim() : '';
	check(labelText !== '', `${where}: <label for="password"> with text`);
	check(await page.$('form#pickup-form input#password[name="password"][type="password"]') !== null,
	    `${where}: <input id="password" name="password" type="password"> in the form`);
	check(await page.$('form#pickup-form button[type="submit"]') !== null,
	    `${where}: <button type="submit"> in the form`);
	const radios = await page.$$eval('input[type="radio"][name="format"]',
	    (els) => els.map((e) => ({ value: e.value, checked: e.checked })));
	const values = radios.map((r) => r.value).sort().join(',');
	check(values === 'legacy,modern',
	    `${where}: format radios name="format" with values modern and legacy (${values || 'none'})`);
	const chosen = radios.filter((r) => r.checked).map((r) => r.value);
	check(chosen.length === 1, `${where}: one format preselected (${chosen.join(',') || 'none'})`);
}

async function checkHowto(page, where, first) {
	const ids = await page.$$eval('section.howto', (els) => els.map((e) => e.id));
	const missing = CLIENTS.filter((c) => !ids.includes(c));
	check(missing.length === 0, `${where}: a <section class="howto"> for each of the six clients`,
	    missing.length ? [`missing: ${missing.join(' ')}`, `found: ${ids.join(' ') || 'none'}`] : []);
	check(ids[0] === first, `${where}: the visitor's platform first (${first})`,
	    [`order: ${ids.join(' ') || 'none'}`]);
	const want = [first, ...CLIENTS.filter((c) => c !== first)];
	const got = ids.filter((i) => CLIENTS.includes(i));
	check(missing.length === 0 && got.join(' ') === want.join(' '),
	    `${where}: the other clients in the contract's order`,
	    [`want: ${want.join(' ')}`, `got:  ${got.join(' ') || 'none'}`]);
}

async function checkRoot(page, where) {
	const href = await attr(page, 'a#root-cert', 'href');
	let p = null;
	try {
		p = href === null ? null : new URL(href, page.url()).pathname;
	} catch { /* reported below */ }
	check(p === '/root.crt', `${where}: <a id="root-cert" href="/root.crt"> (${href})`);
	const code = await page.$('code#root-fingerprint');
	const fp = code ? (await code.innerText()).trim() : '';
	check(/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/.test(fp),
	    `${where}: <code id="root-fingerprint"> in SHA-256 colon hex (${fp || 'none'})`);
	return fp;
}

async function formPage(ctx, name) {
	const where = `pickup page (${name})`;
	const page = await ctx.newPage();
	const w = watch(page);
	let res = null;
	try {
		res = await page.goto(link('main'), { waitUntil: 'load' });
	} catch (e) {
		diag(String(e));
	}
	check(res !== null && res.status() === 200,
	    `${where}: renders (HTTP ${res ? res.status() : 'none'})`);
	await checkLang(page, where);
	await checkForm(page, where);
	await checkHowto(page, where, VISITORS[name].first);
	const fp = await checkRoot(page, where);
	// A phone lays out a page without <meta name="viewport"> 980 px wide.
	const screen = page.viewportSize().width;
	const width = await page.evaluate(() => document.documentElement.scrollWidth);
	check(width <= screen, `${where}: laid out to the screen's width, no sideways scrolling ` +
	    `(${width} px on ${screen})`);
	await axeCheck(page, where);
	consoleClean(w, where);
	// What the visitor sees first (for docs/img), and the whole page.
	await page.screenshot({ path: path.join(cfg.out, `pickup-${name}.png`) });
	await page.screenshot({ path: path.join(cfg.out, `pickup-${name}-full.png`), fullPage: true });
	ok(`${where}: screenshots pickup-${name}.png and pickup-${name}-full.png`);
	await page.close();
	return fp;
}

// ---- submitting and the error pages ------------------------------------

// The form's password field and submit button: the contract's, or (so
// that the rest of the run still says something about a page that lacks
// them; the contract items have failed already) any post form's.
async function submit(page, password) {
	const ours = (await page.$('form#pickup-form')) !== null;
	const form = ours ? 'form#pickup-form' : 'form[method="post" i]';
	await page.fill(`${form} input[name="password"]`, password, { timeout: WAIT });
	await page.click(`${form} button${ours ? '[type="submit"]' : ''}`,
	    { timeout: WAIT, noWaitAfter: true });
}

async function submitForPage(page, password) {
	await Promise.all([page.waitForNavigation({ timeout: WAIT }), submit(page, password)]);
}

async function errorPage(page, w, reason, shot) {
	const where = `${reason} page`;
	const main = await page.$('main#error');
	const got = main ? await main.getAttribute('data-reason') : null;
	check(got === reason, `${where}: <main id="error" data-reason="${reason}">` +
	    (main ? ` (data-reason=${got})` : ' (no such element)'),
	    main ? [] : [`page text: ${(await page.innerText('body').catch(() => '')).slice(0, 200)}`]);
	const h1 = await page.$('main#error h1');
	check(h1 !== null && (await h1.innerText()).trim() !== '', `${where}: an <h1> that names it`);
	const next = await page.$('main#error p.next');
	const nextText = next ? (await next.innerText()).trim() : '';
	check(nextText !== '', `${where}: <p class="next"> says what to do next`,
	    nextText ? [] : ['no <p class="next"> with text in main#error']);
	if (nextText)
		diag(`${where}: next: ${nextText.slice(0, 160)}`);
	await checkLang(page, where);
	await axeCheck(page, where);
	consoleClean(w, where);
	await page.screenshot({ path: path.join(cfg.out, shot), fullPage: true });
}

// Opens the link; when it shows a form, submits PASSWORD; the page then.
async function visitAndSubmit(page, which, password) {
	await page.goto(link(which), { waitUntil: 'load', timeout: WAIT });
	if (await page.$('form input[name="password"]'))
		await submitForPage(page, password);
}

async function errorPages(ctx) {
	const page = await ctx.newPage();
	const w = watch(page);
	const steps = [
		['wrong-password', 'locked', 'wrong-password-1', 'error-wrong-password.png'],
		['locked', 'locked', 'wrong-password-2', 'error-locked.png'],
		['expired', 'expired', cfg.expired.password, 'error-expired.png'],
	];
	for (const [reason, which, pw, shot] of steps) {
		try {
			await visitAndSubmit(page, which, pw);
		} catch (e) {
			notOk(`${reason} page: reached by submitting the form`, [String(e)]);
			continue;
		}
		await errorPage(page, w, reason, shot);
	}
	await page.close();
}

// The right password downloads the PKCS#12, once, in a browser with
// JavaScript off (the page needs none to download); a second use shows
// the used-link page and downloads nothing.
async function download(nojs, ctx) {
	const dl = await nojs.newPage();
	dl.on('download', (d) => downloads.push(d));
	try {
		await dl.goto(link('main'), { waitUntil: 'load', timeout: WAIT });
		const [d] = await Promise.all([dl.waitForEvent('download', { timeout: WAIT }),
		    submit(dl, cfg.main.password)]);
		await d.saveAs(cfg.download);
		const size = fs.statSync(cfg.download).size;
		check(size > 0, 'with JavaScript off, the password downloads the PKCS#12 ' +
		    `(${d.suggestedFilename()}, ${size} bytes)`);
	} catch (e) {
		notOk('with JavaScript off, the password downloads the PKCS#12', [String(e)]);
	}
	await dl.close();
	const page = await ctx.newPage();
	const w = watch(page);
	try {
		await visitAndSubmit(page, 'main', cfg.main.password);
		await page.waitForTimeout(500);  // a (wrong) second download would show by now
		await errorPage(page, w, 'used', 'error-used.png');
	} catch (e) {
		notOk('used page: reached by using the link again', [String(e)]);
	}
	check(downloads.length === 1, `the PKCS#12 was downloaded exactly once in the run (${downloads.length})`);
	await page.close();
}

// ---- the run -----------------------------------------------------------

async function main() {
	// Playwright starts Chromium with a fresh --user-data-dir of its own
	// (under TMPDIR) and --headless; the rest keeps it off the network.
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		timeout: 60000,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	diag(`chromium ${browser.version()}`);
	try {
		const ctxs = {};
		for (const name of Object.keys(VISITORS)) {
			// bypassCSP: the page's own policy may forbid scripts; axe-core
			// is injected by the test, not by the page.
			ctxs[name] = await browser.newContext({ ...VISITORS[name].context, bypassCSP: true,
			    acceptDownloads: true });
			ctxs[name].setDefaultTimeout(WAIT);
			ctxs[name].setDefaultNavigationTimeout(WAIT);
		}
		const nojs = await browser.newContext({ ...VISITORS.desktop.context,
		    javaScriptEnabled: false, acceptDownloads: true });
		nojs.setDefaultTimeout(WAIT);
		await formPage(ctxs.phone, 'phone');
		const fp = await formPage(ctxs.desktop, 'desktop');
		fs.writeFileSync(cfg.fingerprint, `${fp}\n`);
		await errorPages(ctxs.desktop);
		await download(nojs, ctxs.desktop);
	} finally {
		await browser.close();
	}
}

setTimeout(() => {
	notOk(`the browser checks finish within ${DEADLINE / 1000} s`);
	process.exit(1);
}, DEADLINE).unref();

const started = Date.now();
try {
	await main();
	diag(`browser checks: ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
	notOk('the browser checks run to the end', [String(e && e.stack || e)]);
}
process.exit(failures ? 1 : 0);
