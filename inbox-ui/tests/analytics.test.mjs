// The Analytics page: an admin opens it, sees the headline figures of what happened today (the
// seeded conversations, one handed to a person, one resolved), a chart drawn, changes the range,
// and downloads the CSV. An agent has no Analytics link.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { api, createUser, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

function lastDays(days) {
  const today = new Date();
  const end = new Date(Date.UTC(today.getFullYear(), today.getMonth(), today.getDate()));
  const start = new Date(end);
  start.setUTCDate(end.getUTCDate() - (days - 1));
  return { from: start.toISOString().slice(0, 10), to: end.toISOString().slice(0, 10) };
}

test('a manager reads the figures of a known history, changes the range and downloads the CSV', async () => {
  const token = await login();
  const handed = await customerWrites(unique('analytics-human'), 'I want to talk to a human');
  const resolved = await customerWrites(unique('analytics-done'), 'Thanks, all sorted');
  await api(`/conversations/${resolved}/resolve`, { token, method: 'POST', body: {} });
  const detail = await api(`/conversations/${handed}`, { token });
  assert.equal(detail.conversation.status, 'escalated', 'the request for a person was handed off');
  const label = unique('vip').toLowerCase().replace(/[^a-z0-9-]/g, '');
  await api(`/conversations/${handed}/labels`, { token, method: 'PUT', body: { labels: [label] } });

  const page = await newPage(browser);
  await signIn(page);
  await page.getByRole('link', { name: 'Analytics' }).click();
  await page.getByRole('heading', { name: 'Analytics', level: 1 }).waitFor();
  // Days in the organization's time zone.
  const zone = (await api('/organization', { token })).time_zone;
  await page.getByRole('combobox', { name: 'Time zone' }).getByRole('option', { name: `Days in ${zone}` }).waitFor({ state: 'attached' });

  const expected = await api(`/analytics/overview?from=${lastDays(30).from}&to=${lastDays(30).to}&tz=${encodeURIComponent(zone)}`, { token });
  assert.ok(expected.conversations_opened >= 5, `the seeded and new conversations: ${expected.conversations_opened}`);
  assert.ok(expected.handoffs >= 1);
  const figure = (name) => page.locator(`[data-figure="${name}"]`);
  await page.waitForFunction((want) => document.querySelector('[data-figure="Conversations"]')?.textContent === want,
    String(expected.conversations_opened));
  assert.equal(await figure('Handoff rate').textContent(), `${(expected.handoff_rate * 100).toFixed(1)} %`);
  assert.equal(await figure('Automated resolution').textContent(), `${(expected.automated_resolution_rate * 100).toFixed(1)} %`);
  const reasons = page.getByRole('table', { name: 'Reason' });
  await reasons.getByRole('row', { name: /Asked for a person/ }).waitFor();
  // The articles the AI cited most, by their titles now.
  const cited = page.getByRole('table', { name: 'Articles cited' });
  if (expected.top_articles.length) {
    const [first] = expected.top_articles;
    await cited.getByRole('row', { name: `${first.title} ${first.conversations}` }).waitFor();
  } else {
    await cited.getByText('The AI cited no article in this range.').waitFor();
  }

  // The chart: uPlot's canvas, with today's point among the days.
  const chart = page.getByRole('img', { name: 'Conversations per day' });
  await chart.locator('canvas').waitFor();
  const size = await chart.locator('canvas').evaluate((canvas) => [canvas.width, canvas.height]);
  assert.ok(size[0] > 100 && size[1] > 100, `a chart is drawn: ${size}`);
  await screenshot(page, 'analytics');

  // Another range: the status line says which days are shown.
  await page.getByRole('combobox', { name: 'Range' }).selectOption('7');
  const week = lastDays(7);
  await page.getByRole('status').filter({ hasText: `${week.from} to ${week.to}` }).waitFor();

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download CSV' }).click(),
  ]);
  const csv = await readFile(await download.path(), 'utf8');
  const [header, row] = csv.trim().split(/\r?\n/);
  assert.ok(header.startsWith('from,to,time_zone,conversations_opened,'), header);
  const cells = Object.fromEntries(header.split(',').map((name, i) => [name, row.split(',')[i]]));
  assert.equal(cells.from, week.from);
  assert.equal(cells.conversations_opened, String(expected.conversations_opened));

  // One label: only the conversation that carries it.
  await page.getByRole('combobox', { name: 'Label' }).selectOption(label);
  await page.waitForFunction(() => document.querySelector('[data-figure="Conversations"]')?.textContent === '1');
  assert.equal(await figure('Handoff rate').textContent(), '100.0 %');
});

test('an agent has no Analytics link', async () => {
  const { email, password } = await createUser(await login(), 'support_agent');
  const page = await newPage(browser);
  await signIn(page, email, password);
  assert.equal(await page.getByRole('link', { name: 'Analytics' }).count(), 0);
});
