// alarms.mjs - an alarm raised with the CLI appears on the Alarms page
// without a reload (Server-Sent Events), and is acknowledged there.
// Parameters: {"base", "name", "password",
//              "raise": ["/path/causeway", "--config", F, "alarms", "raise", ID, DETAIL],
//              "detail": DETAIL}
// Result: {"uuid": the alarm's uuid, "state_before": "raised", "state_after": "acknowledged"}
import { execFileSync } from 'node:child_process';
import { check, login, scenario, until } from './lib.mjs';

// The row of the alarm whose detail is DETAIL, and its cells' texts
async function row(page, detail) {
  try {
    return await rowNow(page, detail);
  } catch {
    return null;   // the page is navigating (the ack form's redirect)
  }
}

async function rowNow(page, detail) {
  const rows = page.locator('table#alarms tr[data-uuid]').filter({ hasText: detail });
  if (await rows.count() !== 1)
    return null;
  const cells = (await rows.first().locator('td').allInnerTexts()).map(t => t.trim());
  return { locator: rows.first(), uuid: await rows.first().getAttribute('data-uuid'), cells };
}

await scenario(async (a, { page }) => {
  await login(page, a.base, a.name, a.password);
  // The page's EventSource: wait until the server answered it, so that the
  // alarm raised next reaches this page through the stream
  const stream = page.waitForResponse(r => new URL(r.url()).pathname === '/events/alarms', { timeout: 10000 })
    .catch(() => null);
  const r = await page.goto(a.base + '/alarms');
  check(r.status() === 200, `GET /alarms: status ${r.status()}`);
  const sse = await stream;
  check(sse, 'the Alarms page opened no /events/alarms stream within 10 s');
  check(sse.status() === 200, `/events/alarms answered ${sse.status()}`);
  const type = sse.headers()['content-type'] || '';
  check(type.startsWith('text/event-stream'), `/events/alarms has Content-Type "${type}"`);
  check(await row(page, a.detail) === null, `the alarm "${a.detail}" is on the page before it was raised`);

  // Mark this document: a reload or navigation would lose the mark
  await page.evaluate(() => { window.__cwSameDocument = true; });
  let navigated = 0;
  page.on('framenavigated', f => { if (f === page.mainFrame()) navigated++; });

  execFileSync(a.raise[0], a.raise.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15000 });
  const raised = await until(() => row(page, a.detail), 10000,
    `the alarm "${a.detail}" raised with the CLI did not appear on the Alarms page within 10 s`);
  check(navigated === 0 && await page.evaluate(() => window.__cwSameDocument === true),
    'the Alarms page reloaded to show the new alarm (it must arrive without a reload)');
  check(raised.uuid && /^[0-9a-f-]{36}$/.test(raised.uuid), `the row's data-uuid is "${raised.uuid}"`);
  check(raised.cells.includes('raised'), `the new row's state is not "raised": ${JSON.stringify(raised.cells)}`);
  check(raised.cells.some(c => c.includes(String(a.raise[a.raise.length - 2]))),
    `the new row does not show the alarm id: ${JSON.stringify(raised.cells)}`);

  // Acknowledge it on the page
  const form = page.locator(`form[action="/alarms/${raised.uuid}/ack"]`);
  check(await form.count() === 1, `no form[action="/alarms/${raised.uuid}/ack"] for the raised alarm`);
  const button = form.locator('button');
  check((await button.innerText()).includes('Acknowledge'), 'the ack button does not say "Acknowledge"');
  await button.click();
  const acked = await until(async () => {
    const r2 = await row(page, a.detail);
    return r2 && r2.cells.includes('acknowledged') ? r2 : null;
  }, 10000, `the alarm's row did not change to "acknowledged" within 10 s`);
  check(acked.uuid === raised.uuid, `the row's uuid changed from ${raised.uuid} to ${acked.uuid}`);
  check(await page.locator(`form[action="/alarms/${raised.uuid}/ack"]`).count() === 0,
    'the acknowledged alarm still has its Acknowledge form');
  return { uuid: raised.uuid, state_before: 'raised', state_after: 'acknowledged' };
});
