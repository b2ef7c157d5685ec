// The inbox's tools for a working day: labels (add, see as chips, filter, remove), the search
// box (`/`, results as you type, Enter opens the conversation) and snooze.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { allConversations, api, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('label a conversation, see the chip, filter by the label, remove it', async () => {
  const labelled = unique('labelled');
  const other = unique('other');
  const id = await customerWrites(labelled, `Refund for ${labelled} please`);
  await customerWrites(other, `Question about ${other}`);
  const name = `billing${Date.now().toString(36)}`;
  const admin = await login();
  const page = await newPage(browser);
  await signIn(page);
  const list = await allConversations(page);
  await list.getByRole('listitem').filter({ hasText: `Refund for ${labelled}` }).click();
  await page.getByRole('list', { name: 'Messages' }).getByText(`Refund for ${labelled}`).waitFor();

  const editor = page.getByRole('group', { name: 'Labels', exact: true });
  await editor.getByRole('combobox', { name: 'Add label' }).fill(name);
  // The customer writes while the agent types the label: the live refresh keeps the text.
  await customerWrites(labelled, `Refund for ${labelled}: and the invoice?`);
  await page.getByRole('list', { name: 'Messages' }).getByText(`Refund for ${labelled}: and the invoice?`).waitFor();
  await editor.getByRole('combobox', { name: 'Add label' }).press('Enter');
  await editor.getByRole('button', { name: `Remove label ${name}` }).waitFor();
  const detail = await api(`/conversations/${id}`, { token: admin });
  assert.deepEqual(detail.conversation.labels, [name]);

  // The chip shows in the list row, coloured by the label.
  const row = list.getByRole('listitem').filter({ hasText: `Refund for ${labelled}` });
  const chip = row.locator(`.label-chip[data-label="${name}"]`);
  await chip.waitFor();
  const color = await chip.evaluate((el) => el.style.getPropertyValue('--label-color'));
  assert.match(color, /^#[0-9a-f]{6}$/);

  // The filter keeps only the labelled conversation.
  await page.getByRole('combobox', { name: /^Label/ }).selectOption(name);
  await list.getByRole('listitem').filter({ hasText: `Question about ${other}` }).waitFor({ state: 'detached' });
  await row.waitFor();
  await screenshot(page, 'labels-filter');

  // Removing it from the header empties the filtered list.
  await editor.getByRole('button', { name: `Remove label ${name}` }).click();
  await editor.getByRole('button', { name: `Remove label ${name}` }).waitFor({ state: 'detached' });
  await row.waitFor({ state: 'detached' });
  const after = await api(`/conversations/${id}`, { token: admin });
  assert.deepEqual(after.conversation.labels, []);
  await page.getByRole('combobox', { name: /^Label/ }).selectOption('');
});

test('search from the box finds a conversation by a word of its third message and opens it', async () => {
  const thread = unique('searched');
  const word = `quorra${Date.now().toString(36)}`;
  await customerWrites(thread, 'Hello, I need help');
  await customerWrites(thread, 'It is about a delivery');
  const id = await customerWrites(thread, `The parcel ${word} never came`);
  const page = await newPage(browser);
  await signIn(page);
  await allConversations(page);

  // `/` focuses the box; typing part of the word shows results without pressing anything.
  await page.keyboard.press('/');
  const box = page.getByRole('searchbox', { name: 'Search' });
  assert.equal(await box.evaluate((el) => el === document.activeElement), true);
  await box.pressSequentially(word.slice(0, 9), { delay: 20 });
  const results = page.getByRole('region', { name: 'Search results' });
  const hit = results.getByRole('link').filter({ hasText: `The parcel ${word} never came` });
  await hit.waitFor();
  assert.equal(await hit.locator('mark').first().innerText(), word);
  await screenshot(page, 'search-results');

  // Enter opens the first hit: this conversation.
  await box.press('Enter');
  await page.waitForFunction((expected) => location.hash === `#/inbox/${expected}`, id);
  await page.getByRole('list', { name: 'Messages' }).getByText(`The parcel ${word} never came`).waitFor();
  await results.waitFor({ state: 'hidden' });

  // A click opens a hit too.
  await page.goto(`${process.env.HUB_URL}/#/inbox`);
  await page.getByRole('searchbox', { name: 'Search' }).fill('delivery');
  await page.getByRole('region', { name: 'Search results' }).getByRole('link').first().waitFor();
  await page.getByRole('region', { name: 'Search results' }).getByRole('link').filter({ hasText: 'It is about a delivery' }).first().click();
  await page.waitForFunction((expected) => location.hash === `#/inbox/${expected}`, id);
});

test('snooze until the customer replies: the conversation leaves the list and comes back', async () => {
  const thread = unique('snoozed');
  const id = await customerWrites(thread, `Waiting on ${thread}`);
  const page = await newPage(browser);
  await signIn(page);
  const list = await allConversations(page);
  const row = list.getByRole('listitem').filter({ hasText: `Waiting on ${thread}` });
  await row.click();
  await page.getByRole('list', { name: 'Messages' }).getByText(`Waiting on ${thread}`).waitFor();

  await page.getByRole('combobox', { name: 'Snooze' }).selectOption('reply');
  await page.getByText('Snoozed until the customer replies').waitFor();
  await row.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: /^Snoozed/ }).click();
  await row.waitFor();
  await screenshot(page, 'snoozed-view');

  // The customer writes: it wakes, live, back in All.
  await page.getByRole('button', { name: /^All/ }).click();
  await row.waitFor({ state: 'detached' });
  await customerWrites(thread, `Any news on ${thread}?`);
  await list.getByRole('listitem').filter({ hasText: `Any news on ${thread}?` }).waitFor();
  const detail = await api(`/conversations/${id}`, { token: await login() });
  assert.equal(detail.conversation.snooze, undefined);
});

test('label a contact from the contact panel, then remove the label', async () => {
  const thread = unique('contact-label');
  const id = await customerWrites(thread, `Reseller order ${thread}`);
  const admin = await login();
  const contactId = (await api(`/conversations/${id}`, { token: admin })).contact.id;
  const name = `reseller${Date.now().toString(36)}`;
  const page = await newPage(browser);
  await signIn(page);
  await page.goto(`${process.env.HUB_URL}/#/inbox/${id}`);
  const panel = page.getByRole('complementary', { name: 'Contact' });
  const editor = panel.getByRole('group', { name: 'Contact labels' });
  await editor.getByRole('combobox', { name: 'Add label' }).fill(name);
  // The customer writes while the agent types the label: the live refresh keeps the text.
  await customerWrites(thread, `And the invoice for ${thread}?`);
  await page.getByRole('list', { name: 'Messages' }).getByText(`And the invoice for ${thread}?`).waitFor();
  await editor.getByRole('combobox', { name: 'Add label' }).press('Enter');
  await editor.getByRole('button', { name: `Remove label ${name}` }).waitFor();
  assert.deepEqual((await api(`/contacts/${contactId}`, { token: admin })).labels, [name]);
  // The conversation's own labels are another thing.
  assert.deepEqual((await api(`/conversations/${id}`, { token: admin })).conversation.labels, []);
  await screenshot(page, 'contact-labels');

  await editor.getByRole('button', { name: `Remove label ${name}` }).click();
  await editor.getByRole('button', { name: `Remove label ${name}` }).waitFor({ state: 'detached' });
  assert.deepEqual((await api(`/contacts/${contactId}`, { token: admin })).labels, []);
  // Out of the views, so that the files after this one find the seeded conversations.
  await api(`/conversations/${id}/snooze`, { token: admin, method: 'POST', body: { until_customer_replies: true } });
});
