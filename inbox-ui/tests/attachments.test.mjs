// Files on agents' replies: a visitor writes in the widget, an agent takes the conversation
// over, attaches two files with "Attach a file", removes one chip, sends; the history shows the
// file on the agent's message, the API has it, and the visitor's widget offers it as a download.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, allConversations, api, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function attach(page, file) {
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser'),
    page.getByRole('button', { name: 'Attach a file' }).click(),
  ]);
  await chooser.setFiles(file);
}

test('an agent attaches a file to a reply and the history and the visitor show it', async () => {
  const customer = await newPage(browser);
  await customer.goto(`${HUB}/demo`);
  await customer.getByRole('button', { name: 'Open chat' }).click();
  const question = `Please send the manual for ${unique('m')}`;
  await customer.getByRole('textbox', { name: 'Message' }).fill(question);
  await customer.getByRole('button', { name: 'Send' }).click();
  await customer.getByRole('listitem').filter({ hasText: question }).waitFor();

  const agent = await newPage(browser);
  await signIn(agent);
  const list = await allConversations(agent);
  await list.getByRole('listitem').filter({ hasText: question }).click({ timeout: 30000 });
  await agent.getByRole('button', { name: 'Take over' }).press('Enter', { timeout: 30000 });
  await agent.getByRole('button', { name: 'Take over' }).waitFor({ state: 'detached', timeout: 30000 });

  const manual = `Manual ${unique('bytes')}\n`;
  await attach(agent, { name: 'manual.txt', mimeType: 'text/plain', buffer: Buffer.from(manual) });
  await attach(agent, { name: 'wrong.txt', mimeType: 'text/plain', buffer: Buffer.from('not this one') });
  const chips = agent.getByRole('list', { name: 'Files to send' });
  await chips.getByText('wrong.txt').waitFor();
  await chips.getByRole('button', { name: 'Remove wrong.txt' }).click();
  await chips.getByText('wrong.txt').waitFor({ state: 'detached' });
  await chips.getByText('manual.txt').waitFor();
  await screenshot(agent, 'attachments-composer');

  const reply = `Here is the manual ${unique('r')}`;
  await agent.getByRole('textbox', { name: 'Reply' }).fill(reply);
  await agent.getByRole('button', { name: 'Send', exact: true }).click();

  // The history shows the file on the agent's message; the composer is empty again.
  const sent = agent.getByRole('list', { name: 'Messages' }).getByRole('listitem').filter({ hasText: reply });
  await sent.getByRole('list', { name: 'Attachments' }).getByRole('link', { name: 'manual.txt' }).waitFor();
  assert.equal(await chips.getByRole('listitem').count(), 0);
  await screenshot(agent, 'attachments-history');

  // The API has it, and the agent's link downloads the bytes (with the session, not a page).
  const token = await login();
  const conversationId = decodeURIComponent(await agent.evaluate(() => location.hash.split('/').pop()));
  const detail = await api(`/conversations/${conversationId}`, { token });
  const message = detail.messages.find((m) => m.text === reply);
  assert.deepEqual(message.attachments.map((a) => [a.filename, a.content_type, a.size]),
    [['manual.txt', 'text/plain', Buffer.byteLength(manual)]]);
  const [download] = await Promise.all([
    agent.waitForEvent('download'),
    sent.getByRole('link', { name: 'manual.txt' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'manual.txt');
  const { readFile } = await import('node:fs/promises');
  assert.equal(await readFile(await download.path(), 'utf8'), manual);

  // The visitor's widget offers it as a download by its signed link.
  const offered = customer.getByRole('link', { name: /^manual\.txt/ });
  await offered.waitFor({ timeout: 30000 });
  const href = await offered.getAttribute('href');
  assert.match(href, /\/chat\/files\//);
  assert.equal(await offered.getAttribute('download'), 'manual.txt');
  const fetched = await fetch(href);
  assert.equal(fetched.status, 200);
  assert.equal(await fetched.text(), manual);
  await screenshot(customer, 'attachments-widget');
});
