import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createProject, hydrated, putFile, signUpByApi, uniqueName } from './helpers';

// Publish (issue 16): the app's production build served at a site host of
// its own (`<slug>.apps.localhost`), from the Publish tab — the page, a deep
// link, the assets' cache headers; a redeploy and a rollback; a failed build
// that keeps the live site and offers "Fix this error"; a private site only
// its owner opens; unpublish. minicode's session cookie never reaches a site.

const FIXTURE = path.join(__dirname, '../../server/tests/fixtures/vite-app');
const FILES = ['package.json', 'index.html', 'vite.config.ts', 'tsconfig.json', 'src/main.tsx', 'src/App.tsx'];
const BUILD = 180_000;

async function publishNow(page: Page, expected: RegExp) {
  // A build that fails fails in well under a second, and a poll for the
  // building note can come after it is gone (CI saw that on a busy machine):
  // a MutationObserver, which runs right after each change of the page,
  // records whether the note was ever shown.
  await page.evaluate(() => {
    const w = window as any;
    w.__publishObserver?.disconnect();
    w.__sawBuilding = false;
    const building = '[data-testid="publish-building"]';
    // The added nodes themselves: the note may be gone again by the time
    // the observer runs.
    w.__publishObserver = new MutationObserver((records) => {
      for (const record of records)
        for (const node of record.addedNodes)
          if (node instanceof Element && (node.matches(building) || node.querySelector(building))) w.__sawBuilding = true;
    });
    w.__publishObserver.observe(document.body, { childList: true, subtree: true });
  });
  await page.getByTestId('publish-button').click();
  const result = page.getByTestId('publish-note').or(page.getByTestId('publish-error'));
  await expect(result).toBeVisible({ timeout: BUILD });
  await expect(result).toContainText(expected);
  expect(await page.evaluate(() => (window as any).__sawBuilding)).toBe(true);
}

