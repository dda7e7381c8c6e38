// Small SVG charts drawn in the page (no library): grouped or stacked bars and lines over a few
// labels (days). Colours come from CSS classes (series-0, series-1, ...), so the page's style
// sheet decides them; every chart has a text title for screen readers, and the dashboard shows
// the same figures in a table.
//
//   barChart(element, { title, labels: ['11-28', '11-29'], series: [{ name: 'local', values: [3, 5] }],
//                       stacked: true, format: (v) => v.toFixed(1) });

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 480;
const HEIGHT = 220;
const PAD = { left: 52, right: 12, top: 12, bottom: 44 };

function node(name, attributes = {}, parent = null, text = null) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== null) element.textContent = text;
  if (parent) parent.appendChild(element);
  return element;
}

// The frame every chart shares: the svg, its title, the y axis from 0 to max, the x labels.
function frame(container, { title, labels, max, format }) {
  container.replaceChildren();
  const svg = node('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, class: 'chart' });
  node('title', {}, svg, title);
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + plotHeight - (max > 0 ? (v / max) * plotHeight : 0);
  for (const v of [0, max / 2, max]) {
    node('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: 'grid' }, svg);
    node('text', { x: PAD.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, svg, format(v));
  }
  const step = (WIDTH - PAD.left - PAD.right) / Math.max(labels.length, 1);
  labels.forEach((label, i) => {
    node('text', { x: PAD.left + step * (i + 0.5), y: HEIGHT - PAD.bottom + 16, class: 'axis', 'text-anchor': 'middle' },
      svg, label);
  });
  container.appendChild(svg);
  return { svg, y, step };
}

function legend(container, series) {
  const list = document.createElement('ul');
  list.className = 'legend';
  series.forEach((s, i) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `swatch series-${s.colour ?? i}`;
    item.append(swatch, document.createTextNode(s.name));
    list.appendChild(item);
  });
  container.appendChild(list);
}

const niceMax = (v) => {
  if (v <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= v);
};

export function barChart(container, { title, labels, series, stacked = false, format = String }) {
  const totals = labels.map((_, i) =>
    stacked ? series.reduce((sum, s) => sum + s.values[i], 0) : Math.max(0, ...series.map((s) => s.values[i])),
  );
  const max = niceMax(Math.max(0, ...totals));
  const { svg, y, step } = frame(container, { title, labels, max, format });
  const groupWidth = step * 0.7;
  labels.forEach((label, i) => {
    let base = 0;
    series.forEach((s, k) => {
      const value = s.values[i];
      const x = PAD.left + step * i + (step - groupWidth) / 2 + (stacked ? 0 : (groupWidth / series.length) * k);
      const width = stacked ? groupWidth : groupWidth / series.length;
      const top = y(base + value);
      const bar = node('rect', { x, y: top, width, height: Math.max(0, y(base) - top), class: `series-${s.colour ?? k}` }, svg);
      node('title', {}, bar, `${label} ${s.name}: ${format(value)}`);
      if (stacked) base += value;
    });
  });
  legend(container, series);
}

export function lineChart(container, { title, labels, series, format = String, max = null }) {
  const top = max ?? niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const { svg, y, step } = frame(container, { title, labels, max: top, format });
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${PAD.left + step * (i + 0.5)},${y(v)}`);
    node('polyline', { points: points.join(' '), class: `line series-${s.colour ?? k}` }, svg);
    s.values.forEach((v, i) => {
      const dot = node('circle', { cx: PAD.left + step * (i + 0.5), cy: y(v), r: 4, class: `series-${s.colour ?? k}` }, svg);
      node('title', {}, dot, `${labels[i]} ${s.name}: ${format(v)}`);
    });
  });
  legend(container, series);
}
