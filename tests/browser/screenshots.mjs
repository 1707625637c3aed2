// screenshots.mjs - log in and save 1280x800 PNGs of the main pages.
// Parameters: {"base", "name", "password", "dir": output folder}
import { login, open, scenario, screenshot } from './lib.mjs';

const PAGES = { status: '/', alarms: '/alarms', clustering: '/system/clustering', configuration: '/configuration' };

await scenario(async (a, { page }) => {
  await login(page, a.base, a.name, a.password);
  const saved = [];
  for (const [name, path] of Object.entries(PAGES)) {
    await open(page, a.base, path);
    await page.waitForLoadState('networkidle', { timeout: 2000 }).catch(() => {});
    saved.push(await screenshot(page, a.dir, name));
  }
  return { saved };
});
