// The chat: answers stream in as Markdown, and each one says where it ran and why, which passages
// it cites (click one to read it), what was pseudonymized before anything left the device, and
// what it cost in energy, carbon and money (the final chunk's `tandem` object).
import { streamChat, ApiError } from './api.js';
import { renderMarkdown } from './markdown.js';
import { t } from './i18n.js';
import { h, showNotice, clearNotice, formatSmall, formatNumber, routeName } from './ui.js';

const history = []; // the conversation sent with each question: {role, content}
let running = null; // the AbortController of the answer being streamed

const $ = (id) => document.getElementById(id);

function showPassage(citation) {
  $('passage-title').textContent = `[${citation.number}] ${citation.title || citation.path}`;
  const where = [citation.path];
  if (citation.page) where.push(t('chat.page', { page: citation.page }));
  where.push(t('chat.chars', { start: citation.char_start, end: citation.char_end }));
  $('passage-where').textContent = where.join(' · ');
  $('passage-text').textContent = citation.snippet;
  $('passage').showModal();
}

function citationsBlock(citations) {
  return h('div', { class: 'citations' },
    h('h4', {}, t('chat.citations')),
    h('ul', {}, ...citations.map((c) => h('li', {},
      h('button', { type: 'button', class: 'citation', 'data-cite': c.number, onclick: () => showPassage(c) },
        `[${c.number}] ${c.title || c.path}${c.page ? ` · ${t('chat.page', { page: c.page })}` : ''}`)))));
}

function privacyText(privacy) {
  if (!privacy) return t('chat.privacy_local');
  const replaced = Object.entries(privacy.pseudonymized || {}).map(([type, n]) => `${type} × ${n}`);
  const parts = [privacy.sent_to_cloud ? t('chat.privacy_sent') : t('chat.privacy_local')];
  if (replaced.length) parts.push(t('chat.privacy_replaced', { list: replaced.join(', ') }));
  if (privacy.blocked?.length) parts.push(t('chat.privacy_blocked', { list: privacy.blocked.join(', ') }));
  return parts.join(' ');
}

function usageText(usage, timings) {
  if (!usage) return '';
  const parts = [
    t('chat.energy', { wh: formatSmall(usage.energy_wh), method: usage.energy_method || '?' }),
    t('chat.co2', { g: formatSmall(usage.co2_g) }),
    t('chat.cost', { usd: formatSmall(usage.cost_usd) }),
  ];
  if (timings?.generation_ms !== undefined) {
    parts.push(t('chat.time', { ms: formatNumber((timings.prompt_ms || 0) + (timings.generation_ms || 0)) }));
  }
  return parts.join(' · ');
}

// The route badge as soon as the headers arrive; replaced by the final one at the end.
function routeBadge(route) {
  return h('span', { class: `badge route-${route}`, 'data-route': route }, routeName(route));
}

function details(meta, tandem) {
  const citations = tandem.knowledge?.citations || [];
  const reasons = tandem.reasons || [];
  const intent = tandem.intent ? t('chat.intent', { label: tandem.intent.label, p: formatNumber(tandem.intent.confidence * 100) }) : '';
  meta.replaceChildren(...[
    h('div', { class: 'where' }, routeBadge(tandem.route || 'local'),
      tandem.fallback ? h('span', { class: 'badge warn' }, t('chat.fallback')) : null,
      h('span', { class: 'muted' }, [tandem.model?.split('/').pop(), intent].filter(Boolean).join(' · '))),
    reasons.length ? h('p', { class: 'reasons' }, h('strong', {}, t('chat.why')), ' ', reasons.join('; ')) : null,
    tandem.knowledge && !tandem.knowledge.found ? h('p', { class: 'muted' }, t('chat.not_found')) : null,
    citations.length ? citationsBlock(citations) : null,
    h('p', { class: 'privacy' }, h('strong', {}, t('chat.privacy')), ' ', privacyText(tandem.privacy)),
    h('p', { class: 'usage' }, usageText(tandem.usage, tandem.timings)),
  ].filter(Boolean));
  return new Set(citations.map((c) => c.number));
}

