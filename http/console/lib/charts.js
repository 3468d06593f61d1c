// Charts of use over the last day or month (GET /iam/usage, /platform/usage),
// drawn by uPlot (vendor/uPlot.iife.min.js, from the npm registry; loaded by the page
// before this module). Each chart has its figures as a table beside it, for
// screen readers and for copying.

import { h, append, localDateTime } from './dom.js';

const uPlot = window.uPlot;

const COLORS = {
  logins: '#2563eb',
  failed_logins: '#dc2626',
  active_keys: '#059669',
};

function tickLabel(period) {
  return (self, splits) => splits.map((s) => {
    const d = new Date(s * 1000);
    return period === 'day'
      ? `${String(d.getHours()).padStart(2, '0')}:00`
      : `${d.getDate()}/${d.getMonth() + 1}`;
  });
}

function chart(el, period, xs, series, { bars }) {
  const width = Math.max(320, Math.min(el.clientWidth || 640, 900));
  const opts = {
    width,
    height: 200,
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ values: tickLabel(period) }, { size: 56 }],
    series: [{ label: 'Time' }, ...series.map((s) => ({
      label: s.label,
      stroke: COLORS[s.key],
      fill: bars ? `${COLORS[s.key]}99` : `${COLORS[s.key]}22`,
      width: bars ? 0 : 2,
      paths: bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined,
      points: { show: !bars },
    }))],
  };
  const data = [xs, ...series.map((s) => s.values)];
  return new uPlot(opts, data, el);
}

function table(usage, caption, columns) {
  return h('details.chart-data', null,
    h('summary', null, 'Figures'),
    h('table.data', null,
      h('caption', null, caption),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'From'),
        columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', null, usage.buckets.map((b) => h('tr', null,
        h('td', null, localDateTime(new Date(b.start))),
        columns.map((c) => h('td.num', { 'data-key': c.key }, String(b[c.key]))))))));
}

// Two charts (logins and failed logins; active keys) for one usage document,
// appended to `container`. Returns a function that removes them.
export function usageCharts(container, usage, idPrefix) {
  const xs = usage.buckets.map((b) => Date.parse(b.start) / 1000);
  const per = usage.period === 'day' ? 'hour' : 'day';
  const total = (k) => usage.buckets.reduce((a, b) => a + b[k], 0);
  const last = usage.buckets.length ? usage.buckets[usage.buckets.length - 1].active_keys : 0;
  const loginsBox = h('div.chart', { id: `${idPrefix}-logins-chart` });
  const keysBox = h('div.chart', { id: `${idPrefix}-keys-chart` });
  const loginCols = [{ key: 'logins', label: 'Logins' }, { key: 'failed_logins', label: 'Failed logins' }];
  const keyCols = [{ key: 'active_keys', label: 'Active keys' }];
  const figures = [
    h('figure.usage', { 'aria-labelledby': `${idPrefix}-logins-title` },
      h('figcaption', { id: `${idPrefix}-logins-title` },
        `Logins per ${per}: `, h('strong', { id: `${idPrefix}-logins-total` }, String(total('logins'))),
        ' issued, ', h('strong', { id: `${idPrefix}-failed-total` }, String(total('failed_logins'))),
        ' failed'),
      loginsBox,
      table(usage, `Logins and failed logins per ${per}`, loginCols)),
    h('figure.usage', { 'aria-labelledby': `${idPrefix}-keys-title` },
      h('figcaption', { id: `${idPrefix}-keys-title` },
        'Active keys: ', h('strong', { id: `${idPrefix}-keys-now` }, String(last)), ' now'),
      keysBox,
      table(usage, `Active keys at the end of each ${per}`, keyCols)),
  ];
  append(container, figures);
  const plots = [];
  if (uPlot) {
    plots.push(chart(loginsBox, usage.period, xs, [
      { key: 'logins', label: 'Logins', values: usage.buckets.map((b) => b.logins) },
      { key: 'failed_logins', label: 'Failed logins', values: usage.buckets.map((b) => b.failed_logins) },
    ], { bars: true }));
    plots.push(chart(keysBox, usage.period, xs, [
      { key: 'active_keys', label: 'Active keys', values: usage.buckets.map((b) => b.active_keys) },
    ], { bars: false }));
  }
  return () => {
    for (const p of plots) p.destroy();
    for (const f of figures) f.remove();
  };
}

// A "Last day | Last month" switch above the charts of `load(period)`.
export function usagePanel({ idPrefix, load, title }) {
  const body = h('div.usage-charts', { id: `${idPrefix}-charts` });
  const status = h('p.status', { role: 'status' });
  let remove = () => {};
  const buttons = {};
  async function show(period) {
    for (const [p, b] of Object.entries(buttons)) b.setAttribute('aria-pressed', String(p === period));
    status.className = 'status';
    status.textContent = 'Loading…';
    body.setAttribute('aria-busy', 'true');
    try {
      const usage = await load(period);
      remove();
      status.textContent = '';
      remove = usageCharts(body, usage, idPrefix);
      body.dataset.period = usage.period;  // the period the charts now show
    } catch (err) {
      status.className = 'status error';
      status.textContent = `The figures could not be read: ${err.message}`;
    } finally {
      body.removeAttribute('aria-busy');
    }
  }
  for (const [period, label] of [['day', 'Last day'], ['month', 'Last month']]) {
    buttons[period] = h('button.secondary.small', {
      type: 'button', id: `${idPrefix}-period-${period}`, 'aria-pressed': 'false',
      onclick: () => show(period),
    }, label);
  }
  const section = h('section.usage', { 'aria-labelledby': `${idPrefix}-usage-title` },
    h('div.usage-head', null,
      h('h2', { id: `${idPrefix}-usage-title` }, title),
      h('div.segmented', { role: 'group', 'aria-label': 'Period' }, buttons.day, buttons.month)),
    status, body);
  show('day');
  return section;
}
