// Merge in the contact panel: the contacts that are likely the same person as the one shown
// (`GET /contacts/{id}/duplicates`: the same email or phone), each with a "Merge" button that
// asks first, then moves that contact's identities and conversations to the one shown
// (`POST /contacts/{duplicate}/merge {into}`).

import { get, post } from './api.js';
import { channelIcon, h, mount, toast } from './dom.js';

/** "Merge <duplicate> into <contact>?": resolves true when the agent confirms. */
function confirmMerge(duplicateName, contactName) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-label': 'Merge contacts' },
      h('h2', {}, 'Merge contacts?'),
      h('p', {}, `${duplicateName} will be merged into ${contactName}: their identities and conversations move to ${contactName}, and ${duplicateName} is deleted. This cannot be undone.`),
      h('form', { method: 'dialog', class: 'actions' },
        h('button', { value: 'cancel' }, 'Cancel'),
        h('button', { value: 'merge', class: 'primary' }, 'Merge')));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'merge');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * The "Likely the same person" section for `contact`, filled when the duplicates arrive; empty
 * when there are none. `onMerged(survivor, mergedId)` gets the surviving contact.
 * @param {object} options
 * @param {object} options.contact the contact shown
 * @param {(contact: object) => string} options.nameOf how a contact is shown
 * @param {boolean} options.canMerge `contacts:write`
 * @param {(survivor: object, mergedId: string) => void} options.onMerged
 */
export function duplicatesSection({ contact, nameOf, canMerge, onMerged }) {
  const section = h('section', { class: 'duplicates', 'aria-label': 'Likely the same person', hidden: true });
  get(`/contacts/${encodeURIComponent(contact.id)}/duplicates`).then(({ contacts: duplicates }) => {
    if (!duplicates.length) return;
    section.hidden = false;
    mount(section,
      h('h3', {}, 'Likely the same person'),
      h('ul', {}, duplicates.map((duplicate) => {
        const name = nameOf(duplicate);
        const merge = canMerge ? h('button', {
          type: 'button',
          'aria-label': `Merge ${name} into this contact`,
          onclick: async (event) => {
            const button = event.currentTarget;
            if (!(await confirmMerge(name, nameOf(contact)))) return;
            button.disabled = true;
            try {
              const survivor = await post(`/contacts/${encodeURIComponent(duplicate.id)}/merge`, { into: contact.id });
              toast(`Merged ${name}`);
              onMerged(survivor, duplicate.id);
            } catch (error) {
              button.disabled = false;
              toast(`Could not merge: ${error.message}`, 'error');
            }
          },
        }, 'Merge') : null;
        return h('li', {},
          h('div', {}, h('strong', {}, name), ' ', duplicate.identities.map((identity) => channelIcon(identity.channel))),
          h('div', { class: 'muted' }, [duplicate.email, duplicate.phone].filter(Boolean).join(' · ')),
          merge);
      })));
  }).catch(() => {
    // Suggestions are a convenience: without them the panel still shows the contact.
  });
  return section;
}
