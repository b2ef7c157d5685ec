// A virtualized list of fixed-height rows: only the rows in view (plus a margin) exist in the
// DOM, positioned with transforms, so ten thousand conversations scroll as smoothly as ten.
// Rows have a fixed height, so inserting or updating one never shifts what is on screen.

import { h } from './dom.js';

export class VirtualList {
  /**
   * @param {object} options
   * @param {string} options.label accessible name of the list
   * @param {number} options.rowHeight pixels
   * @param {(item: any, row: HTMLElement) => void} options.renderRow fills a row element
   * @param {(item: any) => string} options.key
   * @param {() => void} options.onNearEnd asks for more items
   */
  constructor({ label, rowHeight, renderRow, key, onNearEnd }) {
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.key = key;
    this.onNearEnd = onNearEnd;
    this.items = [];
    this.rows = new Map(); // key -> element
    this.list = h('ul', { role: 'list', 'aria-label': label });
    this.spacer = h('div', { class: 'vlist-spacer' }, this.list);
    this.viewport = h('div', { class: 'vlist', tabindex: '-1' }, this.spacer);
    this.scheduled = false;
    this.viewport.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  setItems(items) {
    this.items = items;
    this.schedule();
  }

  /** Redraws the row of one item (its data changed). */
  refresh() {
    for (const row of this.rows.values()) row.dataset.stale = '1';
    this.schedule();
  }

  scrollToIndex(index) {
    const top = index * this.rowHeight;
    const bottom = top + this.rowHeight;
    const view = this.viewport;
    if (top < view.scrollTop) view.scrollTop = top;
    else if (bottom > view.scrollTop + view.clientHeight) view.scrollTop = bottom - view.clientHeight;
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  draw() {
    const { rowHeight, items } = this;
    this.spacer.style.height = `${items.length * rowHeight}px`;
    const height = this.viewport.clientHeight || 800;
    const overscan = 6;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / rowHeight) - overscan);
    const last = Math.min(items.length, Math.ceil((this.viewport.scrollTop + height) / rowHeight) + overscan);
    const wanted = new Set();
    for (let index = first; index < last; index += 1) {
      const item = items[index];
      const key = this.key(item);
      wanted.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = h('li', { role: 'listitem' });
        this.rows.set(key, row);
        this.list.append(row);
        row.dataset.stale = '1';
      }
      if (row.dataset.stale || row.dataset.index !== String(index)) {
        delete row.dataset.stale;
        row.dataset.index = String(index);
        row.style.transform = `translateY(${index * rowHeight}px)`;
        row.setAttribute('aria-posinset', String(index + 1));
        row.setAttribute('aria-setsize', String(items.length));
        this.renderRow(item, row);
      }
    }
    for (const [key, row] of this.rows) {
      if (!wanted.has(key)) {
        row.remove();
        this.rows.delete(key);
      }
    }
    // Keep the DOM in visual order, for screen readers and keyboard order.
    const children = [...this.list.children];
    const sorted = [...children].sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index));
    if (sorted.some((row, index) => row !== children[index])) this.list.append(...sorted);
    if (last >= items.length - 20) this.onNearEnd();
  }
}
