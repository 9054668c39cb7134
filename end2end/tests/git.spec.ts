import { test, expect } from '@playwright/test';
import { createProject, hydrated, putFile, signUpByApi, storedFile, uniqueName } from './helpers';

// Take it anywhere (issue 16), in the browser: a project's export imported
// from the dashboard comes back as the same files, its history shows the
// import commit and the clone command, a remote that is not https is
// refused with the reason, and the account page keeps git credentials.

test('import an export from the dashboard, see its history, refuse a file remote, keep credentials', async ({ page }) => {
  await signUpByApi(page, uniqueName('gitter'));
  const original = await createProject(page, 'Round Trip');
  const files: Record<string, string> = {
    'src/App.tsx': 'export default function App() {\n  return <h1>Round trip</h1>;\n}\n',
    'README.md': '# Round trip\n\nExported, then imported.\n',
  };
  for (const [path, content] of Object.entries(files)) await putFile(page, original, path, content);
  const exported = await page.request.get(`/api/projects/${original}/export.zip`);
  expect(exported.status()).toBe(200);

  await page.goto('/dashboard');
  await hydrated(page);
  const importZip = page.getByTestId('import-zip');
  await importZip.locator('input[type="file"]').setInputFiles({
    name: 'round-trip.zip',
    mimeType: 'application/zip',
    buffer: await exported.body(),
  });
  await importZip.getByRole('button', { name: 'Import zip' }).click();
  await expect(page).toHaveURL(/\/project\/[0-9a-f-]{36}$/, { timeout: 30_000 });
  const imported = page.url().split('/').pop()!;
  expect(imported).not.toBe(original);
  for (const [path, content] of Object.entries(files)) {
    expect((await storedFile(page, imported, path))?.content).toBe(content);
  }

  // Its history: the import commit, and how to clone it.
  await hydrated(page);
  await page.getByTestId('tab-checkpoints').click();
  await page.getByTestId('view-history').click();
  await expect(page.getByTestId('commit').first()).toBeVisible();
  await expect(page.getByTestId('commit-message').last()).toContainText('Import');
  await expect(page.getByTestId('clone-command')).toHaveValue(new RegExp(`^git clone http://.+/git/${imported}\.git$`));

  // A remote on the server's own disk is refused, with the reason.
  await page.getByTestId('remote-url').fill('file:///etc');
  await page.getByTestId('remote-save').click();
  await expect(page.getByTestId('remote-message').or(page.getByTestId('remote').getByRole('alert'))).toContainText(/https/i);
  await expect(page.getByTestId('remote-state')).toHaveCount(0);

  // The account page keeps git credentials (the token is never shown back).
  await page.goto('/account');
  await hydrated(page);
  await expect(page.getByTestId('git-credentials')).toBeVisible();
});