function bubble(role, text) {
  const body = h('div', { class: 'body' });
  if (role === 'user') body.textContent = text;
  const article = h('article', { class: `message ${role}` },
    h('h3', { class: 'visually-hidden' }, role === 'user' ? t('chat.you') : t('chat.tandem')), body);
  $('messages').appendChild(article);
  return { article, body };
}

async function ask(event) {
  event.preventDefault();
  const prompt = $('prompt').value.trim();
  if (!prompt || running) return;
  clearNotice();
  bubble('user', prompt);
  $('prompt').value = '';
  const { article, body } = bubble('assistant', '');
  body.classList.add('streaming');
  const meta = h('div', { class: 'meta' }, h('span', { class: 'muted' }, t('chat.thinking')));
  article.appendChild(meta);
  article.scrollIntoView({ block: 'end' });

  const collections = $('chat-collections').value.split(',').map((c) => c.trim()).filter(Boolean);
  const request = {
    model: $('chat-model').value,
    messages: [...history, { role: 'user', content: prompt }],
    max_tokens: Number($('chat-max-tokens').value) || 256,
    tandem: { knowledge: $('chat-knowledge').value, ...(collections.length ? { collections } : {}) },
  };
  running = new AbortController();
  $('chat-send').disabled = true;
  $('chat-stop').disabled = false;
  let text = '';
  let citations = new Set();
  let frame = 0;
  const render = () => {
    frame = 0;
    body.innerHTML = renderMarkdown(text, citations); // escaped first: see markdown.js
  };
  try {
    const tandem = await streamChat(request, {
      signal: running.signal,
      onStart: (headers) => {
        const route = headers.get('X-Tandem-Route');
        if (route) meta.replaceChildren(routeBadge(route), h('span', { class: 'muted' }, t('chat.thinking')));
      },
      onDelta: (delta) => {
        text += delta;
        frame = frame || requestAnimationFrame(render);
      },
    });
    citations = details(meta, tandem);
    history.push({ role: 'user', content: prompt }, { role: 'assistant', content: text });
  } catch (e) {
    if (e.name === 'AbortError') {
      meta.replaceChildren(h('span', { class: 'muted' }, t('chat.stopped')));
    } else {
      const message = e instanceof ApiError ? e.message : String(e);
      meta.replaceChildren(h('p', { class: 'error' }, message));
      if (e.status !== 401) showNotice(message);
    }
  } finally {
    if (frame) cancelAnimationFrame(frame);
    render();
    body.classList.remove('streaming');
    running = null;
    $('chat-send').disabled = false;
    $('chat-stop').disabled = true;
  }
}

export function initChat() {
  $('chat-form').addEventListener('submit', ask);
  // Enter sends, Shift+Enter starts a new line.
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    $('chat-form').requestSubmit();
  });
  $('chat-stop').addEventListener('click', () => running?.abort());
  $('chat-clear').addEventListener('click', () => {
    running?.abort();
    history.length = 0;
    $('messages').replaceChildren();
    $('prompt').focus();
  });
  // A [n] in the answer opens the same passage as its citation button.
  $('messages').addEventListener('click', (e) => {
    const mark = e.target.closest('button.cite');
    if (!mark) return;
    const article = mark.closest('article');
    article?.querySelector(`button.citation[data-cite="${mark.dataset.cite}"]`)?.click();
  });
  $('passage-close').addEventListener('click', () => $('passage').close());
}

// Offers the cloud only where this server has one (its model ids, from /v1/models).
export function setModels(ids) {
  const cloud = $('chat-model').querySelector('option[value="tandem/cloud"]');
  cloud.hidden = !ids.includes('tandem/cloud');
  if (cloud.hidden && cloud.selected) $('chat-model').value = 'tandem/auto';
}

export function showChat() {
  $('prompt').focus();
}
