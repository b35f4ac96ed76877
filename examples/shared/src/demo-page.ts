/**
 * The demo's single page: a chat box that streams through the guarded `/chat` route (`text`
 * format), the live state of every breaker, and a live panel drawn from `GET /metrics`: per route,
 * requests and retries per second and the breaker's state over the last three minutes, as small
 * SVG charts. Self-contained: no CDN, no build step.
 */
export const DEMO_PAGE_HTML = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>claude-guard demo</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d1d1f; background: #f6f6f4; }
  body { margin: 0; padding: 24px; display: grid; grid-template-columns: minmax(320px, 2fr) minmax(260px, 1fr); gap: 24px; align-items: start; }
  @media (max-width: 720px) { body { grid-template-columns: minmax(0, 1fr); padding: 12px; gap: 12px; } }
  h1 { grid-column: 1 / -1; margin: 0; font-size: 22px; }
  h1 small { font-weight: normal; color: #666; font-size: 14px; }
  section { background: #fff; border-radius: 10px; padding: 16px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  h2 { margin: 0 0 12px; font-size: 16px; }
  #answer { white-space: pre-wrap; min-height: 160px; padding: 12px; border: 1px solid #ddd; border-radius: 8px; background: #fcfcfb; line-height: 1.5; }
  #answer.error { border-color: #d33; }
  #error { color: #b00; margin-top: 8px; min-height: 1.2em; }
  form { display: flex; gap: 8px; margin-bottom: 12px; }
  input[type=text] { flex: 1; min-width: 0; padding: 8px; font-size: 15px; border: 1px solid #ccc; border-radius: 6px; }
  button { padding: 8px 12px; border-radius: 6px; border: 1px solid #888; background: #fff; cursor: pointer; }
  button:disabled { opacity: .5; cursor: default; }
  .meta { color: #666; font-size: 12px; margin-top: 8px; }
  .breaker { border: 1px solid #ddd; border-radius: 8px; padding: 10px; margin-bottom: 8px; }
  .state { font-weight: bold; text-transform: uppercase; }
  .state.closed { color: #1a7f37; } .state.open { color: #c00; } .state.half-open { color: #b26b00; }
  #faults button { margin: 0 6px 6px 0; }
  .live { border: 1px solid #ddd; border-radius: 8px; padding: 8px 10px; margin-bottom: 8px; }
  .live svg { display: block; width: 100%; height: 44px; background: #fcfcfb; border-radius: 4px; }
  .live svg.strip { height: 10px; margin-top: 4px; }
  .live .legend { font-size: 12px; color: #444; margin: 2px 0 4px; }
  .live .req { color: #2563eb; } .live .retry { color: #d97706; }
</style>
</head>
<body>
<h1>claude-guard demo <small id="upstream"></small></h1>
<section>
  <h2>Chat (streams through <code>POST /chat</code>)</h2>
  <form id="chat">
    <input type="text" id="message" value="Tell me about circuit breakers" aria-label="message">
    <button type="submit" id="send">Send</button>
    <button type="button" id="stop" disabled>Stop</button>
  </form>
  <div id="answer" aria-live="polite"></div>
  <div id="error" role="alert"></div>
  <div class="meta" id="meta"></div>
</section>
<aside>
  <section>
    <h2>Circuit breakers (<code>GET /guard/status</code>)</h2>
    <div id="breakers">No route has been called yet.</div>
  </section>
  <section style="margin-top:16px">
    <h2>Live, last 3 minutes (<code>GET /metrics</code>)</h2>
    <div id="live">No route has been called yet.</div>
    <div class="meta">Per route: <span class="req">requests/s</span> and <span class="retry">retries/s</span>; below, its breaker: green closed, red open, amber half-open.</div>
  </section>
  <section id="fault-panel" hidden style="margin-top:16px">
    <h2>Make the fake misbehave (next requests)</h2>
    <div id="faults"></div>
    <div class="meta" id="fault-note"></div>
  </section>
</aside>
<script>
const $ = (id) => document.getElementById(id);
let controller = null;

// Server-sent events from a fetch body (EventSource cannot POST). WHATWG rules: lines end in
// CRLF, LF or CR, also when a chunk splits the pair; one space after the colon is dropped; data
// lines join with a newline; a blank line dispatches; an event cut off by the end is discarded.
async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const lineEnd = /\\r\\n|\\r|\\n/;
  let buffer = '';
  let event = '';
  let data = [];
  for (;;) {
    const { done, value } = await reader.read();
    buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
    let match;
    while ((match = lineEnd.exec(buffer))) {
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (match[0] === '\\r' && match.index === buffer.length - 1 && !done) break;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === '') {
        if (event || data.length) yield { event: event || 'message', data: data.join('\\n') };
        event = '';
        data = [];
        continue;
      }
      const colon = line.indexOf(':');
      if (colon === 0) continue;
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) text = text.slice(1);
      if (field === 'event') event = text;
      else if (field === 'data') data.push(text);
    }
    if (done) return;
  }
}

$('chat').addEventListener('submit', async (e) => {
  e.preventDefault();
  controller?.abort();
  controller = new AbortController();
  $('answer').textContent = '';
  $('answer').classList.remove('error');
  $('answer').dataset.state = 'streaming';
  $('error').textContent = '';
  $('meta').textContent = 'Waiting for Claude...';
  $('send').disabled = true;
  $('stop').disabled = false;
  const started = performance.now();
  try {
    const response = await fetch('/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: $('message').value, stream: true }),
      signal: controller.signal,
    });
    const requestId = response.headers.get('x-request-id');
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error((body?.error?.type ?? response.status) + ': ' + (body?.error?.message ?? response.statusText));
    }
    let pings = 0;
    for await (const { event, data } of sse(response)) {
      if (event === 'text') $('answer').textContent += JSON.parse(data);
      else if (event === 'ping') pings++;
      else if (event === 'error') {
        const body = JSON.parse(data);
        throw new Error(body.error.type + ': ' + body.error.message);
      } else if (event === 'done') {
        const usage = JSON.parse(data).usage;
        $('meta').textContent = 'Done in ' + Math.round(performance.now() - started) + ' ms, ' + usage.output_tokens + ' output tokens, ' + pings + ' heartbeats, request ' + requestId;
        $('answer').dataset.state = 'done';
        return;
      }
      $('meta').textContent = 'Streaming... (' + pings + ' heartbeats) request ' + requestId;
    }
    throw new Error('The stream ended unexpectedly');
  } catch (error) {
    if (error.name === 'AbortError') {
      $('answer').dataset.state = 'stopped';
      $('meta').textContent = 'Stopped.';
      return;
    }
    $('answer').classList.add('error');
    $('answer').dataset.state = 'error';
    $('error').textContent = String(error.message ?? error);
    $('meta').textContent = '';
  } finally {
    $('send').disabled = false;
    $('stop').disabled = true;
  }
});
$('stop').addEventListener('click', () => controller?.abort());

const BREAKER_MEANING = {
  closed: 'Calls go through to Claude.',
  open: 'Calls are answered 503 at once, without calling Claude.',
  'half-open': 'The next call with time enough to prove health is the trial.',
};

async function refreshBreakers() {
  try {
    const status = await (await fetch('/guard/status')).json();
    $('upstream').textContent = '- upstream: ' + status.upstream;
    if (!status.breakers.length) return;
    $('breakers').replaceChildren(...status.breakers.map((b) => {
      const div = document.createElement('div');
      div.className = 'breaker';
      div.dataset.key = b.key;
      const wait = b.state === 'open' ? ' - half-open in ' + b.retryAfterSeconds + ' s' : '';
      div.innerHTML = '<div><b></b> <span class="state"></span><span class="wait"></span></div><div class="meta"></div>';
      div.querySelector('b').textContent = b.key;
      div.querySelector('.state').textContent = b.state;
      div.querySelector('.state').classList.add(b.state);
      div.querySelector('.wait').textContent = wait;
      // The public status has no counts (see the README): say what the state means instead.
      div.querySelector('.meta').textContent = BREAKER_MEANING[b.state] ?? '';
      return div;
    }));
  } catch { /* the server may be restarting */ }
}
setInterval(refreshBreakers, 500);
refreshBreakers();

// The live panel: /metrics polled every second. Counters become rates (the change since the last
// poll over the time between them); the breaker gauge is read as it is (0 closed, 1 open, 2 half-open).
const WINDOW = 180;
const STATE_COLOR = ['#1a7f37', '#c00', '#d99a00'];
const live = { previous: null, series: new Map() };

function parseMetrics(text) {
  const out = { requests: {}, retries: {}, breakers: {} };
  for (const line of text.split('\\n')) {
    const match = /^claude_guard_(requests_total|retries_total|breaker_state)\\{([^}]*)\\} (\\S+)$/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, name, value] of match[2].matchAll(/(\\w+)="((?:[^"\\\\]|\\\\.)*)"/g)) labels[name] = value;
    const value = Number(match[3]);
    if (match[1] === 'breaker_state') out.breakers[labels.key] = value;
    else {
      const into = match[1] === 'requests_total' ? out.requests : out.retries;
      into[labels.route] = (into[labels.route] ?? 0) + value;
    }
  }
  return out;
}

function seriesOf(name) {
  let series = live.series.get(name);
  if (!series) {
    series = { requests: [], retries: [], states: [] };
    live.series.set(name, series);
  }
  return series;
}

const keep = (list, value) => { list.push(value); if (list.length > WINDOW) list.shift(); };

async function pollMetrics() {
  let text;
  try {
    const response = await fetch('/metrics');
    if (!response.ok) return;
    text = await response.text();
  } catch { return; }
  const now = performance.now();
  const sample = parseMetrics(text);
  const previous = live.previous;
  live.previous = { at: now, sample };
  if (previous) {
    const seconds = Math.max(0.001, (now - previous.at) / 1000);
    // A route new since the last poll had all its requests in between.
    const rate = (now, before) => Math.max(0, (now ?? 0) - (before ?? 0)) / seconds;
    for (const route of Object.keys(sample.requests)) {
      const series = seriesOf(route);
      keep(series.requests, rate(sample.requests[route], previous.sample.requests[route]));
      keep(series.retries, rate(sample.retries[route], previous.sample.retries[route]));
    }
  }
  for (const [key, state] of Object.entries(sample.breakers)) keep(seriesOf(key).states, state);
  renderLive();
}

const SVG = 'http://www.w3.org/2000/svg';
function line(values, max, color) {
  const path = document.createElementNS(SVG, 'polyline');
  const step = 240 / (WINDOW - 1);
  const offset = (WINDOW - values.length) * step;
  path.setAttribute('points', values.map((v, i) => (offset + i * step).toFixed(1) + ',' + (42 - (v / max) * 38).toFixed(1)).join(' '));
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', color);
  path.setAttribute('stroke-width', '1.5');
  return path;
}

function renderLive() {
  if (!live.series.size) return;
  const cards = [...live.series.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, series]) => {
    const card = document.createElement('div');
    card.className = 'live';
    card.dataset.name = name;
    const last = (list) => list.at(-1) ?? 0;
    const most = (list) => list.reduce((m, v) => Math.max(m, v), 0);
    card.dataset.requestsMax = String(most(series.requests));
    card.dataset.retriesMax = String(most(series.retries));
    card.dataset.states = series.states.join('');
    const legend = document.createElement('div');
    legend.className = 'legend';
    legend.innerHTML = '<b></b> <span class="req"></span> <span class="retry"></span>';
    legend.querySelector('b').textContent = name;
    legend.querySelector('.req').textContent = last(series.requests).toFixed(1) + ' req/s';
    legend.querySelector('.retry').textContent = last(series.retries).toFixed(1) + ' retries/s';
    card.append(legend);
    if (series.requests.length) {
      const chart = document.createElementNS(SVG, 'svg');
      chart.setAttribute('viewBox', '0 0 240 44');
      chart.setAttribute('preserveAspectRatio', 'none');
      chart.setAttribute('class', 'rates');
      chart.setAttribute('role', 'img');
      chart.setAttribute('aria-label', name + ': requests and retries per second');
      const max = Math.max(1, most(series.requests), most(series.retries));
      chart.append(line(series.requests, max, '#2563eb'), line(series.retries, max, '#d97706'));
      card.append(chart);
    }
    if (series.states.length) {
      const strip = document.createElementNS(SVG, 'svg');
      strip.setAttribute('viewBox', '0 0 ' + WINDOW + ' 1');
      strip.setAttribute('preserveAspectRatio', 'none');
      strip.setAttribute('class', 'strip');
      strip.setAttribute('role', 'img');
      strip.setAttribute('aria-label', name + ' breaker state over time');
      const offset = WINDOW - series.states.length;
      series.states.forEach((state, i) => {
        const cell = document.createElementNS(SVG, 'rect');
        cell.setAttribute('x', String(offset + i));
        cell.setAttribute('width', '1');
        cell.setAttribute('height', '1');
        cell.setAttribute('fill', STATE_COLOR[state] ?? '#999');
        strip.append(cell);
      });
      card.append(strip);
    }
    return card;
  });
  $('live').replaceChildren(...cards);
}
setInterval(pollMetrics, 1000);
pollMetrics();

fetch('/demo/faults').then((r) => (r.ok ? r.json() : null)).then((faults) => {
  if (!faults) return;
  $('fault-panel').hidden = false;
  for (const [name, label] of Object.entries(faults)) {
    const button = document.createElement('button');
    button.textContent = label;
    button.dataset.fault = name;
    button.addEventListener('click', async () => {
      const r = await fetch('/demo/fault', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault: name }) });
      $('fault-note').textContent = r.ok ? 'Queued: ' + label : 'Could not queue the fault';
    });
    $('faults').append(button);
  }
}).catch(() => {});
</script>
</body>
</html>
`;
