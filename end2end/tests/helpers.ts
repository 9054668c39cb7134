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
