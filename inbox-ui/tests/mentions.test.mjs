// Mentions and the bell: agent A mentions agent B in a note through the autocomplete; B, in
// another browser, sees the bell's count go to 1 live, opens the panel and lands on the
// conversation, which marks the notification read.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, api, customerWrites, launch, login, newPage, screenshot, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function agent(adminToken, name) {
  const email = `${unique('agent')}@example.test`;
  const password = 'a long password';
  const user = await api('/users', { token: adminToken, method: 'POST', body: { email, name, role: 'support_agent', password } });
  return { id: user.id, email, password, name };
}

async function signInAs(page, { email, password }) {
  await page.goto(`${HUB}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await page.locator('.live[data-state=live]').waitFor();
}

const unread = (page) => page.locator('.notifications').getAttribute('data-unread');

test('a mention picked in the autocomplete shows in the other agent\'s bell, live', async () => {
  const admin = await login();
  const tag = Math.random().toString(36).replace(/[^a-z]/g, '').slice(0, 5) || 'x';
  const ann = await agent(admin, `Ann ${tag}`);
  const bea = await agent(admin, `Bea${tag} Lane`);
  const thread = unique('mention');
  const id = await customerWrites(thread, `Parcel ${thread} never came`);

  const beasPage = await newPage(browser);
  // Bea has allowed notifications, and her tab will be in the background: a stand-in for the
  // browser's Notification records what the page shows.
  await beasPage.context().addInitScript(() => {
    window.shownNotifications = [];
    window.Notification = class {
      static permission = 'granted';
      static requestPermission() { return Promise.resolve('granted'); }
      constructor(title, options) { window.shownNotifications.push({ title, body: options?.body }); }
      close() {}
    };
    Object.defineProperty(document, 'hidden', { get: () => window.tabHidden === true });
  });
  await signInAs(beasPage, bea);
  const bell = beasPage.getByRole('button', { name: 'Notifications', exact: true });
  await bell.waitFor();
  assert.equal(await unread(beasPage), '0');
  assert.equal(await beasPage.locator('.bell-count').isHidden(), true);

  await beasPage.evaluate(() => { window.tabHidden = true; });
  const annsPage = await newPage(browser);
  await signInAs(annsPage, ann);
  await annsPage.evaluate((conversation) => { location.hash = `#/inbox/${conversation}`; }, id);
  await annsPage.getByRole('list', { name: 'Messages' }).getByText(`Parcel ${thread} never came`).waitFor();
  const noteBox = annsPage.getByRole('textbox', { name: 'Private note' });
  await noteBox.click();
  await noteBox.pressSequentially(`Can you call them? @bea${tag}`);
  const suggestions = annsPage.getByRole('listbox', { name: 'Mention an agent' });
  const option = suggestions.getByRole('option', { name: new RegExp(`Bea${tag} Lane`) });
  await option.waitFor();
  assert.equal(await option.getAttribute('aria-selected'), 'true');
  assert.equal(await noteBox.getAttribute('aria-activedescendant'), await option.getAttribute('id'));
  await screenshot(annsPage, 'mention-autocomplete');
  await noteBox.press('Enter');
  await suggestions.waitFor({ state: 'hidden' });
  assert.equal(await noteBox.inputValue(), `Can you call them? @Bea${tag} Lane `);
  await annsPage.getByRole('button', { name: 'Add note' }).click();
  await annsPage.getByRole('list', { name: 'Messages' }).getByRole('listitem', { name: 'Private note' })
    .filter({ hasText: 'Can you call them?' }).waitFor();
  const detail = await api(`/conversations/${id}`, { token: admin });
  const note = detail.messages.find((message) => message.text.startsWith('Can you call them?'));
  assert.deepEqual(note.mentions, [bea.id]);

  // Bea's bell counts it without a reload.
  await beasPage.waitForFunction(() => document.querySelector('.notifications')?.dataset.unread === '1');
  assert.equal(await beasPage.locator('.bell-count').innerText(), '1');
  const shown = await beasPage.evaluate(() => window.shownNotifications);
  assert.equal(shown.length, 1);
  assert.equal(shown[0].title, `Ann ${tag} mentioned you`);
  assert.match(shown[0].body, /Can you call them\?/);
  await beasPage.evaluate(() => { window.tabHidden = false; });
  await bell.click();
  assert.equal(await bell.getAttribute('aria-expanded'), 'true');
  const item = beasPage.getByRole('region', { name: 'Notifications' })
    .getByRole('link', { name: new RegExp(`Ann ${tag} mentioned you`) });
  await item.waitFor();
  await screenshot(beasPage, 'mention-bell');
  await item.click();
  await beasPage.waitForFunction((conversation) => location.hash === `#/inbox/${conversation}`, id);
  await beasPage.getByRole('list', { name: 'Messages' }).getByText('Can you call them?').waitFor();
  await beasPage.waitForFunction(() => document.querySelector('.notifications')?.dataset.unread === '0');
  const beaToken = await login(bea.email, bea.password);
  const stored = await api('/notifications', { token: beaToken });
  assert.equal(stored.unread_count, 0);
  assert.equal(stored.notifications[0].message_id, note.id);
  assert.ok(stored.notifications[0].read_at);

  // Ann, who wrote it, was not notified.
  assert.equal(await unread(annsPage), '0');
  await annsPage.context().close();
  await beasPage.context().close();
});
