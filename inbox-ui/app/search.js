// The search box of the top bar: results as you type (debounced), grouped by kind; Enter or a
// click opens the conversation (a contact's latest one, an article in the knowledge base).
// `/` focuses it (main.js).

import { get, query } from './api.js';
import { h, mount } from './dom.js';

const DEBOUNCE_MS = 200;

const GROUPS = [
  ['conversations', 'Conversations', (hit) => `#/inbox/${encodeURIComponent(hit.id)}`],
  ['contacts', 'Contacts', (hit) => (hit.conversation_id ? `#/inbox/${encodeURIComponent(hit.conversation_id)}` : null)],
  ['articles', 'Articles', () => '#/knowledge'],
];

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/** The API's snippet (escaped text with `<mark>` around matches) as DOM nodes: text nodes and
 * `mark` elements only, never parsed as HTML. */
export function snippetNodes(snippet) {
  const unescape = (text) => text.replace(/&(amp|lt|gt|quot|#39);/g, (entity) => ENTITIES[entity]);
  return snippet.split(/(<mark>[^<]*<\/mark>)/).filter(Boolean).map((part) => {
    const marked = /^<mark>([^<]*)<\/mark>$/.exec(part);
    return marked ? h('mark', {}, unescape(marked[1])) : unescape(part);
  });
}

export function createSearch() {
  const input = h('input', {
    type: 'search', 'aria-label': 'Search', placeholder: 'Search  /', autocomplete: 'off',
    'aria-controls': 'search-results',
  });
  const status = h('p', { class: 'muted search-status', 'aria-live': 'polite' }, '');
  const results = h('div', { id: 'search-results', class: 'search-results', role: 'region', 'aria-label': 'Search results', hidden: true });
  const root = h('div', { class: 'search', role: 'search' }, input, results);
  let timer = null;
  let controller = null;
  let sequence = 0;
  let links = [];

  function close() {
    results.hidden = true;
  }

  function open(link) {
    if (!link) return;
    close();
    input.blur();
    location.hash = link.getAttribute('href');
  }

  function render(found, text) {
    links = [];
    const groups = GROUPS.map(([key, title, href]) => {
      const hits = found[key] || [];
      if (!hits.length) return null;
      return h('section', { 'aria-label': title },
        h('h3', {}, title),
        h('ul', {}, hits.map((hit) => {
          const target = href(hit);
          const link = target ? h('a', { href: target, dataset: { kind: key, id: hit.id }, onclick: (event) => { event.preventDefault(); open(link); } },
            h('span', { class: 'hit-title' }, hit.title),
            h('span', { class: 'hit-snippet' }, snippetNodes(hit.snippet))) : h('span', {}, hit.title);
          if (target) links.push(link);
          return h('li', {}, link);
        })));
    }).filter(Boolean);
    const count = links.length === 1 ? '1 result' : `${links.length} results`;
    status.textContent = groups.length ? `${count} for “${text}”` : `Nothing found for “${text}”`;
    mount(results, status, groups);
    results.hidden = false;
  }

  async function run() {
    const text = input.value.trim();
    controller?.abort();
    if (!text) {
      close();
      return;
    }
    controller = new AbortController();
    const mine = ++sequence;
    try {
      const found = await get(`/search${query({ q: text, limit: 8 })}`, { signal: controller.signal });
      if (mine === sequence) render(found, text);
    } catch (error) {
      if (error.name === 'AbortError' || mine !== sequence) return;
      mount(results, h('p', { class: 'error-text' }, `Search failed: ${error.message}`));
      results.hidden = false;
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      clearTimeout(timer);
      // Results for what is typed now, then the first of them.
      const shown = !results.hidden && links.length;
      if (shown) open(links[0]);
      else run().then(() => open(links[0]));
    } else if (event.key === 'ArrowDown' && links.length) {
      event.preventDefault();
      links[0].focus();
    } else if (event.key === 'Escape') {
      close();
    }
  });
  results.addEventListener('keydown', (event) => {
    const at = links.indexOf(document.activeElement);
    if (event.key === 'ArrowDown' && at >= 0) {
      event.preventDefault();
      links[Math.min(links.length - 1, at + 1)].focus();
    } else if (event.key === 'ArrowUp' && at >= 0) {
      event.preventDefault();
      (at === 0 ? input : links[at - 1]).focus();
    } else if (event.key === 'Escape') {
      close();
      input.focus();
    }
  });
  root.addEventListener('focusout', (event) => {
    if (!root.contains(event.relatedTarget)) close();
  });
  input.addEventListener('focus', () => {
    if (input.value.trim() && results.childNodes.length) results.hidden = false;
  });

  return {
    element: root,
    focus: () => { input.focus(); input.select(); },
  };
}
