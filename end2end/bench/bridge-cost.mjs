// What the preview's error bridge adds to a preview load: bytes and time.
//
//   cd end2end && node bench/bridge-cost.mjs [--runs 15] [--bin ../target/release/minicode]
//
// Starts minicode (start-server.sh: fresh data, offline model), builds the
// offline generator's app through the API and waits for its preview, then
// loads the preview frame of the workspace again and again in Debian's
// Chromium. For each load, from the start of the frame's navigation:
// DOMContentLoaded, load, first contentful paint, and "rendered" (the app's
// root has content), plus the document's bytes (the bridge inlined). Then
// the bridge's own cost: its evaluation in a fresh blank page, which is
// what it adds to the page's critical path (it is inline: no request). It
// prints the median and 90th percentile of each.
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const runs = Number(args.runs ?? 15);
const port = Number(args.port ?? 3191);
const base = `http://127.0.0.1:${port}`;
const given = args.bin ?? process.env.MINICODE_BIN;
const bin = given ? resolve(given) : undefined;
const bridge = readFileSync(new URL('../../server/src/preview/bridge.js', import.meta.url), 'utf8');
const bridgeTag = `<script>${bridge}</script>`;

const server = spawn('bash', ['./start-server.sh', String(port)], {
  env: {
    ...process.env,
    ...(bin ? { MINICODE_BIN: bin } : {}),
    E2E_LOG: 'warn',
    E2E_DATA: 'target/bench-bridge',
    MINICODE_OFFLINE_CHARS_PER_SEC: '0',
  },
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

/** In every frame: when the app's root first has content. */
function rendered() {
  const seen = () => {
    const root = document.getElementById('root');
    if (root && root.childElementCount > 0 && window.__rendered === undefined) window.__rendered = performance.now();
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];

try {
  await waitForHealth();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ baseURL: base });
  const post = (path, data, method = 'post') =>
    context.request[method](path, { data, headers: { Origin: base } }).then(async (r) => {
      if (!r.ok()) throw new Error(`${method.toUpperCase()} ${path}: ${r.status()} ${await r.text()}`);
      return (await r.json()).data;
    });
  await post('/api/auth/register', { username: `bridge${Date.now().toString(36)}`, password: 'password123' });
  const project = await post('/api/projects', { name: 'Bridge bench' });
  await post(`/api/projects/${project.id}/generate`, { description: 'A counter with a history list' });
  for (let i = 0; ; i++) {
    const state = (await (await context.request.get(`/api/projects/${project.id}/state`)).json()).data;
    if (state.state === 'complete') break;
    if (['failed', 'cancelled'].includes(state.state) || i > 3000) throw new Error(`the build ended ${state.state}`);
    await sleep(100);
  }

  await context.addInitScript(rendered);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.error(`console: ${m.text()}`));
  await page.goto(`/project/${project.id}`);
  const frame = async () => {
    for (let i = 0; i < 600; i++) {
      const f = page.frames().find((f) => /\.preview\./.test(f.url()));
      if (f) return f;
      await sleep(100);
    }
    throw new Error(`no preview frame: ${page.frames().map((f) => f.url()).join(', ')}`);
  };
  const app = await frame();
  await app.waitForFunction(() => window.__rendered !== undefined, null, { timeout: 120_000 });
  const url = app.url();

  const samples = [];
  for (let i = 0; i < runs + 1; i++) {
    await app.goto(url, { waitUntil: 'load' });
    try {
      await app.waitForFunction(() => window.__rendered !== undefined, null, { timeout: 20_000, polling: 20 });
    } catch (e) {
      console.error(`url ${url}, frame now ${app.url()}:`, (await app.content()).slice(0, 600));
      throw e;
    }
    await sleep(300); // let the paint entry arrive
    const s = await app.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const fcp = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
      return {
        dcl: nav.domContentLoadedEventEnd,
        load: nav.loadEventEnd,
        fcp: fcp ? fcp.startTime : NaN,
        rendered: window.__rendered,
        bytes: nav.decodedBodySize,
      };
    });
    if (i >= 1) samples.push(s); // the first load warms the caches
  }
  const served = await app.evaluate((tag) => document.documentElement.outerHTML.includes(tag.slice(8, 200)), bridgeTag);
  if (!served) throw new Error('the bridge is not in the preview page: the bench measures nothing');

  // The bridge's own evaluation, in a blank page, a fresh one each time.
  const evals = [];
  const blank = await browser.newPage();
  for (let i = 0; i < 30; i++) {
    await blank.goto('about:blank');
    evals.push(
      await blank.evaluate((src) => {
        const start = performance.now();
        (0, eval)(src);
        return performance.now() - start;
      }, bridge),
    );
  }

  const xs = samples;
  const cell = (k) => `${median(xs.map((x) => x[k])).toFixed(0)} / ${p90(xs.map((x) => x[k])).toFixed(0)}`;
  console.log(`bridge.js: ${Buffer.byteLength(bridge)} bytes, ${gzipSync(bridge).length} gzip; ${runs} preview loads\n`);
  console.log('| document bytes (with the bridge) | DOMContentLoaded ms | load ms | first paint ms | rendered ms | bridge evaluation ms |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  console.log(`| ${median(xs.map((x) => x.bytes))} | ${cell('dcl')} | ${cell('load')} | ${cell('fcp')} | ${cell('rendered')} | ${median(evals).toFixed(2)} / ${p90(evals).toFixed(2)} |`);
  console.log('\n(median / 90th percentile; page times from the start of the frame\'s navigation, the bridge\'s evaluation in a fresh blank page)');
  await browser.close();
} finally {
  stop();
}
