// Files on messages: the links to download them (with the agent's session, since the hub serves
// them to signed-in agents only), and the composer's attach button with the chosen files as
// removable chips, uploaded when the reply is sent.

import { ApiError, session } from './api.js';
import { h, toast } from './dom.js';

/** A size as people read it. */
export function fileSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${Math.round(n / 1e3)} KB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

async function download(attachment) {
  const response = await fetch(attachment.url, { headers: { authorization: `Bearer ${session.token}` } });
  if (!response.ok) throw new Error(`Cannot download ${attachment.filename} (HTTP ${response.status})`);
  const url = URL.createObjectURL(await response.blob());
  const link = h('a', { href: url, download: attachment.filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** One file: the hub's as a download (never opened in the inbox), a platform's by its link. */
function fileLink(a) {
  if (a.url?.startsWith('/api/v1/attachments/')) {
    return h('a', {
      href: a.url, download: a.filename,
      onclick: (event) => {
        event.preventDefault();
        download(a).catch((error) => toast(error.message, 'error'));
      },
    }, a.filename);
  }
  if (/^https?:\/\//.test(a.url || '')) return h('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer' }, a.filename);
  return a.filename;
}

/** A message's files, with their sizes. */
export function attachmentList(attachments) {
  if (!attachments?.length) return null;
  return h('ul', { class: 'attachments', 'aria-label': 'Attachments' }, attachments.map((a) => h('li', {},
    fileLink(a), h('span', { class: 'muted' }, ` ${fileSize(a.size)}`))));
}

async function upload(conversationId, file) {
  const response = await fetch(
    `/api/v1/conversations/${encodeURIComponent(conversationId)}/attachments?filename=${encodeURIComponent(file.name)}`, {
      method: 'POST',
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${session.token}`,
        'content-type': file.type || 'application/octet-stream',
      },
      body: file,
    },
  );
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error || {};
    throw new ApiError(response.status, error.code || 'http_error', `${file.name}: ${error.message || `HTTP ${response.status}`}`);
  }
  return data;
}

/**
 * The composer's files: `button` (accessible name "Attach a file") opens the file picker,
 * `chips` shows what is chosen, each with a remove button; `uploadAll()` uploads them and
 * answers their ids for the reply; `clear()` forgets them once the reply is sent.
 */
export function attachmentPicker(conversationId) {
  let files = [];
  const input = h('input', { type: 'file', multiple: true, hidden: true, tabindex: '-1', 'aria-hidden': 'true' });
  const chips = h('ul', { class: 'attachment-chips', 'aria-label': 'Files to send' });
  const render = () => {
    chips.replaceChildren(...files.map((file, index) => h('li', { class: 'attachment-chip' },
      h('span', {}, `${file.name} (${fileSize(file.size)})`),
      h('button', {
        type: 'button', class: 'link', 'aria-label': `Remove ${file.name}`,
        onclick: () => {
          files.splice(index, 1);
          render();
          button.focus();
        },
      }, '×'))));
    chips.hidden = files.length === 0;
  };
  input.addEventListener('change', () => {
    files = files.concat([...input.files]);
    input.value = '';
    render();
  });
  const button = h('button', { type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', onclick: () => input.click() }, 'Attach');
  render();
  return {
    button: h('span', {}, input, button),
    chips,
    get count() {
      return files.length;
    },
    async uploadAll() {
      const ids = [];
      for (const file of files) ids.push((await upload(conversationId, file)).id);
      return ids;
    },
    clear() {
      files = [];
      render();
    },
  };
}
