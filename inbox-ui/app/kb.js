// The knowledge-base editor: articles (search, status), a markdown editor with a live preview,
// draft / publish / archive, version history, and the knowledge gaps the AI could not answer.
// It speaks the /api/v1/kb API (see docs: the ai branch's knowledge base).

import { ApiError, get, post, put, query } from './api.js';
import { fullTime, h, mount, relativeTime, toast } from './dom.js';
import { renderMarkdown } from './markdown.js';

export function createKnowledge({ can }) {
  const writable = can('knowledge:write');
  const state = { articles: [], selected: null, q: '', status: '' };

  const search = h('input', { type: 'search', 'aria-label': 'Search articles', placeholder: 'Search articles', style: 'width:100%' });
  let searchTimer;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = search.value.trim(); loadArticles(); }, 200);
  });
  const statusFilter = h('select', { 'aria-label': 'Article status', onchange: () => { state.status = statusFilter.value; loadArticles(); } },
    h('option', { value: '' }, 'All statuses'), ['draft', 'published', 'archived'].map((s) => h('option', { value: s }, s)));
  const articleList = h('ul', { 'aria-label': 'Articles' });
  const articles = h('section', { class: 'articles', 'aria-label': 'Articles' },
    h('div', { class: 'actions' }, search, statusFilter,
      writable ? h('button', { type: 'button', class: 'primary', onclick: () => edit(null) }, 'New article') : null),
    articleList);
  const editor = h('section', { class: 'editor', 'aria-label': 'Article' }, h('p', { class: 'muted' }, 'Choose an article, or write a new one.'));
  const gapList = h('ul', { 'aria-label': 'Knowledge gaps' });
  const gaps = h('section', { class: 'gaps', 'aria-label': 'Knowledge gaps' },
    h('h2', {}, 'Knowledge gaps'), h('p', { class: 'muted' }, 'What customers asked that the AI could not answer, most asked first.'), gapList);
  const root = h('div', { class: 'kb' }, articles, editor, gaps);

  function unavailable(error) {
    return error instanceof ApiError && (error.status === 404 || error.status === 405)
      ? 'The knowledge-base API is not available on this hub.' : error.message;
  }

  async function loadArticles() {
    try {
      const { articles: items } = await get(`/kb/articles${query({ q: state.q, status: state.status })}`);
      state.articles = items;
      mount(articleList, items.length ? items.map((article) => h('li', {},
        h('button', { type: 'button', 'aria-current': String(article.id === state.selected?.id), onclick: () => open(article.id) },
          h('strong', {}, article.title), h('br'),
          h('span', { class: 'muted' }, `${article.status} · v${article.version} · ${article.category || 'uncategorized'} · ${relativeTime(article.updated_at)}`))))
        : h('li', { class: 'muted' }, 'No articles.'));
    } catch (error) {
      mount(articleList, h('li', { class: 'muted' }, unavailable(error)));
    }
  }

  async function loadGaps() {
    try {
      const { gaps: items } = await get('/kb/gaps');
      mount(gapList, items.length ? items.map((gap) => h('li', {},
        h('strong', {}, gap.question), h('div', { class: 'muted' }, `Asked ${gap.count}× · last ${relativeTime(gap.last_asked_at)} ago`),
        gap.examples?.length ? h('details', {}, h('summary', {}, 'Wordings'), h('ul', {}, gap.examples.map((e) => h('li', {}, e)))) : null,
        writable ? h('button', { type: 'button', onclick: () => edit(null, gap.question) }, 'Write an article') : null))
        : h('li', { class: 'muted' }, 'No gaps: the AI answered everything.'));
    } catch (error) {
      mount(gapList, h('li', { class: 'muted' }, unavailable(error)));
    }
  }

  async function open(id) {
    try {
      edit(await get(`/kb/articles/${encodeURIComponent(id)}`));
    } catch (error) {
      toast(unavailable(error), 'error');
    }
  }

  function edit(article, titleHint = '') {
    state.selected = article;
    loadArticles();
    const title = h('input', { id: 'kb-title', value: article?.title || titleHint, readonly: !writable });
    const category = h('input', { id: 'kb-category', value: article?.category || '', readonly: !writable });
    const tags = h('input', { id: 'kb-tags', value: (article?.tags || []).join(', '), readonly: !writable });
    const body = h('textarea', { id: 'kb-body', class: 'body', value: article?.body || '', readonly: !writable });
    const preview = h('div', { class: 'preview', 'aria-label': 'Preview', role: 'region' });
    const draw = () => { preview.innerHTML = renderMarkdown(body.value); };
    body.addEventListener('input', draw);
    draw();
    const versions = h('ol', { class: 'versions', 'aria-label': 'Versions' });

    const fields = () => ({
      title: title.value.trim(),
      body: body.value,
      category: category.value.trim() || null,
      tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
    });
    async function save(status) {
      try {
        const payload = fields();
        if (status) payload.status = status;
        const saved = article
          ? await put(`/kb/articles/${encodeURIComponent(article.id)}`, payload)
          : await post('/kb/articles', payload);
        toast(status ? `Article ${status}` : 'Saved');
        edit(saved);
      } catch (error) {
        toast(unavailable(error), 'error');
      }
    }
    mount(editor,
      h('h2', {}, article ? `${article.title}` : 'New article', article ? h('span', { class: 'muted' }, ` · ${article.status} · version ${article.version}`) : null),
      h('div', { class: 'meta-row' },
        h('label', { class: 'field' }, h('span', {}, 'Title'), title),
        h('label', { class: 'field' }, h('span', {}, 'Category'), category),
        h('label', { class: 'field' }, h('span', {}, 'Tags'), tags)),
      h('div', { class: 'editor-grid' },
        h('label', { class: 'field' }, h('span', {}, 'Markdown'), body),
        h('div', { class: 'field' }, h('span', { style: 'font-weight:600' }, 'Preview'), preview)),
      writable ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: () => save(null) }, article ? 'Save' : 'Save draft'),
        article?.status !== 'published' ? h('button', { type: 'button', onclick: () => save('published') }, 'Publish') : null,
        article && article.status !== 'draft' ? h('button', { type: 'button', onclick: () => save('draft') }, 'Move to draft') : null,
        article && article.status !== 'archived' ? h('button', { type: 'button', class: 'danger', onclick: () => save('archived') }, 'Archive') : null) : null,
      article ? h('section', {}, h('h3', {}, 'Version history'), versions) : null);
    if (article) loadVersions(article, versions, preview);
  }

  async function loadVersions(article, versions, preview) {
    try {
      const { versions: items } = await get(`/kb/articles/${encodeURIComponent(article.id)}/versions`);
      mount(versions, items.slice().sort((a, b) => b.version - a.version).map((version) => h('li', {},
        h('button', { type: 'button', onclick: () => { preview.innerHTML = renderMarkdown(version.body); } }, `Show v${version.version}`),
        ` ${version.title} · ${fullTime(version.created_at)}`)));
    } catch (error) {
      mount(versions, h('li', { class: 'muted' }, unavailable(error)));
    }
  }

  return {
    element: root,
    start: () => { loadArticles(); loadGaps(); },
    stop: () => {},
  };
}
