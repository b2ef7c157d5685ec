// The Analytics page (managers and admins): headline figures of the conversations opened in a
// range with their change against the period before, the days as a chart (uPlot, vendored in
// ./vendor/uplot), handoff reasons, SLA compliance, volume by channel and topic, the agents'
// table, the knowledge gaps, and a CSV download. It speaks /api/v1/analytics (docs/analytics.md).

import { ApiError, get, query, session } from './api.js';
import { channelName, dataTable, h, humanDuration, mount, toast } from './dom.js';
import uPlot from './vendor/uplot/uPlot.esm.js';

const RANGES = [
  ['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['365', 'Last 365 days'], ['custom', 'Custom range'],
];

const REASONS = {
  rule: 'A routing rule', low_confidence: 'AI not confident', human_request: 'Asked for a person',
  sentiment: 'Unhappy customer', ai_failure: 'AI failed',
};

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/** The range `days` long ending today, and the same length just before it. */
function lastDays(days) {
  const today = new Date();
  const end = new Date(Date.UTC(today.getFullYear(), today.getMonth(), today.getDate()));
  const start = new Date(end);
  start.setUTCDate(end.getUTCDate() - (days - 1));
  return { from: isoDay(start), to: isoDay(end) };
}

function previousOf({ from, to }) {
  const start = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  const days = Math.round((end - start) / 86400000) + 1;
  const prevEnd = new Date(start);
  prevEnd.setUTCDate(start.getUTCDate() - 1);
  const prevStart = new Date(prevEnd);
  prevStart.setUTCDate(prevEnd.getUTCDate() - (days - 1));
  return { from: isoDay(prevStart), to: isoDay(prevEnd) };
}

const percent = (value) => (value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)} %`);
const seconds = (value) => (value === null || value === undefined ? '—' : humanDuration(value, { parts: 2 }));
const decimal = (value) => (value === null || value === undefined ? '—' : value.toFixed(2));

// What each headline shows, and whether a rise is good news.
const HEADLINES = [
  ['Conversations', (o) => o.conversations_opened, String, null],
  ['Automated resolution', (o) => o.automated_resolution_rate, percent, true],
  ['Handoff rate', (o) => o.handoff_rate, percent, false],
  ['AI involvement', (o) => o.ai_involvement_rate, percent, true],
  ['First response (median)', (o) => o.first_response_time_seconds.median, seconds, false],
  ['Resolution (median)', (o) => o.resolution_time_seconds.median, seconds, false],
  ['CSAT (satisfied)', (o) => o.csat.satisfied_share, percent, true],
  ['SLA compliance', (o) => o.sla_compliance, percent, true],
];

function change(now, before, riseIsGood) {
  if (now === null || now === undefined || before === null || before === undefined) return h('span', { class: 'delta muted' }, 'no earlier figure');
  const diff = now - before;
  if (Math.abs(diff) < 1e-9) return h('span', { class: 'delta muted' }, 'no change');
  const relative = before !== 0 ? ` (${diff > 0 ? '+' : ''}${((diff / Math.abs(before)) * 100).toFixed(0)} %)` : '';
  const good = riseIsGood === null ? null : (diff > 0) === riseIsGood;
  return h('span', { class: `delta ${good === null ? '' : good ? 'good' : 'bad'}` },
    `${diff > 0 ? '▲' : '▼'} vs previous period${relative}`);
}

export function createAnalytics({ can, directory }) {
  const state = { range: '30', inbox: '', channel: '', team: '', agent: '', label: '', charts: [], request: 0 };
  // Days are counted in the organization's time zone (its reports are kept ready in it), or in
  // this browser's when the manager picks it.
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  let zone = null;
  const zoneSelect = h('select', { 'aria-label': 'Time zone', onchange: () => { zone = zoneSelect.value; load(); } });

  const rangeSelect = h('select', { 'aria-label': 'Range', onchange: () => { state.range = rangeSelect.value; showCustom(); if (state.range !== 'custom') load(); } },
    RANGES.map(([value, label]) => h('option', { value, selected: value === state.range }, label)));
  const fromInput = h('input', { type: 'date', 'aria-label': 'From', onchange: () => load() });
  const toInput = h('input', { type: 'date', 'aria-label': 'To', onchange: () => load() });
  const custom = h('span', { class: 'custom-range', hidden: true }, fromInput, toInput);
  const inboxSelect = h('select', { 'aria-label': 'Inbox', onchange: () => { state.inbox = inboxSelect.value; load(); } },
    h('option', { value: '' }, 'All inboxes'), [...directory.inboxes.values()].map((inbox) => h('option', { value: inbox.id }, inbox.name)));
  const channelSelect = h('select', { 'aria-label': 'Channel', onchange: () => { state.channel = channelSelect.value; load(); } },
    h('option', { value: '' }, 'All channels'),
    [...new Set([...directory.inboxes.values()].map((inbox) => inbox.channel))].map((channel) => h('option', { value: channel }, channelName(channel))));
  const teamSelect = h('select', { 'aria-label': 'Team', onchange: () => { state.team = teamSelect.value; load(); } },
    h('option', { value: '' }, 'All teams'), [...directory.teams.values()].map((team) => h('option', { value: team.id }, team.name)));
  const agentSelect = h('select', { 'aria-label': 'Agent', onchange: () => { state.agent = agentSelect.value; load(); } },
    h('option', { value: '' }, 'All agents'), [...directory.users.values()].map((user) => h('option', { value: user.id }, user.name || user.email)));
  const labelSelect = h('select', { 'aria-label': 'Label', onchange: () => { state.label = labelSelect.value; load(); } },
    h('option', { value: '' }, 'All labels'));
  get('/labels')
    .then((labels) => labelSelect.append(...labels.map((label) => h('option', { value: label.name }, label.name))))
    .catch(() => { labelSelect.hidden = true; });
  const download = h('button', { type: 'button', onclick: () => downloadCsv() }, 'Download CSV');
  const status = h('p', { class: 'muted', role: 'status' });

  const headlines = h('section', { class: 'headlines', 'aria-label': 'Headline figures' });
  const chartBox = h('div', { class: 'chart', role: 'img', 'aria-label': 'Conversations per day' });
  const moodBox = h('div', { class: 'chart', role: 'img', 'aria-label': 'Sentiment and satisfaction per day' });
  const hours = h('section', { 'aria-label': 'Volume by hour of the week' });
  const reasons = h('section', { 'aria-label': 'Handoff reasons' });
  const sla = h('section', { 'aria-label': 'SLA compliance' });
  const volume = h('section', { 'aria-label': 'Volume by channel and topic' });
  const agents = h('section', { 'aria-label': 'Agents' });
  const gaps = h('section', { 'aria-label': 'Knowledge gaps' });

  const root = h('div', { class: 'analytics' },
    h('div', { class: 'actions' }, h('h1', {}, 'Analytics'), rangeSelect, custom, inboxSelect, channelSelect, teamSelect, agentSelect, labelSelect,
      zoneSelect, h('span', { class: 'spacer' }), download),
    status, headlines,
    h('section', { 'aria-label': 'Conversations per day' }, h('h2', {}, 'Conversations per day'), chartBox),
    h('section', { 'aria-label': 'Sentiment and satisfaction' }, h('h2', {}, 'Sentiment and satisfaction per day'), moodBox),
    hours,
    h('div', { class: 'analytics-grid' }, reasons, sla, volume, gaps),
    agents);

  function showCustom() {
    custom.hidden = state.range !== 'custom';
    if (state.range === 'custom' && !fromInput.value) {
      const { from, to } = lastDays(30);
      fromInput.value = from;
      toInput.value = to;
    }
  }

  function range() {
    if (state.range === 'custom' && fromInput.value && toInput.value) return { from: fromInput.value, to: toInput.value };
    return lastDays(Number(state.range === 'custom' ? 30 : state.range));
  }

  function params(extra = {}) {
    return { ...range(), tz: zone, inbox_id: state.inbox, channel: state.channel, team_id: state.team, agent_id: state.agent, label: state.label, ...extra };
  }

  async function load() {
    const request = ++state.request;
    status.textContent = 'Loading…';
    if (zone === null) {
      const org = await get('/organization').catch(() => null);
      zone = org?.time_zone || browserZone;
      mount(zoneSelect, [...new Set([zone, browserZone])].map((name) =>
        h('option', { value: name, selected: name === zone }, `Days in ${name}`)));
    }
    try {
      const [overview, previous, series, team, gapList] = await Promise.all([
        get(`/analytics/overview${query(params())}`),
        get(`/analytics/overview${query({ ...params(), ...previousOf(range()) })}`),
        get(`/analytics/timeseries${query(params())}`),
        get(`/analytics/agents${query(params())}`),
        can('knowledge:read') ? get('/kb/gaps').catch(() => null) : null,
      ]);
      if (request !== state.request) return;
      status.textContent = `${overview.from} to ${overview.to}: ${overview.conversations_opened} conversations opened.`;
      renderHeadlines(overview, previous);
      renderChart(series);
      renderTables(overview, team, gapList);
    } catch (error) {
      if (request !== state.request) return;
      status.textContent = error instanceof ApiError && error.status === 403
        ? 'Analytics is for managers and admins.' : `Could not load the figures: ${error.message}`;
    }
  }

  function renderHeadlines(overview, previous) {
    mount(headlines, HEADLINES.map(([label, pick, format, riseIsGood]) => h('div', { class: 'figure' },
      h('span', { class: 'label' }, label),
      h('strong', { class: 'value', dataset: { figure: label } }, format(pick(overview))),
      change(pick(overview), pick(previous), riseIsGood))));
  }

  function chart(box, data, series, axis) {
    const width = Math.max(320, box.clientWidth || 720);
    state.charts.push(new uPlot({
      width,
      height: 220,
      scales: { x: { time: true } },
      series: [{}, ...series],
      axes: [{}, { label: axis }],
    }, data, box));
  }

  function renderChart(series) {
    for (const old of state.charts) old.destroy();
    state.charts = [];
    const days = series.days;
    const x = days.map((day) => Date.parse(`${day.date}T12:00:00Z`) / 1000);
    chart(chartBox, [x, days.map((d) => d.conversations_opened), days.map((d) => d.automated_resolutions), days.map((d) => d.handoffs)], [
      { label: 'Opened', stroke: '#2f5bd3', width: 2 },
      { label: 'Resolved by the AI', stroke: '#18794e', width: 2 },
      { label: 'Handed off', stroke: '#b42318', width: 2 },
    ], 'Conversations');
    chart(moodBox, [x, days.map((d) => d.sentiment_average), days.map((d) => (d.csat_average === null ? null : d.csat_average * 20))], [
      { label: 'Sentiment (0–100)', stroke: '#8a5a00', width: 2, spanGaps: true },
      { label: 'CSAT (× 20)', stroke: '#6b3fd3', width: 2, spanGaps: true },
    ], '0–100');
    // Hour of the week: one row per weekday, the busiest hour darkest.
    const most = Math.max(1, ...series.hour_of_week);
    const names = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
    mount(hours, h('h2', {}, 'Conversations by hour of the week'),
      h('table', { class: 'heat', 'aria-label': 'Conversations by hour of the week' },
        h('thead', {}, h('tr', {}, h('th', {}, ''), Array.from({ length: 24 }, (_, hour) => h('th', { scope: 'col' }, String(hour))))),
        h('tbody', {}, names.map((name, day) => h('tr', {}, h('th', { scope: 'row' }, name),
          series.hour_of_week.slice(day * 24, day * 24 + 24).map((count) => h('td', {
            title: `${count} conversations`, dataset: { level: String(Math.ceil((count / most) * 4)) },
          }, String(count))))))));
  }

  function countTable(label, counts, name = (key) => key) {
    return dataTable([label, 'Conversations'], counts.map((count) => h('tr', {}, h('td', {}, name(count.key)), h('td', {}, String(count.conversations)))),
      { label, empty: 'None in this range.' });
  }

  function renderTables(overview, team, gapList) {
    mount(reasons, h('h2', {}, 'Why conversations went to a person'),
      h('p', { class: 'muted' }, `${overview.handoffs} handoffs, ${percent(overview.handoff_rate)} of conversations.`),
      countTable('Reason', overview.handoff_reasons, (key) => REASONS[key] || key));
    mount(sla, h('h2', {}, 'SLA compliance'),
      h('p', {}, `${percent(overview.sla_compliance)} met (${overview.sla_met} met, ${overview.sla_breached} breached).`),
      dataTable(['Policy', 'Priority', 'Met', 'Breached', 'Pending', 'Compliance'], overview.sla.map((row) => h('tr', {},
        h('td', {}, row.policy), h('td', {}, row.priority), h('td', {}, String(row.met)), h('td', {}, String(row.breached)),
        h('td', {}, String(row.pending)), h('td', {}, percent(row.compliance)))), { label: 'SLA by policy', empty: 'No SLA clock ran in this range.' }),
      h('h2', {}, 'Customer satisfaction'),
      h('p', {}, `${overview.csat.responses} ratings, average ${decimal(overview.csat.average)}, ${percent(overview.csat.satisfied_share)} satisfied, ${percent(overview.csat.response_rate)} of resolved conversations rated.`));
    mount(volume, h('h2', {}, 'Volume'),
      countTable('Channel', overview.by_channel, channelName),
      countTable('Topic', overview.by_topic));
    mount(agents, h('h2', {}, 'Agents'),
      dataTable(['Agent', 'Conversations', 'Replied', 'Resolved', 'First response (median)', 'Resolution (median)', 'CSAT'],
        team.agents.map((row) => h('tr', {}, h('td', {}, row.name), h('td', {}, String(row.conversations)), h('td', {}, String(row.replied)),
          h('td', {}, String(row.resolved)), h('td', {}, seconds(row.first_response_time_seconds.median)),
          h('td', {}, seconds(row.resolution_time_seconds.median)), h('td', {}, decimal(row.csat.average)))),
        { label: 'Agents', empty: 'No conversation was assigned in this range.' }));
    const gapItems = Array.isArray(gapList) ? gapList : gapList?.gaps || [];
    mount(gaps, h('h2', {}, 'Knowledge gaps'),
      h('p', { class: 'muted' }, 'What customers asked that the AI could not answer, most asked first.'),
      dataTable(['Question', 'Asked'], gapItems.slice(0, 10).map((gap) => h('tr', {}, h('td', {}, gap.question), h('td', {}, String(gap.count)))),
        { label: 'Knowledge gaps', empty: gapList === null ? 'Not available to your role.' : 'None.' }),
      h('h2', {}, 'Articles the AI cited most'),
      dataTable(['Article', 'Conversations'], (overview.top_articles || []).map((article) => h('tr', {},
        h('td', {}, article.title || 'A deleted article'), h('td', {}, String(article.conversations)))),
        { label: 'Articles cited', empty: 'The AI cited no article in this range.' }));
  }

  async function downloadCsv() {
    try {
      const response = await fetch(`/api/v1/analytics/overview${query({ ...params(), format: 'csv' })}`, {
        headers: { authorization: `Bearer ${session.token}`, accept: 'text/csv' },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      const { from, to } = range();
      const link = h('a', { href: URL.createObjectURL(blob), download: `switchboard-analytics-${from}-${to}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      toast(`Could not download: ${error.message}`, 'error');
    }
  }

  return {
    element: root,
    start() { showCustom(); load(); },
    stop() { for (const old of state.charts) old.destroy(); state.charts = []; state.request += 1; },
  };
}
