// Publish time and bytes per deployment for the offline generator's app.
//
//   cd end2end && node bench/publish-cost.mjs [--runs 5] [--bin ../target/release/minicode]
//
// Starts minicode (start-server.sh: fresh data, offline model, process
// sandbox), builds the offline generator's app through the API, waits for
// it to complete (so its dependencies are installed), then publishes it
// `--runs` times. For each publish: the wall time of the request (install
// check + `vite build` in the sandbox + the copy into the deployment's
// folder), the build time the server records, and the files and bytes
// stored. Prints a table and the medians.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const runs = Number(args.runs ?? 5);
const port = Number(args.port ?? 3192);
const base = `http://127.0.0.1:${port}`;
const given = args.bin ?? process.env.MINICODE_BIN;
const bin = given ? resolve(given) : undefined;

const server = spawn('bash', ['./start-server.sh', String(port)], {
  env: {
    ...process.env,
    ...(bin ? { MINICODE_BIN: bin } : {}),
    E2E_LOG: 'warn',
    E2E_DATA: 'target/bench-publish',
    MINICODE_OFFLINE_CHARS_PER_SEC: '0',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const stop = () => server.kill('SIGTERM');
process.on('exit', stop);

let cookie = '';
async function call(method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Origin: base, 'Content-Type': 'application/json', Cookie: cookie },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const set = res.headers.get('set-cookie');
  if (set) cookie = set.split(';')[0];
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()).data;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {}
    if (i > 600) throw new Error('minicode did not start');
    await sleep(100);
  }
  await call('POST', '/api/auth/register', { username: `pub${Date.now().toString(36)}`, password: 'password123' });
  const project = await call('POST', '/api/projects', { name: 'Publish bench' });
  await call('POST', `/api/projects/${project.id}/generate`, { description: 'A habit tracker with streaks and notes' });
  for (let i = 0; ; i++) {
    const state = await call('GET', `/api/projects/${project.id}/state`);
    if (state.state === 'complete') break;
    if (['failed', 'cancelled'].includes(state.state) || i > 3000) throw new Error(`the build ended ${state.state}`);
    await sleep(100);
  }
  const rows = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const d = await call('POST', `/api/projects/${project.id}/deployments`);
    const wall = performance.now() - started;
    if (d.status !== 'ready') throw new Error(`deployment ${d.number} ${d.status}: ${d.error}`);
    rows.push({ n: d.number, wall, build: d.buildMs, files: d.files, bytes: d.bytes });
  }
  console.log('| deployment | request ms | build + copy ms (server) | files | bytes stored |');
  console.log('|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.n} | ${r.wall.toFixed(0)} | ${r.build} | ${r.files} | ${r.bytes} |`);
  console.log(`\nmedian: ${median(rows.map((r) => r.wall)).toFixed(0)} ms per publish, ${median(rows.map((r) => r.bytes))} bytes per deployment`);
} finally {
  stop();
}
