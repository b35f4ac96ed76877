/**
 * The demo's single page: a chat box that streams through the guarded `/chat` route (`text`
 * format) and the live state of every breaker. Self-contained: no CDN, no build step.
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
