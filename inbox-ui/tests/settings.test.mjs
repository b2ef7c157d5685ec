// Settings: inboxes with their webhook URL and widget snippet, teams, canned responses that
// agents then insert while replying.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, TEST_INBOX_ID, WEBCHAT_INBOX_ID, allConversations, launch, newPage, screenshot, signIn, unique } from './support.mjs';

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
