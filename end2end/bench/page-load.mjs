// Time to interactive of the project page, and the bytes it loads.
//
//   cd end2end && node bench/page-load.mjs [--runs 5] [--bin ../target/release/minicode]
//
// Starts minicode (start-server.sh: fresh data, offline model) on
// 127.0.0.1, signs up, creates a project with a small Vite app through the
// API, then opens `/project/:id` in Debian's Chromium: `--runs` times in a
// fresh browser context (empty HTTP cache: a first visit) and `--runs` times
// reloading one context (cached: a returning user). For each load it records,
// from the start of navigation:
//   - html:     DOMContentLoaded (the server-rendered page is there)
//   - hydrated: the WASM has hydrated the page (handlers attached)
//   - live:     the project WebSocket is connected and caught up
//   - editor:   Monaco is loaded and ready
//   - file:     a click on a file in the tree until its text is in Monaco
//               (measured from the click)
// and prints the median and worst of each, then the compressed bytes of a
// first visit by kind (what went over the wire, from Resource Timing).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const runs = Number(args.runs ?? 5);
const port = Number(args.port ?? 3190);
const base = `http://127.0.0.1:${port}`;
// Resolved here: start-server.sh runs from the repository root.
const given = args.bin ?? process.env.MINICODE_BIN;
const bin = given ? resolve(given) : undefined;

const server = spawn('bash', ['./start-server.sh', String(port)], {
  env: { ...process.env, ...(bin ? { MINICODE_BIN: bin } : {}), E2E_LOG: 'warn', E2E_DATA: 'target/bench-page-load' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const stop = () => server.kill('SIGTERM');
process.on('exit', stop);

async function waitForHealth() {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`minicode did not answer on ${base}/health`);
}

/** Records the moments the page reaches each state, relative to navigation start. */
function marks() {
  const t = (window.__marks = {});
  let hydrated = false;
  Object.defineProperty(window, '__minicodeHydrated', {
    configurable: true,
    get: () => hydrated,
    set: (v) => {
      hydrated = v;
      if (v && t.hydrated === undefined) t.hydrated = performance.now();
    },
  });
  const check = () => {
    if (t.live === undefined && document.querySelector('[data-testid="conn-status"][data-state="live"]'))
      t.live = performance.now();
    if (t.editor === undefined && document.querySelector('[data-testid="editor"][data-ready="true"]'))
      t.editor = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
  document.addEventListener('DOMContentLoaded', () => (t.html = performance.now()));
}

const app = `import { useState } from 'react';

export default function App() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1>Page load bench</h1>
      <button onClick={() => setCount(count + 1)}>clicked {count} times</button>
    </main>
  );
}
`;
// No package.json: the sandbox stays stopped, so no `npm install` competes
// with the page for the CPU while it is measured.
const files = {
  'index.html': '<!doctype html><html><body><div id="root"></div><script type="module" src="/src/main.tsx"></script></body></html>\n',
  'src/main.tsx': "import { createRoot } from 'react-dom/client';\nimport App from './App';\ncreateRoot(document.getElementById('root')!).render(<App />);\n",
  'src/App.tsx': app,
  'src/styles.css': 'main { font-family: sans-serif; }\n'.repeat(40),
  'README.md': '# Bench\n\nA small app for the page-load bench.\n',
};

async function setUp(browser) {
  const context = await browser.newContext({ baseURL: base });
  const post = (path, data, method = 'post') =>
    context.request[method](path, { data, headers: { Origin: base } }).then(async (r) => {
      if (!r.ok()) throw new Error(`${method.toUpperCase()} ${path}: ${r.status()} ${await r.text()}`);
      return r.status() === 204 ? null : (await r.json()).data;
    });
  await post('/api/auth/register', { username: `bench${Date.now().toString(36)}`, password: 'password123' });
  const project = await post('/api/projects', { name: 'Page load bench' });
  for (const [path, content] of Object.entries(files)) {
    await post(`/api/projects/${project.id}/files/${path}`, { content }, 'put');
  }
  const storage = await context.storageState();
  await context.close();
  return { project: project.id, storage };
}

/** A page error (a WASM panic, a failed hydration) ends the bench: its figures would be wrong. */
function failOnErrors(page) {
  page.on('pageerror', (e) => {
    console.error(`page error: ${e.message}`);
    process.exit(1);
  });
  return page;
}

async function load(page, url, reload) {
  if (reload) await page.reload({ waitUntil: 'commit' });
  else await page.goto(url, { waitUntil: 'commit' });
  await page.waitForFunction(
    () => ['html', 'hydrated', 'live', 'editor'].every((k) => window.__marks?.[k] !== undefined),
    null,
    { timeout: 60_000, polling: 50 },
  );
  const times = await page.evaluate(() => window.__marks);
  const clicked = await page.evaluate(() => performance.now());
  await page.locator('[data-testid="tree-file"][data-path="src/App.tsx"]').click();
  await page.waitForFunction((text) => window.minicodeEditor?.getValue() === text, app, {
    timeout: 30_000,
    polling: 'raf',
  });
  times.file = (await page.evaluate(() => performance.now())) - clicked;
  return times;
}

/** Compressed bytes per kind of resource, from Resource Timing. */
async function bytes(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const sum = { html: nav.transferSize, wasm: 0, js: 0, css: 0, monaco: 0 };
    for (const r of performance.getEntriesByType('resource')) {
      const path = new URL(r.name).pathname;
      const kind = path.startsWith('/monaco/')
        ? 'monaco'
        : path.endsWith('.wasm')
          ? 'wasm'
          : path.endsWith('.js')
            ? 'js'
            : path.endsWith('.css')
              ? 'css'
              : null;
      if (kind) sum[kind] += r.transferSize;
    }
    return sum;
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const row = (label, samples) => {
  const keys = ['html', 'hydrated', 'live', 'editor', 'file'];
  const cells = keys.map((k) => {
    const xs = samples.map((s) => s[k]);
    return `${median(xs).toFixed(0)} / ${Math.max(...xs).toFixed(0)}`;
  });
  return `| ${label} | ${cells.join(' | ')} |`;
};

try {
  await waitForHealth();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  const { project, storage } = await setUp(browser);
  const url = `${base}/project/${project}`;

  const first = [];
  let firstBytes;
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ storageState: storage });
    await context.addInitScript(marks);
    const page = failOnErrors(await context.newPage());
    first.push(await load(page, url, false));
    firstBytes ??= await bytes(page);
    await context.close();
  }

  const returning = [];
  const context = await browser.newContext({ storageState: storage });
  await context.addInitScript(marks);
  const page = failOnErrors(await context.newPage());
  await load(page, url, false);
  for (let i = 0; i < runs; i++) returning.push(await load(page, url, true));
  await context.close();
  await browser.close();

  console.log(`\nproject page on ${base}, ${runs} loads each; ms from navigation start, median / worst\n`);
  console.log('| visit | html | hydrated | socket live | editor ready | file shown (from click) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  console.log(row('first (empty cache)', first));
  console.log(row('returning (cached)', returning));
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log('\ncompressed bytes of a first visit (Resource Timing transferSize)\n');
  console.log('| html | wasm | js | css | monaco | total |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  const total = Object.values(firstBytes).reduce((a, b) => a + b, 0);
  console.log(
    `| ${kb(firstBytes.html)} | ${kb(firstBytes.wasm)} | ${kb(firstBytes.js)} | ${kb(firstBytes.css)} | ${kb(firstBytes.monaco)} | ${kb(total)} |`,
  );
} finally {
  stop();
}
