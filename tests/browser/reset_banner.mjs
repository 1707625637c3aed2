// reset_banner.mjs - clear every "Peer N address" on a peer's Clustering
// page and save: the factory-reset banner shows there and on its other
// pages, and not on the other peer.
// Parameters: {"base": the peer to clear, "other": another peer,
//              "name", "password"}
import { check, login, newContext, open, scenario } from './lib.mjs';

async function banner(page) {
  const b = page.locator('#reset-banner');
  return (await b.count()) ? (await b.innerText()).trim() : null;
}

await scenario(async (a, { page, browser }) => {
  await login(page, a.base, a.name, a.password);
  await open(page, a.base, '/system/clustering');
  check(await banner(page) === null, `a reset banner before the peer list was cleared: ${await banner(page)}`);
  const form = page.locator('form#cluster-form');
  check(await form.count() === 1, 'no form#cluster-form on /system/clustering');
  const status = await page.locator('#peer-status').innerText();
  check(status.includes('This system'), `#peer-status has no "This system" row: ${status}`);
  const before = [];
  for (let i = 1; i <= 6; i++) {
    const f = form.locator(`input[name=peer${i}]`);
    check(await f.count() === 1, `no input[name=peer${i}] in #cluster-form`);
    before.push(await f.inputValue());
    await f.fill('');
  }
  check(before.filter(Boolean).length >= 2, `the peer fields were not filled in: ${JSON.stringify(before)}`);
  const [post] = await Promise.all([page.waitForResponse(r => r.request().method() === 'POST'),
    form.locator('button').filter({ hasText: 'Save' }).first().click()]);
  await page.waitForLoadState('domcontentloaded');
  if (post.status() >= 400)
    check(false, `saving the cleared peer list answered ${post.status()}: ${(await page.locator('main').innerText()).slice(0, 300)}`);

  await open(page, a.base, '/system/clustering');
  const text = await banner(page);
  check(text && /factory reset/i.test(text), `no #reset-banner with "factory reset" on /system/clustering: ${text}`);
  for (let i = 1; i <= 6; i++)
    check(await page.locator(`form#cluster-form input[name=peer${i}]`).inputValue() === '',
      `Peer ${i} address is not empty after the save`);
  for (const path of ['/', '/alarms', '/configuration']) {
    await open(page, a.base, path);
    check(/factory reset/i.test(await banner(page) || ''), `no factory-reset banner on ${path}`);
  }
  const other = await (await newContext(browser)).newPage();
  await login(other, a.other, a.name, a.password);
  await open(other, a.other, '/system/clustering');
  check(await banner(other) === null, `the other peer shows a reset banner: ${await banner(other)}`);
  return { banner: text, peers_before: before };
});
