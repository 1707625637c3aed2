// config.mjs - a cluster-wide value changed on the primary's Configuration
// page shows on the subordinate's Configuration page; the subordinate's
// page says such changes are made on the primary, and its form for the
// key is disabled.
// Parameters: {"primary": "https://IP:PORT", "subordinate": "https://IP:PORT",
//              "name", "password", "key": "h323.ttl_s", "value": "3600"}
import { check, login, newContext, open, scenario, until } from './lib.mjs';

// The value KEY's form shows (its input or select named value)
async function shown(page, key) {
  const field = page.locator(`form.config[data-key="${key}"] [name=value]`);
  check(await field.count() === 1, `no form.config[data-key="${key}"] with a field named value`);
  return (await field.inputValue()).trim();
}

await scenario(async (a, { page, browser }) => {
  // The subordinate, before: another value, the note, the form disabled
  const sub = await (await newContext(browser)).newPage();
  await login(sub, a.subordinate, a.name, a.password);
  await open(sub, a.subordinate, '/configuration');
  const before = await shown(sub, a.key);
  check(before !== a.value, `the subordinate already shows ${a.key} = ${a.value}`);
  const note = sub.locator('#primary-note');
  check(await note.count() === 1, 'the subordinate\'s Configuration page has no #primary-note');
  const noteText = await note.innerText();
  check(noteText.includes('Cluster-wide changes are made on the configuration primary'),
    `#primary-note says "${noteText}"`);
  check(await note.locator(`a[href^="${a.primary}"]`).count() >= 1,
    `#primary-note has no link to the primary ${a.primary}: ${await note.innerHTML()}`);
  const subForm = sub.locator(`form.config[data-key="${a.key}"]`);
  check(await subForm.locator('[name=value]').isDisabled() || await subForm.locator('button').first().isDisabled(),
    `the subordinate's form for the cluster-wide ${a.key} is not disabled`);

  // The primary: change it on its page
  await login(page, a.primary, a.name, a.password);
  await open(page, a.primary, '/configuration');
  const form = page.locator(`form.config[data-key="${a.key}"]`);
  const field = form.locator('[name=value]');
  check(await field.isEnabled(), `the primary's field for ${a.key} is disabled`);
  if (await field.evaluate(e => e.tagName) === 'SELECT')
    await field.selectOption(a.value);
  else
    await field.fill(a.value);
  const [post] = await Promise.all([
    page.waitForResponse(r => r.request().method() === 'POST'),
    form.locator('button').filter({ hasText: 'Save' }).first().click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  const err = page.locator(`.error[data-key="${a.key}"]`);
  if (await err.count())
    check(false, `saving ${a.key} = ${a.value} failed: ${await err.first().innerText()}`);
  check(post.status() < 400, `POST of the ${a.key} form answered ${post.status()}`);
  await open(page, a.primary, '/configuration');
  check(await shown(page, a.key) === a.value, `the primary's page does not show ${a.key} = ${a.value} after Save`);

  // The subordinate's page shows it (replication takes a moment)
  let last = before;
  await until(async () => {
    await open(sub, a.subordinate, '/configuration');
    last = await shown(sub, a.key);
    return last === a.value;
  }, 20000, () => `the subordinate's page still shows ${a.key} = ${last} 20 s after the primary saved ${a.value}`);
  return { key: a.key, before, after: last };
});
