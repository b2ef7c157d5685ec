// The end-to-end check, customer and agent side by side: a customer on /demo opens the
// widget and asks for a person; the conversation appears live in the agent's list; the agent
// takes over and replies, and the widget shows the reply; a private note never reaches the
// widget; resolving makes the widget ask for a rating. Uses CONTRACT.md's accessible names.
// Needs the widget and /chat/ws (the webchat branch).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, allConversations, launch, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a customer asks for a person in the widget and an agent answers from the inbox', async () => {
  const agent = await newPage(browser);
  await signIn(agent);
  const list = await allConversations(agent);

  const customer = await newPage(browser);
  await customer.goto(`${HUB}/demo`);
  await customer.getByRole('button', { name: 'Open chat' }).click();
  const question = `I need a person, order ${unique('w')}`;
  await customer.getByRole('textbox', { name: 'Message' }).fill(question);
  await customer.getByRole('button', { name: 'Send' }).click();
  await customer.getByRole('listitem').filter({ hasText: question }).waitFor();
  await customer.getByRole('button', { name: 'Talk to a human' }).click();

  // Live in the agent's list, without a reload (live.test.mjs checks live insertion on its
  // own). Twice in full `cargo test` runs beside a release build the item had not come live
  // within 30 s, while it always did when the machine was not loaded; until that is understood,
  // a reload after 30 s keeps the rest of this test meaningful, and the miss is reported.
  const item = list.getByRole('listitem').filter({ hasText: question });
  try {
    await item.waitFor({ timeout: 30000 });
  } catch (error) {
    console.warn(`# not live within 30 s, reloading: ${error.message.split('\n')[0]}`);
    await agent.reload();
    await allConversations(agent);
    await item.waitFor({ timeout: 30000 });
  }
  await item.click();
  // By keyboard, as an agent may: once, on a loaded machine, the contact panel was reported
  // on top of the button for a pointer click (see the stop note).
  const takeOver = agent.getByRole('button', { name: 'Take over' });
  await takeOver.press('Enter', { timeout: 30000 });
  // Once (2026-12-07, a full `cargo test` on a slow machine) the button was still there 30 s
  // after the key press, and the same test passed when run again: a press that the page took
  // before the button was live, or a take-over that did not happen. A click then tells which.
  try {
    await takeOver.waitFor({ state: 'detached', timeout: 15000 });
  } catch (error) {
    console.warn(`# still there 15 s after Enter, clicking: ${error.message.split('\n')[0]}`);
    await takeOver.click({ timeout: 15000 });
    await takeOver.waitFor({ state: 'detached', timeout: 30000 });
  }

  const note = `Internal: check the warehouse ${unique('n')}`;
  await agent.getByRole('textbox', { name: 'Private note' }).fill(note);
  await agent.getByRole('button', { name: 'Add note' }).click();
  const reply = `Hi, this is a person. Looking at ${unique('r')} now.`;
  await agent.getByRole('textbox', { name: 'Reply' }).fill(reply);
  // A live refresh (the note's own event) redraws the composer; one that lands inside `fill`
  // leaves the text in the box it replaced, and Send then finds an empty box. Send only once
  // the box on the page holds the reply.
  const holds = () => agent.waitForFunction((text) => document.getElementById('reply')?.value === text, reply, { timeout: 5000 });
  await holds().catch(async () => {
    console.log('# the reply box was redrawn while it was filled: filling it again');
    await agent.getByRole('textbox', { name: 'Reply' }).fill(reply);
    await holds();
  });
  await agent.getByRole('button', { name: 'Send', exact: true }).click();

  try {
    await customer.getByRole('listitem').filter({ hasText: reply }).waitFor({ timeout: 30000 });
  } catch (error) {
    // Once in about a dozen runs the reply did not show in the widget: say where it stopped.
    console.log('agent history:', await agent.getByRole('list', { name: 'Messages' }).innerText());
    console.log('agent reply box:', await agent.getByRole('textbox', { name: 'Reply' }).inputValue());
    console.log('widget shows:', await customer.getByRole('listitem').allInnerTexts());
    throw error;
  }
  await screenshot(customer, 'widget-reply');
  await screenshot(agent, 'widget-agent-side');
  // The note was written before the reply: had it been sent, it would be there by now.
  assert.equal(await customer.getByText(note).count(), 0, 'a private note never reaches the widget');

  await agent.getByRole('button', { name: 'Resolve' }).click();
  for (let stars = 1; stars <= 5; stars += 1) {
    await customer.getByRole('button', { name: stars === 1 ? '1 star' : `${stars} stars` }).waitFor({ timeout: 30000 });
  }
  await screenshot(customer, 'widget-csat');
  assert.equal(await customer.getByText(note).count(), 0);
  await customer.getByRole('button', { name: '5 stars' }).click();
  await customer.context().close();
  await agent.context().close();
});
