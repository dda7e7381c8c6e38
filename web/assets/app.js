// The web console's entry point: the key form, the section tabs, the language switch, and the
// page-wide error handling (nothing that fails leaves a blank page).
import { getKey, setKey, clearKey, getJson, setUnauthorizedHandler, ApiError } from './api.js';
import { initLanguage, setLanguage, t, applyTranslations, currentLanguage, onLanguageChange } from './i18n.js';
import { showNotice, clearNotice } from './ui.js';
import { initChat, showChat, setModels } from './chat.js';
import * as knowledge from './kb.js';
import * as dashboard from './dashboard.js';
import * as keys from './keys.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['login', 'chat', 'kb', 'dashboard', 'keys'];
let isAdmin = false;

function show(view) {
  if (view !== 'keys') keys.leave();
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  for (const tab of $('tabs').querySelectorAll('button')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  if (view === 'chat') showChat();
  if (view === 'kb') knowledge.refresh();
  if (view === 'dashboard') dashboard.refresh();
  if (view === 'keys') keys.refresh();
}

function signedIn(signed) {
  $('tabs').hidden = !signed;
  $('logout').hidden = !signed;
  $('tabs').querySelector('[data-view="keys"]').hidden = !isAdmin;
  $('dashboard-tenant-label').hidden = !isAdmin;
}

function toLogin(message = '') {
  clearKey();
  isAdmin = false;
  signedIn(false);
  show('login');
  $('login-error').textContent = message;
  $('api-key').focus();
}

// A key is good when the server accepts it; an admin key may also list keys (403 for users, 404
// in single-user mode, where there are no keys to manage).
async function enter() {
  const models = await getJson('/v1/models');
  setModels(models.data.map((m) => m.id));
  try {
    await getJson('/tandem/v1/keys');
    isAdmin = true;
  } catch (e) {
    if (e.status === 401 || e.status === 0) throw e;
    isAdmin = false;
  }
  signedIn(true);
  show('chat');
}

async function login(event) {
  event.preventDefault();
  const key = $('api-key').value.trim();
  if (!key) {
    $('login-error').textContent = t('login.empty');
    return;
  }
  $('login-error').textContent = '';
  setKey(key);
  try {
    await enter();
    $('api-key').value = '';
    clearNotice();
  } catch (e) {
    clearKey();
    $('login-error').textContent = e instanceof ApiError ? e.message : String(e);
  }
}

function start() {
  initLanguage();
  $('language').value = currentLanguage();
  $('language').addEventListener('change', () => setLanguage($('language').value));
  // Text built from data (tables, charts) is rebuilt in the new language.
  onLanguageChange(() => {
    const visible = VIEWS.find((name) => !$(`view-${name}`).hidden);
    if (['kb', 'dashboard', 'keys'].includes(visible)) show(visible);
  });
  $('notice-close').addEventListener('click', clearNotice);
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => toLogin());
  for (const tab of $('tabs').querySelectorAll('button')) tab.addEventListener('click', () => show(tab.dataset.view));
  setUnauthorizedHandler((error) => toLogin(error.message));
  initChat();
  knowledge.initKnowledge();
  dashboard.initDashboard();
  keys.initKeys();
  applyTranslations(document);
  $('loading').hidden = true;
  if (!getKey()) return toLogin();
  // A reload keeps the key of this tab: go straight in when it still works.
  enter().catch((e) => (e.status === 401 ? null : toLogin(e.message)));
}

window.addEventListener('error', (e) => showNotice(t('error.page', { message: e.message })));
window.addEventListener('unhandledrejection', (e) => showNotice(t('error.page', { message: e.reason?.message || String(e.reason) })));
start();
