// Settings: inboxes with their webhook URL and widget snippet, the inbox form built from the
// channels' declared config fields, teams, canned responses that agents then insert while
// replying.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, TEST_INBOX_ID, WEBCHAT_INBOX_ID, allConversations, api, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('inboxes show their webhook URL and the widget snippet; teams and canned responses are made here', async () => {
  const page = await newPage(browser);
  await signIn(page);
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('heading', { name: 'Inboxes' }).waitFor();
  await page.getByText(`${HUB}/webhooks/freshdesk/${TEST_INBOX_ID}`).waitFor();
  if (WEBCHAT_INBOX_ID) {
    await page.getByText(`<script src="${HUB}/widget.js" data-inbox="${WEBCHAT_INBOX_ID}" async></script>`).waitFor();
  }
  await screenshot(page, 'settings-inboxes');

  const team = unique('Team');
  await page.getByRole('button', { name: 'Teams' }).click();
  await page.getByRole('form', { name: 'Create team' }).getByRole('textbox', { name: 'Team name' }).fill(team);
  await page.getByRole('button', { name: 'Create team' }).click();
  await page.getByRole('cell', { name: team }).waitFor();

  const shortcut = unique('thanks').toLowerCase();
  await page.getByRole('button', { name: 'Canned responses' }).click();
  const form = page.getByRole('form', { name: 'Add canned response' });
  await form.getByRole('textbox', { name: 'Shortcut' }).fill(shortcut);
  await form.getByRole('textbox', { name: 'Title' }).fill('Thanks');
  await form.getByRole('textbox', { name: 'Text' }).fill('Thanks for your patience!');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('cell', { name: `/${shortcut}` }).waitFor();
  await screenshot(page, 'settings-canned');

  await page.getByRole('link', { name: 'Inbox' }).click();
  const list = await allConversations(page);
  await list.getByRole('listitem').first().click();
  const canned = page.getByRole('combobox', { name: 'Insert canned response' });
  await canned.selectOption({ label: `/${shortcut} — Thanks` });
  assert.equal(await page.getByRole('textbox', { name: 'Reply' }).inputValue(), 'Thanks for your patience!');
  await page.context().close();
});

/** The texts an element's aria-describedby points at, joined. */
function description(locator) {
  return locator.evaluate((el) => (el.getAttribute('aria-describedby') || '').split(' ')
    .map((id) => document.getElementById(id)?.textContent ?? '').join(' '));
}

test('the inbox form is built from the channel\'s declared fields: create a Telegram inbox, then edit it keeping its secrets', async () => {
  const token = await login();
  const channels = await api('/channels', { token });
  assert.ok(channels.some((c) => c.channel === 'telegram'), 'the hub lists telegram');
  const page = await newPage(browser);
  await signIn(page);
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('heading', { name: 'Inboxes' }).waitFor();
  const form = page.getByRole('form', { name: 'Create inbox' });
  const channel = form.getByRole('combobox', { name: 'Channel' });
  assert.deepEqual(await channel.locator('option').allTextContents(), channels.map((c) => c.channel));

  // Each field type gets its own control, its help as the description.
  await channel.selectOption('zendesk');
  assert.equal(await form.getByRole('checkbox', { name: 'escalation_desk' }).isChecked(), false);
  const poll = form.getByRole('spinbutton', { name: 'poll_interval_secs' });
  assert.equal(await poll.getAttribute('placeholder'), '60');
  assert.match(await description(poll), /Default: 60/);
  assert.equal(await form.getByLabel('api_token', { exact: true }).getAttribute('type'), 'password');
  assert.equal(await form.getByRole('textbox', { name: 'base_url' }).getAttribute('required'), '');
  await channel.selectOption('webchat');
  assert.equal(await form.getByRole('textbox', { name: 'allowed_origins' }).evaluate((el) => el.tagName), 'TEXTAREA');

  await channel.selectOption('telegram');
  const name = unique('Telegram');
  await form.getByRole('textbox', { name: 'Name' }).fill(name);
  const botToken = form.getByLabel('bot_token', { exact: true });
  assert.equal(await botToken.getAttribute('type'), 'password');
  assert.match(await description(botToken), /BotFather/);
  assert.equal(await form.getByRole('textbox', { name: 'api_base_url' }).getAttribute('required'), null);

  // Required fields are checked before anything is sent.
  await form.getByRole('button', { name: 'Create inbox' }).click();
  await form.getByRole('alert').getByText('Required: bot_token, secret_token.').waitFor();
  assert.equal(await botToken.getAttribute('aria-invalid'), 'true');
  assert.ok(!(await api('/inboxes', { token })).some((inbox) => inbox.name === name), 'nothing created');

  await botToken.fill('7000000001:AAH-browser-token');
  await form.getByLabel('secret_token', { exact: true }).fill('sb_browser-secret');
  await form.getByRole('button', { name: 'Create inbox' }).click();
  const row = page.getByRole('row').filter({ hasText: name });
  await row.getByText('Secrets set: bot_token, secret_token').waitFor();
  let created = (await api('/inboxes', { token })).find((inbox) => inbox.name === name);
  assert.equal(created.channel, 'telegram');
  assert.deepEqual(created.config, {}, 'secrets are not public config; empty optional fields are left out');
  assert.deepEqual([...created.secrets_set].sort(), ['bot_token', 'secret_token']);
  await screenshot(page, 'settings-inbox-created');

  // Editing: secrets show as set, and are kept when left empty.
  await page.getByRole('button', { name: `Edit ${name}` }).click();
  const edit = page.getByRole('form', { name: `Edit inbox ${name}` });
  const keptToken = edit.getByLabel('bot_token', { exact: true });
  assert.equal(await keptToken.getAttribute('placeholder'), 'set — leave empty to keep');
  assert.equal(await keptToken.getAttribute('required'), null);
  assert.match(await description(keptToken), /leave empty to keep/);
  await edit.getByRole('textbox', { name: 'api_base_url' }).fill('http://127.0.0.1:9/bot-api');
  await edit.getByRole('button', { name: 'Save inbox' }).click();
  await page.getByRole('form', { name: 'Create inbox' }).waitFor();
  created = (await api('/inboxes', { token })).find((inbox) => inbox.name === name);
  assert.deepEqual(created.config, { api_base_url: 'http://127.0.0.1:9/bot-api' });
  assert.deepEqual([...created.secrets_set].sort(), ['bot_token', 'secret_token'], 'secrets kept');
  await page.context().close();
});
