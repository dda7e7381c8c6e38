// The dashboard: route mix and cloud share by day, energy and money spent against the all-cloud
// baseline, and latency, from GET /tandem/v1/usage (the caller's tenant; an admin sees all).
import { getJson } from './api.js';
import { barChart, lineChart } from './charts.js';
import { t } from './i18n.js';
import { h, showNotice, formatNumber, formatSmall, routeName } from './ui.js';

const $ = (id) => document.getElementById(id);
const ROUTES = ['local', 'knowledge', 'cloud'];
const COLOUR = { local: 0, knowledge: 1, cloud: 2, baseline: 3 };

function card(label, value, note = '') {
  return h('div', { class: 'card stat' }, h('span', { class: 'label' }, label), h('strong', { class: 'value' }, value),
    note ? h('span', { class: 'muted' }, note) : null);
}

const cloudShare = (report) => (report.total.answers ? (report.by_route.cloud?.answers || 0) / report.total.answers : 0);

function summary(usage) {
  $('summary').replaceChildren(
    card(t('dashboard.answers'), formatNumber(usage.total.answers), usage.tenant ? t('dashboard.for_tenant', { tenant: usage.tenant }) : t('dashboard.all_tenants')),
    card(t('dashboard.cloud_share_now'), `${formatNumber(cloudShare(usage) * 100)} %`),
    card(t('dashboard.energy_wh'), formatSmall(usage.total.energy_wh), t('dashboard.vs_cloud', { value: formatSmall(usage.all_cloud.energy_wh) })),
    card(t('dashboard.cost_usd'), formatSmall(usage.total.cost_usd), t('dashboard.vs_cloud', { value: formatSmall(usage.all_cloud.cost_usd) })),
    card(t('dashboard.co2_g'), formatSmall(usage.total.co2_g), t('dashboard.saved', { value: formatSmall(usage.saved.co2_g) })),
    card(t('dashboard.latency_ms'), formatNumber(usage.total.mean_latency_ms)),
  );
}

function charts(days) {
  const labels = days.map((d) => d.day.slice(5));
  const perRoute = (field) => ROUTES.map((route) => ({
    name: routeName(route), colour: COLOUR[route], values: days.map((d) => d.by_route[route]?.[field] || 0),
  }));
  const against = (field) => [
    { name: t('dashboard.actual'), colour: COLOUR.local, values: days.map((d) => d.total[field]) },
    { name: t('dashboard.all_cloud'), colour: COLOUR.baseline, values: days.map((d) => d.all_cloud[field]) },
  ];
  barChart($('chart-routes'), { title: t('dashboard.route_mix'), labels, series: perRoute('answers'), stacked: true, format: formatSmall });
  lineChart($('chart-cloud'), { title: t('dashboard.cloud_share'), labels, max: 100, format: (v) => formatNumber(v),
    series: [{ name: routeName('cloud'), colour: COLOUR.cloud, values: days.map((d) => cloudShare(d) * 100) }] });
  barChart($('chart-energy'), { title: t('dashboard.energy'), labels, series: against('energy_wh'), format: formatSmall });
  barChart($('chart-cost'), { title: t('dashboard.cost'), labels, series: against('cost_usd'), format: formatSmall });
  barChart($('chart-latency'), { title: t('dashboard.latency'), labels, format: formatSmall,
    series: [{ name: t('dashboard.latency_ms'), colour: COLOUR.knowledge, values: days.map((d) => d.total.mean_latency_ms) }] });
}

function table(usage) {
  const row = (name, totals) => h('tr', {}, h('th', { scope: 'row' }, name),
    ...[formatNumber(totals.answers), formatNumber(totals.tokens), formatSmall(totals.energy_wh), formatSmall(totals.co2_g),
      formatSmall(totals.cost_usd), formatNumber(totals.mean_latency_ms)].map((v) => h('td', {}, v)));
  $('usage-table').tBodies[0].replaceChildren(
    ...Object.entries(usage.by_route).map(([route, totals]) => row(routeName(route), totals)),
    row(t('dashboard.total'), usage.total), row(t('dashboard.all_cloud'), usage.all_cloud));
}

export async function refresh() {
  const tenant = $('dashboard-tenant').value.trim();
  try {
    const usage = await getJson(`/tandem/v1/usage${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ''}`);
    summary(usage);
    charts(usage.days);
    table(usage);
  } catch (e) {
    showNotice(e.message);
  }
}

export function initDashboard() {
  $('dashboard-refresh').addEventListener('click', refresh);
  $('dashboard-tenant').addEventListener('change', refresh);
}
