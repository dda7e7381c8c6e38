// Talking to `tandem serve`: every call sends the API key the user entered (kept in
// sessionStorage, never in a URL), and every failure becomes an ApiError whose message can be
// shown as it is (server down, key rejected, upload too large, rate limited, the server's own error).
import { t } from './i18n.js';

const KEY_STORAGE = 'tandem.apiKey';

export const getKey = () => sessionStorage.getItem(KEY_STORAGE) || '';
export const setKey = (key) => sessionStorage.setItem(KEY_STORAGE, key);
export const clearKey = () => sessionStorage.removeItem(KEY_STORAGE);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status; // 0: the server could not be reached
  }
}

let onUnauthorized = () => {};
// Called with the error whenever the server rejects the key (401), wherever the call was made.
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

// The message for an HTTP error status, with the server's own explanation when it sent one.
export function httpError(status, serverMessage, retryAfter) {
  const known = {
    401: 'error.unauthorized',
    403: 'error.forbidden',
    404: 'error.not_found',
    413: 'error.too_large',
    429: 'error.rate_limited',
  };
  let text = t(known[status] || 'error.http', { status, seconds: retryAfter || '?' });
  if (serverMessage) text += ` (${serverMessage})`;
  const error = new ApiError(status, text);
  if (status === 401) onUnauthorized(error);
  return error;
}

function serverMessageOf(text) {
  try {
    return JSON.parse(text)?.error?.message || '';
  } catch {
    return '';
  }
}

async function send(path, options = {}) {
  let response;
  try {
    response = await fetch(path, {
      ...options,
      cache: 'no-store',
      headers: { Authorization: `Bearer ${getKey()}`, ...options.headers },
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, t('error.server_down'));
  }
  if (!response.ok) {
    const body = await response.text().catch(() => '');
    throw httpError(response.status, serverMessageOf(body), response.headers.get('Retry-After'));
  }
  return response;
}

export async function getJson(path) {
  return (await send(path)).json();
}

export async function sendJson(method, path, body) {
  const options = { method };
  if (body !== undefined) {
    options.headers = { 'Content-Type': 'application/json' };
    options.body = JSON.stringify(body);
  }
  return (await send(path, options)).json();
}

// Uploads one file as the raw request body; onProgress(fraction) while it is sent. XMLHttpRequest,
// since fetch cannot report upload progress.
export function uploadFile(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', path);
    request.setRequestHeader('Authorization', `Bearer ${getKey()}`);
    request.setRequestHeader('Content-Type', 'application/octet-stream');
    request.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    request.onerror = () => reject(new ApiError(0, t('error.server_down')));
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) {
        resolve(JSON.parse(request.responseText));
      } else {
        reject(httpError(request.status, serverMessageOf(request.responseText), request.getResponseHeader('Retry-After')));
      }
    };
    request.send(file);
  });
}

// A streamed chat completion (SSE). onStart(response headers) before the first token, onDelta(text)
// for each piece; resolves with the final chunk's `tandem` object (route, reasons, citations,
// privacy, usage). An error event after the start rejects with its message.
export async function streamChat(body, { onStart, onDelta, signal }) {
  const response = await send('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  onStart(response.headers);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let final = null;
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, t('error.stream_broken'));
    }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') return final || {};
        const parsed = JSON.parse(data);
        if (parsed.error) throw new ApiError(500, parsed.error.message);
        const delta = parsed.choices?.[0]?.delta?.content;
        if (delta) onDelta(delta);
        if (parsed.tandem) final = parsed.tandem;
      }
    }
  }
  throw new ApiError(0, t('error.stream_broken'));
}
