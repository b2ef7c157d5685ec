// The agent's availability in the top bar (issue 19): it shows what the hub says, changes it,
// and follows a change made in another tab or on another device.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { availability } from '../app/presence.js';
import { api, createUser, launch, login, newPage, screenshot, signIn } from './support.mjs';

test('the control shows what the hub says of the agent', () => {
  const seen = { user_id: 'u', last_seen_at: '2026-01-01T00:00:00Z', capacity: null, assigned: 0 };
  assert.equal(availability(null), 'offline', 'never chose');
  assert.equal(availability({ ...seen, status: 'online', online: true }), 'online');
  assert.equal(availability({ ...seen, status: 'away', online: false }), 'away');
  // Said online, but the hub no longer hears the heartbeat: taken offline.
  assert.equal(availability({ ...seen, status: 'online', online: false }), 'offline');
});

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Waits until `page`'s control shows `state`; returns what its select says. */
async function shows(page, state) {
  await page.locator(`.presence[data-state=${state}]`).waitFor();
  return page.getByLabel('Availability').inputValue();
}

/** The agent's record in `GET /presence`, as the hub says. */
async function presenceOf(token, userId) {
  return (await api('/presence', { token })).find((presence) => presence.user_id === userId);
}

test('an agent goes away and online again from the top bar, and other tabs follow', async () => {
  const admin = await login();
  const agent = await createUser(admin, 'support_agent');
  const token = await login(agent.email, agent.password);
  const { user } = await api('/auth/me', { token });
  // Capacity 0: coming online takes nothing from the other test files' queue.
  await api(`/users/${user.id}/capacity`, { token: admin, method: 'PUT', body: { capacity: 0 } });

  const page = await newPage(browser);
  await signIn(page, agent.email, agent.password);
  assert.equal(await shows(page, 'offline'), 'offline', 'a new agent never said online');

  await page.getByLabel('Availability').selectOption('online');
  assert.equal(await shows(page, 'online'), 'online');
  assert.deepEqual(await presenceOf(admin, user.id).then(({ status, online }) => ({ status, online })),
    { status: 'online', online: true });

  // A second tab of the same browser, signed in on its own.
  const other = await page.context().newPage();
  await signIn(other, agent.email, agent.password);
  assert.equal(await shows(other, 'online'), 'online', 'read on load');

  await page.getByLabel('Availability').selectOption('away');
  assert.equal(await shows(page, 'away'), 'away');
  const away = await presenceOf(admin, user.id);
  assert.equal(away.status, 'away');
  assert.equal(away.online, false);
  assert.equal(await shows(other, 'away'), 'away', 'the other tab follows at once');
  await screenshot(page, 'presence-away');

  await page.getByLabel('Availability').selectOption('online');
  assert.equal(await shows(page, 'online'), 'online');
  assert.equal((await presenceOf(admin, user.id)).online, true);
  assert.equal(await shows(other, 'online'), 'online');

  // Another device says away: a reload reads it.
  await api('/me/presence', { token, method: 'POST', body: { status: 'away' } });
  await page.reload();
  assert.equal(await shows(page, 'away'), 'away');
  await page.context().close();
});
