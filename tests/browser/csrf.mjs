// csrf.mjs - a form POST without the session's CSRF token, or with a wrong
// one, is refused (403) and changes nothing; with the token it works.
// Parameters: {"base", "name", "password", "key": a configuration key,
//              "value": a valid value for it other than its current one}
import { check, login, open, scenario } from './lib.mjs';

const REFUSED = "Refused: the form's security token is missing or wrong (CSRF)";

// Submit FORM (a locator) after ALTER(form element) ran in the page
async function submitAltered(page, form, alter) {
  await form.evaluate(alter);
  const [post] = await Promise.all([
    page.waitForResponse(r => r.request().method() === 'POST'),
    form.evaluate(f => f.submit()),
  ]);
  await page.waitForLoadState('domcontentloaded');
  return post;
}

await scenario(async (a, { page }) => {
  await login(page, a.base, a.name, a.password);
  const results = {};

  // A configuration form without its token
  await open(page, a.base, '/configuration');
  let form = page.locator(`form.config[data-key="${a.key}"]`);
  check(await form.locator('input[name=csrf]').count() === 1, `the ${a.key} form has no input[name=csrf]`);
  await form.locator('[name=value]').fill(a.value);
  let post = await submitAltered(page, form, f => f.querySelector('input[name=csrf]').remove());
  check(post.status() === 403, `a config form without csrf answered ${post.status()}, not 403`);
  let body = await page.locator('body').innerText();
  check(body.includes(REFUSED), `the refusal page does not say "${REFUSED}": ${body.slice(0, 300)}`);
  results.config_without = post.status();

  // The logout form with a wrong token: refused, still logged in
  await open(page, a.base, '/');
  form = page.locator('form#logout');
  check(await form.locator('input[name=csrf]').count() === 1, 'form#logout has no input[name=csrf]');
  post = await submitAltered(page, form, f => { f.querySelector('input[name=csrf]').value = 'x' + f.querySelector('input[name=csrf]').value.slice(1); });
  check(post.status() === 403, `the logout form with a wrong csrf answered ${post.status()}, not 403`);
  body = await page.locator('body').innerText();
  check(body.includes(REFUSED), `the refusal page does not say "${REFUSED}"`);
  results.logout_wrong = post.status();
  await open(page, a.base, '/');    // the session is still there

  // A POST from outside any form (the browser's cookie, no token at all)
  await open(page, a.base, '/configuration');
  const action = new URL(await page.locator(`form.config[data-key="${a.key}"]`).getAttribute('action'), a.base).href;
  const r = await page.request.post(action, { form: { value: a.value }, maxRedirects: 0 });
  check(r.status() === 403, `a bare POST ${action} answered ${r.status()}, not 403`);
  check((await r.text()).includes(REFUSED.replace(/'/g, '&#39;')) || (await r.text()).includes(REFUSED),
    `the refusal of a bare POST does not say "${REFUSED}"`);
  results.bare = r.status();

  // With its token the logout form works
  await Promise.all([page.waitForURL(u => new URL(u).pathname === '/login'),
    page.locator('form#logout').evaluate(f => f.submit())]);
  return results;
});
