// The snooze menu: the times an agent picks from, for one conversation (the header) and for a
// selection (the bulk action bar). Each choice becomes the body `POST …/snooze` and the bulk
// action take: `{until}` or `{until_customer_replies: true}`.

import { h } from './dom.js';

function hoursFromNow(hours) {
  return new Date(Date.now() + hours * 3600 * 1000).toISOString();
}

function tomorrowAtNine() {
  const at = new Date();
  at.setDate(at.getDate() + 1);
  at.setHours(9, 0, 0, 0);
  return at.toISOString();
}

const CHOICES = [
  ['hour', 'For 1 hour', () => ({ until: hoursFromNow(1) })],
  ['four', 'For 4 hours', () => ({ until: hoursFromNow(4) })],
  ['tomorrow', 'Until tomorrow 9:00', () => ({ until: tomorrowAtNine() })],
  ['reply', 'Until the customer replies', () => ({ until_customer_replies: true })],
];

/** A `<select>` named `label`; picking a choice calls `onChoose(body)` and resets the menu. */
export function snoozeMenu({ label, onChoose }) {
  const menu = h('select', {
    'aria-label': label,
    onchange: () => {
      const choice = CHOICES.find(([value]) => value === menu.value);
      menu.value = '';
      if (choice) onChoose(choice[2]());
    },
  }, h('option', { value: '' }, 'Snooze…'), CHOICES.map(([value, text]) => h('option', { value }, text)));
  return menu;
}
