// Settings for routing: an admin manages escalation rules (add, reorder, delete, the server's
// 422 shown by the form) and SLA policies (durations in words, a duplicate refused with 409,
// the business-hours editor). Agents see no settings (signin.test.mjs).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function openTab(page, tab, heading) {
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('button', { name: tab }).click();
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
}

/** The rules' names as listed, in order. */
async function ruleNames(page) {
  return page.getByRole('list', { name: 'Escalation rules' }).locator('> li').evaluateAll(
    (items) => items.map((item) => item.getAttribute('aria-label')));
}

test('an admin adds a keyword rule, moves it up, finds it after a reload, and sees why a bad regex is refused', async () => {
  const page = await newPage(browser);
  await signIn(page);
  await openTab(page, 'Escalation rules', 'Escalation rules');
  const before = await ruleNames(page);
  assert.ok(before.includes('Customer asks for a person'), `the defaults are listed: ${before}`);

  const name = unique('Refunds');
  await page.getByRole('button', { name: 'Add rule' }).click();
  const form = page.getByRole('form', { name: 'New rule' });
  await form.getByRole('textbox', { name: 'Name' }).fill(name);
  assert.equal(await form.getByRole('combobox', { name: 'Trigger type' }).inputValue(), 'keywords');
  await form.getByRole('textbox', { name: 'Keywords (comma-separated)' }).fill('refund, money back');
  await form.getByRole('combobox', { name: 'Priority' }).selectOption('urgent');
  await form.getByRole('textbox', { name: 'Tags (comma-separated)' }).fill('refund');
  await form.getByRole('button', { name: 'Save rule' }).click();
  const item = page.getByRole('listitem', { name });
  await item.getByText('When the message says “refund” or “money back” → escalate, priority urgent, tag refund; then stop').waitFor();
  let names = await ruleNames(page);
  assert.equal(names.at(-1), name, 'a new rule goes last');

  await item.getByRole('button', { name: 'Move up' }).click();
  await page.waitForFunction((n) => {
    const items = [...document.querySelectorAll('ol.rules > li')].map((li) => li.getAttribute('aria-label'));
    return items.indexOf(n) === items.length - 2;
  }, name);
  await screenshot(page, 'settings-rules');

  await page.reload();
  await page.getByRole('heading', { name: 'Escalation rules', level: 1 }).waitFor();
  names = await ruleNames(page);
  assert.equal(names.indexOf(name), names.length - 2, `the order is stored: ${names}`);
  const stored = await api('/escalation-rules', { token: await login() });
  assert.deepEqual(stored.map((rule) => rule.name), names, 'the list shows the server order');
  const rule = stored.find((r) => r.name === name);
  assert.deepEqual(rule.triggers, [{ type: 'keywords', any: ['refund', 'money back'] }]);
  assert.equal(rule.actions.priority, 'urgent');

  // Editing keeps the rule's place and changes what it does.
  await item.getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByRole('form', { name: `Edit rule ${name}` });
  assert.equal(await edit.getByRole('textbox', { name: 'Keywords (comma-separated)' }).inputValue(), 'refund, money back');
  await edit.getByRole('combobox', { name: 'Priority' }).selectOption('high');
  await edit.getByRole('checkbox', { name: 'Continue with later rules' }).check();
  await edit.getByRole('button', { name: 'Save rule' }).click();
  await item.getByText('→ escalate, priority high, tag refund; then keep evaluating').waitFor();
  assert.equal((await ruleNames(page)).indexOf(name), names.length - 2);
  await item.getByRole('checkbox', { name: 'Enabled' }).uncheck();
  let saved;
  for (let i = 0; i < 50; i += 1) {
    saved = (await api('/escalation-rules', { token: await login() })).find((r) => r.name === name);
    if (!saved.enabled) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(saved.enabled, false, 'the toggle is saved');

  // A regular expression that does not compile: the server's 422 message shows by the form.
  await page.getByRole('button', { name: 'Add rule' }).click();
  const bad = page.getByRole('form', { name: 'New rule' });
  await bad.getByRole('textbox', { name: 'Name' }).fill(unique('Broken'));
  await bad.getByRole('combobox', { name: 'Trigger type' }).selectOption('regex');
  await bad.getByRole('textbox', { name: 'Pattern' }).fill('order (\\d+');
  await bad.getByRole('button', { name: 'Save rule' }).click();
  const alert = bad.getByRole('alert');
  await alert.filter({ hasText: /\S/ }).waitFor();
  assert.match(await alert.textContent(), /regular expression|regex|pattern/i);
  await screenshot(page, 'settings-rule-422');
  assert.equal((await ruleNames(page)).length, names.length, 'nothing was added');

  // Deleting asks first; cancelling keeps the rule.
  await item.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog', { name: 'Confirm' }).getByRole('button', { name: 'Cancel' }).click();
  assert.ok((await ruleNames(page)).includes(name));
  await item.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog', { name: 'Confirm' }).getByRole('button', { name: 'Delete' }).click();
  await item.waitFor({ state: 'detached' });
  assert.deepEqual(await ruleNames(page), before);
  await page.context().close();
});

test('an admin adds an SLA policy for a team; a second for the same priority and team is refused', async () => {
  const admin = await login();
  const team = await api('/teams', { token: admin, method: 'POST', body: { name: unique('Billing') } });
  const page = await newPage(browser);
  await signIn(page);
  await openTab(page, 'SLA policies', 'SLA policies');
  const table = page.getByRole('table', { name: 'SLA policies' });
  // The defaults, in words.
  await table.getByRole('row').filter({ hasText: 'urgent' }).filter({ hasText: '15 min' }).filter({ hasText: '4 h' }).waitFor();

  const name = unique('Billing high');
  const add = async (policyName) => {
    await page.getByRole('button', { name: 'Add SLA policy' }).click();
    const form = page.getByRole('form', { name: 'New SLA policy' });
    await form.getByRole('textbox', { name: 'Name' }).fill(policyName);
    await form.getByRole('combobox', { name: 'Priority' }).selectOption('high');
    await form.getByRole('combobox', { name: 'Team' }).selectOption({ label: team.name });
    await form.getByRole('spinbutton', { name: 'First response' }).fill('30');
    await form.getByRole('combobox', { name: 'First response unit' }).selectOption('minutes');
    await form.getByRole('spinbutton', { name: 'Resolution' }).fill('4');
    await form.getByRole('combobox', { name: 'Resolution unit' }).selectOption('hours');
    return form;
  };
  const form = await add(name);
  // The business-hours editor opens and closes; left off, the policy runs around the clock.
  const hours = form.getByRole('checkbox', { name: 'Count only business hours' });
  await hours.check();
  await form.getByLabel('Time zone').waitFor();
  assert.equal(await form.getByLabel('Monday opens').inputValue(), '09:00');
  assert.equal(await form.getByLabel('Saturday opens').count(), 0, 'weekends start closed');
  await form.getByRole('button', { name: 'Add Saturday hours' }).click();
  await form.getByLabel('Saturday opens').waitFor();
  await screenshot(page, 'settings-sla-business-hours');
  await hours.uncheck();
  await form.getByRole('button', { name: 'Save policy' }).click();
  const row = table.getByRole('row').filter({ hasText: name });
  await row.waitFor();
  assert.deepEqual(
    (await row.getByRole('cell').allTextContents()).slice(0, 6),
    [name, 'high', team.name, '30 min', '4 h', 'Around the clock']);
  const stored = (await api('/sla-policies', { token: admin })).find((p) => p.name === name);
  assert.equal(stored.first_response_seconds, 1800);
  assert.equal(stored.resolution_seconds, 4 * 3600);
  assert.equal(stored.team_id, team.id);
  await screenshot(page, 'settings-sla');

  const again = await add(unique('Duplicate'));
  await again.getByRole('button', { name: 'Save policy' }).click();
  await again.getByRole('alert').filter({ hasText: /\S/ }).waitFor();
  const policies = await api('/sla-policies', { token: admin });
  assert.equal(policies.filter((p) => p.team_id === team.id).length, 1, 'the 409 added nothing');

  // Clean up through the page: delete asks first.
  await page.getByRole('button', { name: 'Cancel' }).click();
  await row.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog', { name: 'Confirm' }).getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached' });
  await page.context().close();
});
