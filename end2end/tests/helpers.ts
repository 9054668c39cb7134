import { expect, type Page } from '@playwright/test';

/** A username unique to this run, so tests never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

/** Waits until the WASM has hydrated the page (event handlers attached). */
export async function hydrated(page: Page): Promise<void> {
  await page.waitForFunction(() => (window as any).__minicodeHydrated === true, null, { timeout: 30_000 });
}

export async function register(page: Page, username: string, password = 'password123'): Promise<void> {
  await page.goto('/');
  await hydrated(page);
  await page.getByTestId('tab-register').click();
  const form = page.getByTestId('register-form');
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('current-user')).toHaveText(username);
}

export async function login(page: Page, username: string, password = 'password123'): Promise<void> {
  await page.goto('/');
  await hydrated(page);
  const form = page.getByTestId('login-form');
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
}

export async function logout(page: Page): Promise<void> {
  await page.getByTestId('logout').click();
  await expect(page).toHaveURL(/\/$/);
}

// --- REST shortcuts -------------------------------------------------------
// Writes need an `Origin` (the server's CSRF guard); `page.request` shares
// the page's cookies, so these act as the signed-in user.

// The server under test (the same as `baseURL` in playwright.config.ts).
const ORIGIN = `http://127.0.0.1:${Number(process.env.E2E_PORT ?? 3100)}`;


/** Signs up through the API (much faster than the form); the page's context gets the cookie. */
export async function signUpByApi(page: Page, username: string, password = 'password123'): Promise<void> {
  const res = await page.request.post('/api/auth/register', {
    data: { username, password },
    headers: { Origin: ORIGIN },
  });
  expect(res.status(), await res.text()).toBe(201);
}

export async function createProject(page: Page, name: string): Promise<string> {
  const res = await page.request.post('/api/projects', { data: { name }, headers: { Origin: ORIGIN } });
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()).data.id as string;
}

/** PUT a file through the API, as another client would; returns its new version. */
export async function putFile(page: Page, project: string, path: string, content: string): Promise<number> {
  const res = await page.request.put(`/api/projects/${project}/files/${path}`, {
    data: { content },
    headers: { Origin: ORIGIN },
  });
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()).data.version as number;
}

export async function apiPost(page: Page, url: string, data: unknown = {}) {
  return page.request.post(url, { data, headers: { Origin: ORIGIN } });
}

/** The stored file, or null when there is none. */
export async function storedFile(page: Page, project: string, path: string): Promise<{ content: string; version: number } | null> {
  const res = await page.request.get(`/api/projects/${project}/files/${path}`);
  if (res.status() === 404) return null;
  expect(res.ok()).toBeTruthy();
  const data = (await res.json()).data;
  return { content: data.content, version: data.version };
}

export async function storedPaths(page: Page, project: string): Promise<string[]> {
  const res = await page.request.get(`/api/projects/${project}/files`);
  expect(res.ok()).toBeTruthy();
  return ((await res.json()).data as { path: string }[]).map((f) => f.path).sort();
}
