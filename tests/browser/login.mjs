// login.mjs - log in through the login form: a page without a session
// sends the browser to /login?next=<path>, the form logs in and lands on
// that path, the session cookie is Secure, HttpOnly and SameSite=Strict,
// the Status page shows the node, its actors and every nav link, and the
// header's logout form ends the session.
// Parameters: {"base": "https://IP:PORT", "name": "...", "password": "...",
//              "node": "system name", "actors": ["alarms", ...]}
import { check, open, scenario } from './lib.mjs';

const NAV = { '/': 'Status', '/alarms': 'Alarms', '/system/clustering': 'Clustering',
  '/configuration': 'Configuration', '/maintenance': 'Maintenance', '/licensing': 'Licensing',
  '/registrations': 'Registrations', '/calls': 'Calls', '/tms': 'TMS' };

await scenario(async (a, { page, context }) => {
  // Not logged in: the Alarms page sends us to the login form, keeping the path
  await page.goto(a.base + '/alarms');
  const at = new URL(page.url());
  check(at.pathname === '/login' && at.searchParams.get('next') === '/alarms',
    `GET /alarms without a session landed on ${page.url()}, not /login?next=/alarms`);

  // The form as it came (next kept) logs in and goes back to /alarms
  await page.locator('form#login input[name=name]').fill(a.name);
  await page.locator('form#login input[name=password]').fill(a.password);
  await Promise.all([page.waitForURL(u => new URL(u).pathname === '/alarms'),
    page.locator('form#login button[type=submit]').click()]);
  check(await page.locator('table#alarms').count() === 1, 'after login: no table#alarms on /alarms');

  const cookie = (await context.cookies()).find(c => c.name === 'cw_session');
  check(cookie, 'no cw_session cookie after login');
  check(cookie.secure && cookie.httpOnly && cookie.sameSite === 'Strict',
    `cw_session is not Secure; HttpOnly; SameSite=Strict: ${JSON.stringify({ ...cookie, value: '(hidden)' })}`);
  check(cookie.path === '/', `cw_session path is ${cookie.path}, not /`);

  // The Status page
  await open(page, a.base, '/');
  const header = page.locator('header');
  check(await header.count() >= 1, 'the Status page has no <header>');
  const headerText = await header.first().innerText();
  check(headerText.includes(a.name), `the header does not show the user ${a.name}: ${headerText}`);
  for (const [href, label] of Object.entries(NAV)) {
    const link = header.first().locator(`a[href="${href}"]`);
    check(await link.count() >= 1, `the header has no link to ${href} (${label})`);
    const text = (await link.first().innerText()).trim();
    check(text.includes(label), `the link to ${href} says "${text}", not "${label}"`);
  }
  const node = (await page.locator('#node').first().innerText()).trim();
  check(node.includes(a.node), `#node says "${node}", not the system name "${a.node}"`);
  const actors = await page.locator('#actors').innerText();
  for (const name of a.actors)
    check(actors.includes(name), `#actors does not list ${name}: ${actors}`);
  check(/running/.test(actors), `#actors shows no running actor: ${actors}`);
  check(await page.locator('#peers').count() === 1, 'the Status page has no #peers table');
  const alarmCount = (await page.locator('#alarm-count').innerText()).trim();
  check(/\d/.test(alarmCount), `#alarm-count shows no number: "${alarmCount}"`);

  // Logout: back to the login page, and the old session opens nothing
  await Promise.all([page.waitForURL(u => new URL(u).pathname === '/login'),
    page.locator('form#logout button, form#logout [type=submit]').first().click()]);
  await page.goto(a.base + '/');
  check(new URL(page.url()).pathname === '/login', `after logout GET / landed on ${page.url()}`);
  return { node, alarm_count: alarmCount };
});
