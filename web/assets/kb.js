// The knowledge base: upload files with progress into a collection, list and delete documents,
// and search them (/tandem/v1/kb/...).
import { getJson, sendJson, uploadFile } from './api.js';
import { t } from './i18n.js';
import { h, showNotice, clearNotice, formatBytes, formatTime, formatSmall } from './ui.js';

const $ = (id) => document.getElementById(id);
const KB = '/tandem/v1/kb';

async function loadCollections() {
  const { data } = await getJson(`${KB}/collections`);
  const filter = $('kb-filter');
  const chosen = filter.value;
  filter.replaceChildren(h('option', { value: '' }, t('kb.all')),
    ...data.map((c) => h('option', { value: c.name }, `${c.name} (${c.documents})`)));
  filter.value = data.some((c) => c.name === chosen) ? chosen : '';
  $('collection-names').replaceChildren(...data.map((c) => h('option', { value: c.name })));
}

async function remove(document_) {
  if (!window.confirm(t('kb.confirm_delete', { title: document_.title || document_.path }))) return;
  try {
    await sendJson('DELETE', `${KB}/documents/${document_.id}`);
    showNotice(t('kb.deleted', { title: document_.title || document_.path }), 'info');
    await refresh();
  } catch (e) {
    showNotice(e.message);
  }
}

async function loadDocuments() {
  const collection = $('kb-filter').value;
  const { data } = await getJson(`${KB}/documents${collection ? `?collection=${encodeURIComponent(collection)}` : ''}`);
  $('documents').tBodies[0].replaceChildren(...data.map((d) => h('tr', {},
    h('td', {}, d.title || d.path), h('td', {}, d.collection), h('td', {}, d.format), h('td', {}, String(d.chunks)),
    h('td', {}, formatBytes(d.bytes)), h('td', {}, formatTime(d.added_at)),
    h('td', {}, h('button', { type: 'button', class: 'danger', onclick: () => remove(d),
      'aria-label': t('kb.delete_named', { title: d.title || d.path }) }, t('kb.delete'))))));
  $('documents-empty').hidden = data.length > 0;
}

export async function refresh() {
  try {
    await loadCollections();
    await loadDocuments();
  } catch (e) {
    showNotice(e.message);
  }
}

async function upload(event) {
  event.preventDefault();
  clearNotice();
  const files = [...$('upload-files').files];
  const collection = $('upload-collection').value.trim() || 'default';
  if (!files.length) return showNotice(t('kb.no_files'));
  const list = $('upload-progress');
  list.replaceChildren();
  let added = 0;
  for (const file of files) {
    const bar = h('progress', { max: '1', value: '0', 'aria-label': file.name });
    const status = h('span', { class: 'status' }, t('kb.uploading'));
    list.appendChild(h('li', {}, h('span', { class: 'name' }, file.name), bar, status));
    const url = `${KB}/documents?collection=${encodeURIComponent(collection)}&name=${encodeURIComponent(file.name)}`;
    try {
      const result = await uploadFile(url, file, (fraction) => { bar.value = fraction; });
      bar.value = 1;
      status.textContent = t(`kb.status_${result.status}`, {}, result.status);
      status.className = 'status ok';
      added++;
    } catch (e) {
      status.textContent = e.message;
      status.className = 'status error';
      showNotice(`${file.name}: ${e.message}`);
    }
  }
  if (added) $('upload-files').value = '';
  await refresh();
}

async function search(event) {
  event.preventDefault();
  const query = $('search-query').value.trim();
  if (!query) return;
  const results = $('search-results');
  const collection = $('kb-filter').value;
  try {
    const found = await sendJson('POST', `${KB}/search`, {
      query, k: 5, mode: $('search-mode').value, ...(collection ? { collections: [collection] } : {}),
    });
    results.replaceChildren(...found.hits.map((hit) => h('li', {},
      h('p', { class: 'muted' }, `${hit.title || hit.path}${hit.page ? ` · ${t('chat.page', { page: hit.page })}` : ''} · ${t('kb.score', { score: formatSmall(hit.score) })}`),
      h('blockquote', {}, hit.text))));
    if (!found.hits.length) results.replaceChildren(h('li', { class: 'muted' }, t('kb.no_hits')));
  } catch (e) {
    showNotice(e.message);
  }
}

export function initKnowledge() {
  $('upload-form').addEventListener('submit', upload);
  $('search-form').addEventListener('submit', search);
  $('kb-filter').addEventListener('change', () => loadDocuments().catch((e) => showNotice(e.message)));
  $('kb-refresh').addEventListener('click', refresh);
}
