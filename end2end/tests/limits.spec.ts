import { test, expect, type Page } from '@playwright/test';
import { apiPost, createProject, hydrated, signUpByApi, uniqueName } from './helpers';

// Issue 18, item 10: text over a limit is never cut to fit. The box shows a
// counter near the limit and, over it, says so and sends nothing.

/** Every user message stored in any chat of the project. */
async function userMessages(page: Page, project: string): Promise<number> {
  const chats = await page.request.get(`/api/projects/${project}/chats`);
  expect(chats.ok()).toBeTruthy();
  let count = 0;
  for (const chat of (await chats.json()).data as { id: string }[]) {
    const res = await page.request.get(`/api/chats/${chat.id}/messages?limit=100`);
    expect(res.ok()).toBeTruthy();
    count += ((await res.json()).data as { role: string }[]).filter((m) => m.role === 'user').length;
  }
  return count;
}

test('a 4,100-character prompt is refused whole, with a counter before the limit', async ({ page }) => {
  await signUpByApi(page, uniqueName('prompter'));
  await page.goto('/dashboard');
  await hydrated(page);
  const box = page.getByTestId('start-prompt');
  const note = page.getByTestId('start-prompt-length');

  await box.fill('x'.repeat(3_950));
  await expect(note).toHaveText('3,950 / 4,000');
  await expect(page.getByTestId('start-build')).toBeEnabled();

  await box.fill('y'.repeat(4_100));
  await expect(note).toHaveText('Your description is 4,100 characters; the limit is 4,000.');
  await expect(note).toHaveAttribute('role', 'alert');
  // Nothing was cut, and nothing can be sent.
  expect((await box.inputValue()).length).toBe(4_100);
  await expect(page.getByTestId('start-build')).toBeDisabled();
  await box.press('Control+Enter');
  await page.waitForTimeout(500);
  await expect(page).toHaveURL(/\/dashboard$/);
  const projects = await page.request.get('/api/projects');
  expect((await projects.json()).total).toBe(0);

  // Short enough again: the note goes away.
  await box.fill('A todo list');
  await expect(note).toHaveCount(0);
});

test('a 32,100-character chat message is refused whole and nothing is sent', async ({ page }) => {
  await signUpByApi(page, uniqueName('chatter'));
  const project = await createProject(page, 'Long chat');
  // A run that is stopped at once: the prompt box is then the chat's.
  const started = await apiPost(page, `/api/projects/${project}/generate`, { description: 'A todo list' });
  expect(started.status(), await started.text()).toBe(202);
  await apiPost(page, `/api/projects/${project}/stop`);

  await page.goto(`/project/${project}`);
  await hydrated(page);
  const box = page.getByTestId('prompt');
  await expect(box).toHaveAttribute('placeholder', 'Ask for a change…');
  await expect(page.getByTestId('send')).toHaveText('Send');
  const note = page.getByTestId('prompt-length');
  const before = await userMessages(page, project);

  await box.fill('x'.repeat(25_600));
  await expect(note).toHaveText('25,600 / 32,000');

  await box.fill('z'.repeat(32_100));
  await expect(note).toHaveText('Your message is 32,100 characters; the limit is 32,000.');
  expect((await box.inputValue()).length).toBe(32_100);
  await expect(page.getByTestId('send')).toBeDisabled();
  await box.press('Control+Enter');
  await page.waitForTimeout(500);
  // Only the build's own prompt is in the conversation.
  await expect(page.getByTestId('user-message')).toHaveCount(1);
  await expect(page.getByTestId('user-message')).toHaveText('A todo list');
  expect(await userMessages(page, project)).toBe(before);
  // The text stays in the box for the user to shorten.
  expect((await box.inputValue()).length).toBe(32_100);
});