test('publish, open the site, redeploy, roll back, fail safely, make it private, unpublish', async ({ page, browser }) => {
  await signUpByApi(page, uniqueName('publisher'));
  const project = await createProject(page, 'Fixture Site');
  for (const file of FILES) await putFile(page, project, file, fs.readFileSync(path.join(FIXTURE, file), 'utf8'));
  await page.goto(`/project/${project}`);
  await hydrated(page);
  await page.getByTestId('tab-publish').click();
  await expect(page.getByTestId('no-deployments')).toBeVisible();

  // The first publish: a live, unlisted site.
  await publishNow(page, /Deployment 1 is live\./);
  await expect(page.getByTestId('site-state')).toHaveText('Live');
  await expect(page.getByTestId('deployment')).toHaveCount(1);
  await expect(page.getByTestId('deployment').first()).toHaveAttribute('data-live', 'true');
  const siteUrl = (await page.getByTestId('site-url').getAttribute('data-url'))!;
  expect(siteUrl).toMatch(/^http:\/\/[a-z2-7]{26}\.apps\.localhost:\d+$/);
  await page.screenshot({ path: 'screenshots/publish-live.png' });

  // Anyone with the link sees the app; the site gets none of minicode's cookies.
  const visitor = await browser.newContext();
  const site = await visitor.newPage();
  const cookies: string[] = [];
  const caching = new Map<string, string>();
  site.on('request', async (r) => {
    const cookie = (await r.allHeaders())['cookie'];
    if (cookie) cookies.push(cookie);
  });
  site.on('response', (r) => caching.set(new URL(r.url()).pathname, r.headers()['cache-control'] ?? ''));
  // The visitor is the owner's own browser too: it holds the session cookie.
  await visitor.addCookies(await page.context().cookies());
  expect((await visitor.cookies()).some((c) => c.name.includes('minicode_session'))).toBe(true);
  await site.goto(`${siteUrl}/`);
  await expect(site.getByText('Hello from the fixture app')).toBeVisible();
  expect(caching.get('/')).toBe('no-cache');
  const assets = [...caching.entries()].filter(([p]) => p.startsWith('/assets/'));
  expect(assets.length).toBeGreaterThan(0);
  for (const [, cache] of assets) expect(cache).toBe('public, max-age=31536000, immutable');
  // A deep link is the app's route.
  const deep = await site.goto(`${siteUrl}/habits/42?tab=week`);
  expect(deep?.status()).toBe(200);
  await expect(site.getByText('Hello from the fixture app')).toBeVisible();
  expect(cookies.filter((c) => c.includes('minicode_session'))).toEqual([]);

  // A redeploy serves the change; "Make live" on #1 rolls back.
  await putFile(page, project, 'src/App.tsx', 'export default function App() {\n  return <h1>Version two</h1>;\n}\n');
  await publishNow(page, /Deployment 2 is live\./);
  await site.goto(`${siteUrl}/`);
  await expect(site.getByText('Version two')).toBeVisible();
  await page.locator('[data-testid="deployment"][data-number="1"]').getByTestId('deployment-activate').click();
  await expect(page.getByTestId('publish-note')).toHaveText('Deployment 1 is live again.');
  await site.reload();
  await expect(site.getByText('Hello from the fixture app')).toBeVisible();

  // A build that fails shows its log, keeps the live site, and offers the fix.
  await putFile(page, project, 'src/App.tsx', 'export default function App( {\n  return <h1>Broken</h1>;\n}\n');
  await publishNow(page, /Deployment 3 failed/);
  await expect(page.getByTestId('publish-error')).toContainText('App.tsx');
  await expect(page.getByTestId('publish-fix')).toBeEnabled();
  // The console lists it with the app's own errors: the same Fix this error and Fix automatically.
  const buildError = page.locator('[data-testid="app-error"][data-kind="build"]');
  await expect(buildError).toHaveCount(1);
  await expect(buildError.getByTestId('app-error-source')).toHaveText(/^src\/App\.tsx:\d+:\d+$/);
  await expect(page.locator('[data-testid="deployment"][data-number="3"]')).toHaveAttribute('data-status', 'failed');
  await site.reload();
  await expect(site.getByText('Hello from the fixture app')).toBeVisible();
  await page.getByTestId('tab-chat').click();
  await expect(page.locator('[data-testid="error-event"][data-code="BUILD_FAILED"]')).toBeVisible();
  await page.getByTestId('tab-publish').click();

  // Private: a new address that only the owner opens (through minicode).
  await page.getByTestId('site-visibility').selectOption('private');
  await expect(page.getByTestId('publish-note')).toContainText('The site is private now');
  await expect(page.getByTestId('site-url')).not.toHaveAttribute('data-url', siteUrl);
  const privateUrl = (await page.getByTestId('site-url').getAttribute('data-url'))!;
  expect(privateUrl).toMatch(/^http:\/\/fixture-site-[a-z2-7]{4}\.apps\.localhost:\d+$/);
  const stranger = await browser.newContext();
  const strangerPage = await stranger.newPage();
  expect((await strangerPage.goto(`${privateUrl}/`))?.status()).toBe(404);
  expect((await strangerPage.goto(`${siteUrl}/`))?.status()).toBe(404);
  const [opened] = await Promise.all([page.waitForEvent('popup'), page.getByTestId('site-url').click()]);
  await expect(opened.getByText('Hello from the fixture app')).toBeVisible();
  expect(new URL(opened.url()).origin).toBe(privateUrl);

  // Unpublished: not found, the owner included.
  await page.getByTestId('unpublish').click();
  await page.getByTestId('unpublish-confirm').click();
  await expect(page.getByTestId('site-state')).toHaveText('Unpublished');
  expect((await opened.reload())?.status()).toBe(404);
  await page.screenshot({ path: 'screenshots/publish-unpublished.png' });
  await visitor.close();
  await stranger.close();
});
