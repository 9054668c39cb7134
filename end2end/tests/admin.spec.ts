import { test, expect, type Browser, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hydrated } from './helpers';

// A server run the way an operator gets it by default: registration by
// invitation. Its first account becomes the admin, who invites a second
// user, disables and enables them; the second user manages their own
// account (tokens, password, sessions) and finally deletes it. This server
// is started here, on its own port and data, so the first account is ours.

const ROOT = path.join(__dirname, '../..');
const PORT = Number(process.env.E2E_PORT ?? 3100) + 90;
const BASE = `http://127.0.0.1:${PORT}`;
const DATA = path.join(ROOT, 'target/e2e-admin-data');
const BIN = process.env.MINICODE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'debug/minicode');

let server: ChildProcess;

test.beforeAll(async () => {
  fs.rmSync(DATA, { recursive: true, force: true });
  server = spawn(BIN, [
    '--addr', `127.0.0.1:${PORT}`,
    '--data-dir', DATA,
    '--database-url', `sqlite://${DATA}/minicode.db?mode=rwc`,
    '--auth-rate-per-minute', '1000',
    '--registration', 'invite',
    '--log', 'warn',
  ], { cwd: ROOT, env: { ...process.env, LEPTOS_SITE_ROOT: 'target/site', LEPTOS_ENV: 'PROD' }, stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${BASE}/health`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the invite-only server did not start');
});

test.afterAll(async () => {
  server?.kill('SIGTERM');
});

async function fresh(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ baseURL: BASE });
  return context.newPage();
}

async function registerForm(page: Page, username: string, password = 'password123') {
  const form = page.getByTestId('register-form');
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Create account' }).click();
}

test('an invite-only server: the admin invites, disables and enables; a user runs their own account', async ({ browser }) => {
  // The first account becomes the admin.
  const admin = await fresh(browser);
  await admin.goto('/');
  await hydrated(admin);
  await admin.getByTestId('tab-register').click();
  await expect(admin.getByTestId('registration-note')).toContainText('first');
  await registerForm(admin, 'founder');
  await expect(admin).toHaveURL(/\/dashboard$/);
  await admin.getByTestId('to-admin').click();
  await expect(admin.getByTestId('registration-mode')).toContainText('by invitation');

  // Without an invitation a stranger gets a clear answer and no account.
  const stranger = await fresh(browser);
  await stranger.goto('/');
  await hydrated(stranger);
  await stranger.getByTestId('tab-register').click();
  await expect(stranger.getByTestId('registration-note')).toContainText('by invitation');
  await registerForm(stranger, 'gatecrasher');
  await expect(stranger.getByRole('alert')).toContainText('invitation');
  await expect(stranger).toHaveURL(/\/$/);

  // The admin creates an invitation; its link opens the sign-up form.
  await hydrated(admin);
  const invites = admin.getByTestId('invites');
  await invites.getByLabel('Who is it for?').fill('Grace');
  await invites.getByRole('button', { name: 'Create invitation' }).click();
  const link = (await admin.getByTestId('invite-link').textContent())!.trim();
  expect(link).toMatch(new RegExp(`^${BASE}/\\?invite=`));

  const grace = await fresh(browser);
  await grace.goto(link);
  await hydrated(grace);
  await expect(grace.getByTestId('invite-note')).toBeVisible();
  await registerForm(grace, 'grace');
  await expect(grace).toHaveURL(/\/dashboard$/);
  await expect(grace.getByTestId('to-admin')).toHaveCount(0);
  const denied = await grace.goto('/admin');
  expect(denied?.status()).toBe(200);
  await expect(grace.getByTestId('not-admin')).toBeVisible();

  // The invitation is used up; the admin sees who used it and disables them.
  await admin.reload();
  await hydrated(admin);
  await expect(admin.getByTestId('invite-list')).toContainText('used by grace');
  const row = admin.getByTestId('user-grace');
  await row.getByTestId('toggle-disabled').click();
  await expect(row).toContainText('disabled');
  await grace.goto('/dashboard');
  await expect(grace).toHaveURL(/\/$/);
  await hydrated(grace);
  const login = grace.getByTestId('login-form');
  await login.getByLabel('Username').fill('grace');
  await login.getByLabel('Password').fill('password123');
  await login.getByRole('button', { name: 'Sign in' }).click();
  await expect(grace.getByRole('alert')).toContainText('disabled');
  await row.getByTestId('toggle-disabled').click();
  await expect(row).toContainText('active');
  await login.getByRole('button', { name: 'Sign in' }).click();
  await expect(grace).toHaveURL(/\/dashboard$/);

  // The admin gives Grace a limit of one project; her second is refused
  // with a sentence that says why, and nothing is created.
  const quota = admin.getByTestId('quota-grace');
  await quota.getByTestId('edit-quota').click();
  const limits = admin.getByTestId('quota-form');
  await limits.getByLabel('Projects').fill('1');
  await limits.getByRole('button', { name: 'Save limits' }).click();
  await expect(quota).toContainText('custom');
  await expect(quota).toContainText('1 projects');
  await hydrated(grace);
  const create = grace.getByTestId('create-project');
  await create.getByLabel('Name').fill('First');
  await create.getByRole('button', { name: 'Create project' }).click();
  await expect(grace.getByTestId('project-card').filter({ hasText: 'First' })).toBeVisible();
  await create.getByLabel('Name').fill('Second');
  await create.getByRole('button', { name: 'Create project' }).click();
  await expect(grace.getByRole('alert')).toContainText('the most you may have');
  await grace.reload();
  await expect(grace.getByTestId('project-card')).toHaveCount(1);

  // Grace's account page: her usage and limits, and a read-only token,
  // shown once, that can only read.
  await hydrated(grace);
  await grace.getByTestId('current-user').click();
  await expect(grace).toHaveURL(/\/account$/);
  await hydrated(grace);
  await expect(grace.locator('[data-testid="usage-limit"][data-name="projects"]')).toContainText('1');
  const tokens = grace.getByTestId('tokens');
  await expect(tokens.getByTestId('no-tokens')).toBeVisible();
  await tokens.getByLabel('Name').fill('reader');
  await tokens.getByLabel('Your password').fill('password123');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  const secret = (await grace.getByTestId('new-token-secret').textContent())!.trim();
  expect(secret).toMatch(/^mc_/);
  await expect(tokens.getByTestId('token-list')).toContainText('read-only');
  const api = await fresh(browser);
  const read = await api.request.get(`${BASE}/api/projects`, { headers: { Authorization: `Bearer ${secret}` } });
  expect(read.status()).toBe(200);
  const write = await api.request.post(`${BASE}/api/projects`, { data: { name: 'nope' }, headers: { Authorization: `Bearer ${secret}` } });
  expect(write.status()).toBe(403);
  expect((await write.json()).code).toBe('FORBIDDEN');

  // A second browser of Grace's; changing the password signs it out.
  const graceElsewhere = await fresh(browser);
  const signIn = await graceElsewhere.request.post(`${BASE}/api/auth/login`, {
    data: { username: 'grace', password: 'password123' }, headers: { Origin: BASE },
  });
  expect(signIn.status()).toBe(200);
  const password = grace.getByTestId('change-password');
  await password.getByLabel('Current password').fill('password123');
  await password.getByLabel('New password', { exact: true }).fill('a-better-password');
  await password.getByLabel('New password again').fill('a-better-password');
  await password.getByRole('button', { name: 'Change password' }).click();
  await expect(password.getByRole('status')).toContainText('Password changed');
  expect((await graceElsewhere.request.get(`${BASE}/api/auth/me`)).status()).toBe(401);
  expect((await grace.request.get(`${BASE}/api/auth/me`)).status()).toBe(200);

  // Deleting the account needs the username typed and the password.
  const danger = grace.getByTestId('delete-account');
  const button = danger.getByRole('button', { name: 'Delete my account' });
  await expect(button).toBeDisabled();
  await danger.getByLabel('Type your username').fill('grace');
  await danger.getByLabel('Your password').fill('password123');
  await button.click();
  await expect(danger.getByRole('alert')).toContainText('password is not right');
  await danger.getByLabel('Your password').fill('a-better-password');
  await button.click();
  await expect(grace).toHaveURL(/\/$/);
  expect((await api.request.get(`${BASE}/api/projects`, { headers: { Authorization: `Bearer ${secret}` } })).status()).toBe(401);
  await admin.reload();
  await expect(admin.getByTestId('user-grace')).toHaveCount(0);
});
