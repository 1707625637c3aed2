// lib.mjs - what every browser scenario of Causeway's web admin shares:
// launching Debian's Chromium through playwright-core, logging in through
// the real login form, reading a scenario's parameters, checks that fail
// with a readable message, and screenshots.
//
// A scenario is an ES module run by `node SCENARIO.mjs '<json>'` (or with
// the JSON in $CW_BROWSER_ARGS). It calls scenario(async (args, b) => ...):
// b.page is a fresh page (1280x800, the test certificate accepted); on
// success the process exits 0 and prints its result as one JSON line
// prefixed "RESULT "; on failure it prints "FAIL: <message>" on stderr,
// saves a screenshot of the page when args.failure_dir is set, and exits 1.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const CHROMIUM = process.env.CW_CHROMIUM || '/usr/bin/chromium';
export const VIEWPORT = { width: 1280, height: 800 };

// A check that failed: its message is what the test prints.
export class CheckFailed extends Error {}

export function check(condition, message) {
  if (!condition)
    throw new CheckFailed(typeof message === 'function' ? message() : message);
}

// The scenario's parameters: JSON from argv[2], else $CW_BROWSER_ARGS.
export function args() {
  const text = process.argv[2] ?? process.env.CW_BROWSER_ARGS;
  if (!text)
    throw new CheckFailed('no parameters: pass them as JSON on the command line or in $CW_BROWSER_ARGS');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckFailed('parameters are not JSON: ' + e.message);
  }
}

// Start Chromium headless (root needs --no-sandbox; the machine has no
// network beyond loopback, so no background traffic) and open one context
// that accepts the node's self-signed certificate.
export async function launch() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
  context.setDefaultTimeout(15000);
  return { browser, context };
}

// Another browser profile (own cookies) in the same browser.
export async function newContext(browser) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: VIEWPORT });
  context.setDefaultTimeout(15000);
  return context;
}

// Fill and submit the login form of BASE (e.g. https://127.0.0.1:8443).
// Returns the response to the form's POST (after its redirect, the page is
// wherever the server sent it). Throws when the form is missing or the
// server answers with #login-error, unless opts.expectError is set: then
// it returns { status, error } with the error text.
export async function login(page, base, name, password, opts = {}) {
  const url = base + '/login' + (opts.next ? '?next=' + encodeURIComponent(opts.next) : '');
  const r = await page.goto(url);
  check(r && r.status() === 200, () => `GET ${url}: status ${r && r.status()}, not the login page`);
  const form = page.locator('form#login');
  check(await form.count() === 1, `GET ${url}: no form#login on the page`);
  await form.locator('input[name=name]').fill(name);
  await form.locator('input[name=password]').fill(password);
  const [post] = await Promise.all([
    page.waitForResponse(resp => resp.request().method() === 'POST' && new URL(resp.url()).pathname === '/login'),
    form.locator('button[type=submit]').click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  const errorBox = page.locator('#login-error');
  const error = (await errorBox.count()) ? (await errorBox.innerText()).trim() : null;
  if (opts.expectError)
    return { status: post.status(), error };
  check(error === null, () => `login as ${name} at ${base}: refused (${post.status()}): ${error}`);
  check(post.status() === 303, () => `login as ${name}: POST /login answered ${post.status()}, not 303`);
  check(!new URL(page.url()).pathname.startsWith('/login'),
    () => `login as ${name}: still on ${page.url()} after the form was accepted`);
  return post;
}

// GET BASE+PATH in PAGE and insist on a 200 page (not the login page).
export async function open(page, base, path) {
  const r = await page.goto(base + path);
  check(r, `GET ${path}: no response`);
  check(r.status() === 200, () => `GET ${path}: status ${r.status()}`);
  check(new URL(page.url()).pathname === path.split('?')[0],
    () => `GET ${path}: landed on ${page.url()} (not logged in?)`);
  return r;
}

// Save a PNG of the page (the viewport, or the whole page with full=true).
export async function screenshot(page, dir, name, full = false) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name.endsWith('.png') ? name : name + '.png');
  await page.screenshot({ path, fullPage: full });
  return path;
}

// Poll FN (async, returns a truthy value when done) until TIMEOUT_MS.
export async function until(fn, timeoutMs, message) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last)
      return last;
    if (Date.now() > deadline)
      throw new CheckFailed(typeof message === 'function' ? message() : message);
    await new Promise(res => setTimeout(res, 250));
  }
}

// Run a scenario: launch, call BODY(args, {browser, context, page}), close.
export async function scenario(body) {
  let b = null, params = {};
  let code = 0;
  try {
    params = args();
    const { browser, context } = await launch();
    b = { browser, context, page: await context.newPage() };
    const result = await body(params, b);
    process.stdout.write('RESULT ' + JSON.stringify(result ?? {}) + '\n');
  } catch (e) {
    code = 1;
    const message = e instanceof CheckFailed ? e.message : (e && e.stack) || String(e);
    process.stderr.write('FAIL: ' + message + '\n');
    if (b && params.failure_dir) {
      try {
        const where = await screenshot(b.page, params.failure_dir, 'failure-' + Date.now(), true);
        process.stderr.write('(page at the failure: ' + b.page.url() + ', screenshot ' + where + ')\n');
      } catch { /* the page may be gone */ }
    }
  } finally {
    if (b)
      await b.browser.close().catch(() => {});
  }
  process.exit(code);
}
