// Keys (admins only): create a key for a tenant (a new tenant is made by its first key), revoke a
// key or every key of a tenant (/tandem/v1/keys).
import { getJson, getKey, sendJson } from './api.js';
import { t } from './i18n.js';
import { h, showNotice, clearNotice, formatTime } from './ui.js';

const $ = (id) => document.getElementById(id);

async function revoke(keys) {
  for (const key of keys) await sendJson('DELETE', `/tandem/v1/keys/${key.id}`);
}

function confirmAndRevoke(keys, question) {
  return async () => {
    if (!window.confirm(question)) return;
    try {
      await revoke(keys);
      showNotice(t('keys.revoked_count', { n: keys.length }), 'info');
    } catch (e) {
      showNotice(e.message);
    }
    await refresh();
  };
}

function tenants(keys) {
  const byTenant = new Map();
  for (const key of keys) {
    if (!byTenant.has(key.tenant)) byTenant.set(key.tenant, []);
    if (!key.revoked) byTenant.get(key.tenant).push(key);
  }
  $('tenants').replaceChildren(...[...byTenant].map(([tenant, active]) => h('li', {},
    h('span', {}, t('keys.tenant_keys', { tenant, n: active.length })),
    active.length ? h('button', { type: 'button', class: 'danger',
      onclick: confirmAndRevoke(active, t('keys.confirm_tenant', { tenant })) }, t('keys.revoke_tenant', { tenant })) : null)));
}

// The key shown once is hidden again when the admin leaves the view.
export function leave() {
  $('new-key').hidden = true;
  $('new-key-value').textContent = '';
}

export async function refresh() {
  const own = getKey().split('_')[1]; // tdm_<id>_<secret>
  try {
    const { data } = await getJson('/tandem/v1/keys');
    $('keys-table').tBodies[0].replaceChildren(...data.map((key) => h('tr', {},
      h('td', {}, h('code', {}, key.id)), h('td', {}, key.tenant), h('td', {}, t(`keys.scope_${key.scope}`, {}, key.scope)),
      h('td', {}, formatTime(key.created_at)), h('td', {}, key.revoked ? t('keys.revoked') : key.id === own ? t('keys.yours') : t('keys.active')),
      h('td', {}, key.revoked ? null : h('button', { type: 'button', class: 'danger',
        'aria-label': t('keys.revoke_named', { id: key.id }),
        onclick: confirmAndRevoke([key], t('keys.confirm_key', { id: key.id, tenant: key.tenant })) }, t('keys.revoke'))))));
    tenants(data);
  } catch (e) {
    showNotice(e.message);
  }
}

async function create(event) {
  event.preventDefault();
  clearNotice();
  const tenant = $('key-tenant').value.trim();
  if (!tenant) return showNotice(t('keys.need_tenant'));
  try {
    const created = await sendJson('POST', '/tandem/v1/keys', { tenant, scope: $('key-scope').value });
    $('new-key-value').textContent = created.key;
    $('new-key').hidden = false;
    $('key-tenant').value = '';
    await refresh();
  } catch (e) {
    showNotice(e.message);
  }
}

export function initKeys() {
  $('key-form').addEventListener('submit', create);
}
