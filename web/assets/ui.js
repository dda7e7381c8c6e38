// What every view shares: building elements without HTML strings, the page's message area, and
// number formats.
import { t, currentLanguage } from './i18n.js';

// h('button', { class: 'x', onclick: f }, 'text', child...): text children become text nodes.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  element.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

const notice = () => document.getElementById('notice');

// A message for the whole page (errors, and what an action did), read out by screen readers.
export function showNotice(message, kind = 'error') {
  const box = notice();
  box.className = `notice ${kind}`;
  document.getElementById('notice-text').textContent = message;
  box.hidden = false;
}

export function clearNotice() {
  notice().hidden = true;
}

export function formatNumber(value, digits = 0) {
  return Number(value || 0).toLocaleString(currentLanguage(), {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

// Small figures (Wh, USD) keep their significant digits.
export function formatSmall(value) {
  const v = Number(value || 0);
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return formatNumber(v, 0);
  return v.toLocaleString(currentLanguage(), { maximumSignificantDigits: 3 });
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${formatNumber(bytes / 1024, 1)} KB`;
  return `${formatNumber(bytes / 1024 / 1024, 1)} MB`;
}

// Unix seconds or an RFC 3339 string.
export function formatTime(when) {
  if (!when) return '';
  return new Date(typeof when === 'number' ? when * 1000 : when).toLocaleString(currentLanguage());
}

export const routeName = (route) => t(`route.${route}`, {}, route);
