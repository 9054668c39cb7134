import { test, expect } from '@playwright/test';
import { hydrated, login, logout, register, uniqueName } from './helpers';

// @smoke: scripts/test also runs this one against the site cargo-leptos built.
test('register, log out, log in, and manage projects', { tag: '@smoke' }, async ({ page }) => {
  const user = uniqueName('ada');
  await register(page, user);
  await expect(page.getByTestId('empty-projects')).toBeVisible();

  await logout(page);
  await expect(page.getByTestId('login-form')).toBeVisible();
  // Signed out, the dashboard sends you home.
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/$/);

  await login(page, user);
  await hydrated(page);

  // Create a project; it shows up on the dashboard.
  const create = page.getByTestId('create-project');
  await create.getByLabel('Name').fill('Recipe Box');
  await create.getByLabel('Description').fill('Save recipes and search them by ingredient');
  await create.getByRole('button', { name: 'Create project' }).click();
  const card = page.getByTestId('project-card').filter({ hasText: 'Recipe Box' });
  await expect(card).toBeVisible();
  await expect(card).toContainText('Save recipes and search them by ingredient');

  // Rename it.
  await card.getByTestId('rename').click();
  await page.getByTestId('rename-input').fill('Recipe Vault');
  await page.getByRole('button', { name: 'Save' }).click();
  const renamed = page.getByTestId('project-card').filter({ hasText: 'Recipe Vault' });
  await expect(renamed).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('project-card').filter({ hasText: 'Recipe Vault' })).toBeVisible();

  // Open it.
  await hydrated(page);
  await page.getByRole('link', { name: 'Recipe Vault' }).click();
  await expect(page.getByTestId('project-title')).toHaveText('Recipe Vault');
  await page.goBack();
  await hydrated(page);

  // Delete it, after confirming.
  const again = page.getByTestId('project-card').filter({ hasText: 'Recipe Vault' });
  await again.getByTestId('delete').click();
  await again.getByTestId('confirm-delete').click();
  await expect(page.getByTestId('empty-projects')).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('empty-projects')).toBeVisible();
});

test('a second user cannot open the first user\'s project page', async ({ browser }) => {
  const owner = await browser.newContext();
  const ownerPage = await owner.newPage();
  await register(ownerPage, uniqueName('owner'));
  await hydrated(ownerPage);
  const create = ownerPage.getByTestId('create-project');
  await create.getByLabel('Name').fill('Private Garden');
  await create.getByRole('button', { name: 'Create project' }).click();
  await ownerPage.getByRole('link', { name: 'Private Garden' }).click();
  await expect(ownerPage.getByTestId('project-title')).toHaveText('Private Garden');
  const projectUrl = ownerPage.url();

  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await register(otherPage, uniqueName('other'));
  const response = await otherPage.goto(projectUrl);
  expect(response?.status()).toBe(404);
  await expect(otherPage.getByText('Nothing here')).toBeVisible();
  await expect(otherPage.getByText('Private Garden')).toHaveCount(0);

  await owner.close();
  await other.close();
});
