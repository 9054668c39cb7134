import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createProject, hydrated, putFile, signUpByApi, uniqueName } from './helpers';

// A generated app is hostile input: its page script tries to act as its
// user against minicode. The preview lives on its own host
// (`<project>.preview.localhost`), so none of it works, whether the app is
// framed by the workspace or opened as a tab of its own.

const FIXTURE = path.join(__dirname, '../../server/tests/fixtures/vite-app');
const FIRST_PREVIEW = 240_000;

/** What the hostile app reports in its page, one line per attempt. */
const ATTACK = `
const report = {};
const tryIt = async (name, f) => {
  try { report[name] = (await f()) ? 'reached' : 'blocked'; } catch { report[name] = 'blocked'; }
};
// The builder is on the same port (the e2e server's 127.0.0.1 address).
const builder = 'http://127.0.0.1:' + location.port;
await tryIt('own_origin_api', async () => {
  const r = await fetch('/api/projects', { credentials: 'include' });
  return r.ok && (await r.text()).includes('"data"');
});
await tryIt('builder_api', async () => {
  const r = await fetch(builder + '/api/projects', { credentials: 'include' });
  return r.ok;
});
await tryIt('mint_token', async () => {
  // A "simple" request, sent without a preflight; whether it landed is
  // checked by the test (no new token).
  await fetch(builder + '/api/auth/tokens', {
    method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: { 'content-type': 'text/plain' }, body: '{"name":"stolen"}',
  });
  return false;
});
await tryIt('parent_dom', async () => !!window.parent.document.body && window.parent !== window);
await tryIt('cookie', async () => document.cookie.includes('minicode'));
const out = document.createElement('pre');
out.id = 'attack-report';
out.textContent = JSON.stringify(report);
document.body.appendChild(out);
`;

async function hostileApp(page: Page): Promise<string> {
  const project = await createProject(page, uniqueName('hostile'));
  for (const file of ['package.json', 'index.html', 'vite.config.ts', 'tsconfig.json', 'src/App.tsx']) {
    await putFile(page, project, file, fs.readFileSync(path.join(FIXTURE, file), 'utf8'));
  }
  const main = fs.readFileSync(path.join(FIXTURE, 'src/main.tsx'), 'utf8');
  await putFile(page, project, 'src/main.tsx', `${main}\n(async () => {${ATTACK}})();\n`);
  return project;
}

function expectAllBlocked(text: string) {
  const report = JSON.parse(text) as Record<string, string>;
  expect(Object.keys(report).length).toBe(5);
  for (const [name, result] of Object.entries(report)) {
    expect(result, name).toBe('blocked');
  }
}

test('a generated app can act as its user neither in the workspace nor in a tab of its own', async ({ page, context }) => {
  test.setTimeout(FIRST_PREVIEW + 120_000);
  await signUpByApi(page, uniqueName('victim'));
  const project = await hostileApp(page);
  const tokensBefore = (await (await page.request.get('/api/auth/tokens')).json()).data.length;

  // Framed by the workspace.
  await page.goto(`/project/${project}`);
  await hydrated(page);
  const frame = page.frameLocator('[data-testid="preview-frame"]');
  await expect(frame.locator('#attack-report')).toBeAttached({ timeout: FIRST_PREVIEW });
  expectAllBlocked(await frame.locator('#attack-report').textContent() ?? '{}');
  const iframe = page.locator('[data-testid="preview-frame"]');
  await expect(iframe).toHaveAttribute('sandbox', /allow-scripts/);
  const frameUrl = await iframe.evaluate((el) => {
    try { return (el as HTMLIFrameElement).contentWindow!.location.href; } catch { return 'cross-origin'; }
  });
  expect(frameUrl, 'the workspace cannot read the preview either').toBe('cross-origin');

  // Opened as a tab: the same attempts, the same result.
  const [tab] = await Promise.all([
    context.waitForEvent('page'),
    page.getByTestId('preview-open').click(),
  ]);
  await tab.waitForLoadState();
  expect(new URL(tab.url()).hostname).toBe(`${project}.preview.localhost`);
  await expect(tab.locator('#attack-report')).toBeAttached({ timeout: 60_000 });
  expectAllBlocked(await tab.locator('#attack-report').textContent() ?? '{}');

  // Nothing was minted, and the session still works.
  const tokensAfter = (await (await page.request.get('/api/auth/tokens')).json()).data.length;
  expect(tokensAfter).toBe(tokensBefore);
  expect((await page.request.get(`/api/projects/${project}`)).status()).toBe(200);

  // Signed out (a fresh browser), the preview host is a plain 404.
  const stranger = await page.context().browser()!.newContext();
  const response = await (await stranger.newPage()).goto(tab.url());
  expect(response?.status()).toBe(404);
  await stranger.close();
});
