// lockout.mjs - five wrong passwords lock the account: each says "Wrong
// name or password." (401); the sixth attempt, with the right password,
// says "Locked: ..." (429) and logs nobody in.
// Parameters: {"base", "name", "password", "wrong": a wrong password}
import { check, login, scenario } from './lib.mjs';

await scenario(async (a, { page, context }) => {
  const seen = [];
  for (let i = 1; i <= 5; i++) {
    const r = await login(page, a.base, a.name, a.wrong, { expectError: true });
    seen.push(r);
    check(r.status === 401 && r.error === 'Wrong name or password.',
      `wrong password #${i}: ${r.status} "${r.error}", not 401 "Wrong name or password."`);
  }
  const r = await login(page, a.base, a.name, a.password, { expectError: true });
  seen.push(r);
  check(r.status === 429, `the right password after five wrong ones answered ${r.status} ("${r.error}"), not 429`);
  check(r.error && r.error.startsWith('Locked:'), `#login-error says "${r.error}", not "Locked: ..."`);
  check(/\d+\s*(s|sec|second|seconds|min|minute|minutes)\b/.test(r.error), `the lock message does not say for how long: "${r.error}"`);
  check(!(await context.cookies()).some(c => c.name === 'cw_session'), 'a cw_session cookie was set while locked');
  return { attempts: seen };
});
