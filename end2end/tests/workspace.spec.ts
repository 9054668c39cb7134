import { test, expect, type Page } from '@playwright/test';
import { createProject, hydrated, putFile, register, uniqueName } from './helpers';

// The whole flow on the offline generator and the process sandbox: the
// server runs a real `npm install` for the generated app, so the first
// preview can take minutes on a busy machine.
const FIRST_PREVIEW = 240_000;
const RUN_DONE = 300_000;

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const shot = (page: Page, name: string) =>
  page.screenshot({ path: `screenshots/${name}.png` });

/** The editor's text (Monaco, through the page's bridge). */
const editorText = (page: Page) =>
  page.evaluate(() => (window as any).minicodeEditor?.getValue() ?? '');

const treeFile = (page: Page, path: string) =>
  page.locator(`[data-testid="tree-file"][data-path="${path}"]`);

async function openFile(page: Page, path: string) {
  await treeFile(page, path).click();
  await expect(page.getByTestId('open-file')).toHaveText(path);
}

async function filePaths(page: Page, project: string): Promise<string[]> {
  const res = await page.request.get(`/api/projects/${project}/files`);
  expect(res.ok()).toBeTruthy();
  return ((await res.json()).data as { path: string }[]).map((f) => f.path).sort();
}

async function fileText(page: Page, project: string, path: string): Promise<string> {
  const res = await page.request.get(`/api/projects/${project}/files/${path}`);
  expect(res.ok()).toBeTruthy();
  return (await res.json()).data.content as string;
}

/** The generated app's visible title: the first `<h1>` in its source files. */
async function findTitle(page: Page, project: string): Promise<{ path: string; title: string }> {
  for (const path of await filePaths(page, project)) {
    if (!/\.(tsx|jsx)$/.test(path)) continue;
    const match = (await fileText(page, project, path)).match(/<h1[^>]*>\s*([^<{]+?)\s*<\/h1>/);
    if (match) return { path, title: match[1] };
  }
  throw new Error('no <h1> title in the generated app');
}

test('build from a prompt, watch it stream, chat, undo, edit by hand; others see nothing', async ({ page, browser }) => {
  test.setTimeout(900_000);
  // A WASM panic, a failed hydration or a broken Monaco worker fails the test.
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await register(page, uniqueName('builder'));
  await hydrated(page);

  // Start from a prompt on the dashboard: the workspace opens with the run going.
  await page.getByTestId('start-prompt').fill('A personal dashboard with a todo list and notes');
  await page.getByTestId('start-build').click();
  await expect(page).toHaveURL(/\/project\/[0-9a-f-]{36}$/);
  const project = page.url().split('/').pop()!;
  await hydrated(page);
  await expect(page.getByTestId('conn-status')).toHaveAttribute('data-state', 'live');

  // Reload mid-generation: the replay rebuilds the page and the run goes on.
  await expect(page.getByTestId('tree-file').first()).toBeVisible({ timeout: 60_000 });
  await shot(page, 'streaming');
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('conn-status')).toHaveAttribute('data-state', 'live');

  // Phases complete, then the whole run.
  await expect(page.getByTestId('agent-state')).toHaveAttribute('data-state', 'complete', { timeout: RUN_DONE });
  const phases = page.getByTestId('phase');
  expect(await phases.count()).toBeGreaterThanOrEqual(2);
  for (const phase of await phases.all()) await expect(phase).toHaveAttribute('data-status', 'done');

  // Every stored file is in the tree, nothing more.
  const paths = await filePaths(page, project);
  expect(paths).toContain('package.json');
  await expect(page.getByTestId('tree-file')).toHaveCount(paths.length);
  const shown = await page.getByTestId('tree-file').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
  expect(shown.sort()).toEqual(paths);

  // The files' content is in Monaco.
  const { path: titleFile, title } = await findTitle(page, project);
  await openFile(page, titleFile);
  await expect(page.getByTestId('editor')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await expect.poll(() => editorText(page)).toBe(await fileText(page, project, titleFile));

  // The running app shows its title in the preview.
  const preview = page.frameLocator('[data-testid="preview-frame"]');
  await expect(preview.getByText(title).first()).toBeVisible({ timeout: FIRST_PREVIEW });
  await shot(page, 'complete');

  // The editor's diagnostics are real (issue 18): with the dependencies'
  // declarations loaded, an error the user types is reported on its line,
  // and the generated app itself has none in any file.
  await expect.poll(() => page.evaluate(() => (window as any).minicodeEditor.typesLoaded()), { timeout: 60_000 }).toBe(true);
  const errors = () =>
    page.evaluate(() =>
      ((window as any).minicodeEditor.problems() as { path: string; line: number; severity: string; message: string }[])
        .filter((p) => p.severity === 'error'),
    );
  const original = await fileText(page, project, titleFile);
  await page.evaluate(() => {
    const editor = (window as any).monaco.editor.getEditors()[0];
    const model = editor.getModel();
    const end = model.getLineCount();
    editor.executeEdits('e2e', [{ range: { startLineNumber: end, startColumn: 1, endLineNumber: end, endColumn: 1 }, text: "const notANumber: number = 'text';\n" }]);
  });
  await expect.poll(errors, { timeout: 30_000 }).toEqual([
    expect.objectContaining({ path: titleFile, message: expect.stringContaining("not assignable to type 'number'") }),
  ]);
  await page.evaluate(() => (window as any).monaco.editor.getEditors()[0].trigger('e2e', 'undo', null));
  await expect.poll(() => editorText(page)).toBe(original);
  // Autosave may have stored the broken line meanwhile; the undo is saved too.
  await expect.poll(() => fileText(page, project, titleFile), { timeout: 30_000 }).toBe(original);
  await expect(page.getByTestId('save-state')).toHaveText('Saved');
  await expect.poll(errors, { timeout: 30_000 }).toEqual([]);
  const checked = await page.evaluate(() => (window as any).monaco.editor.getModels().map((m: any) => m.uri.path));
  expect(checked).toEqual(expect.arrayContaining(['/src/App.tsx', '/src/main.tsx', '/vite.config.ts']));

  // Device sizes (issue 19): the app sees a phone's viewport, rotated, still
  // after a reload; a custom size; back to fitting the pane.
  const appWidth = async () => {
    const frame = page.frame({ url: /\.preview\./ });
    return frame ? frame.evaluate(() => window.innerWidth).catch(() => -1) : -1;
  };
  await page.getByTestId('preview-device').selectOption('phone');
  await expect.poll(appWidth).toBe(390);
  await expect(page.getByTestId('preview-size')).toContainText('390 × 844');
  await shot(page, 'device-phone');
  await page.getByTestId('preview-rotate').click();
  await expect.poll(appWidth).toBe(844);
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('preview-device')).toHaveValue('phone');
  await expect(page.getByTestId('preview-rotate')).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(appWidth, { timeout: 30_000 }).toBe(844);
  await page.getByTestId('preview-device').selectOption('custom');
  await page.getByTestId('preview-width').fill('500');
  await page.getByTestId('preview-width').press('Enter');
  await expect.poll(appWidth).toBe(500);
  await expect(page.getByTestId('preview-size')).toContainText('500 × 390');
  await page.getByTestId('preview-device').selectOption('fit');
  await expect(page.getByTestId('preview-rotate')).toBeDisabled();
  const paneWidth = await page.locator('.preview-frame-wrap').evaluate((el) => el.clientWidth);
  await expect.poll(appWidth).toBe(paneWidth);
  await expect(preview.getByText(title).first()).toBeVisible();
  // Remembered per project: another project starts fitting the pane.
  await page.getByTestId('preview-device').selectOption('tablet');
  const otherProject = await createProject(page, uniqueName('sizes'));
  const second = await page.context().newPage();
  await second.goto(`/project/${otherProject}`);
  await hydrated(second);
  await expect(second.getByTestId('preview-device')).toHaveValue('fit');
  await second.close();
  await page.getByTestId('preview-device').selectOption('fit');
  await openFile(page, titleFile);

  // Select mode (issue 19): a click in the app picks its title instead of
  // reaching the app; the panel names the element and the line it is
  // written on; Open in editor goes there; Ask in chat fills the prompt.
  const titleLine = (await fileText(page, project, titleFile)).split('\n').findIndex((l) => l.includes('<h1')) + 1;
  expect(titleLine).toBeGreaterThan(0);
  await page.getByTestId('preview-select').click();
  await expect(page.getByTestId('preview-select')).toHaveAttribute('aria-pressed', 'true');
  // The page in the frame hears it by postMessage: wait until it selects.
  const frameCursor = async () => {
    const frame = page.frame({ url: /\.preview\./ });
    return frame ? frame.evaluate(() => document.documentElement.style.cursor).catch(() => '') : '';
  };
  await expect.poll(frameCursor).toBe('crosshair');
  await preview.getByText(title).first().click();
  const picked = page.getByTestId('picked');
  await expect(picked.getByTestId('picked-tag')).toHaveText('<h1>');
  await expect(picked.getByTestId('picked-source')).toHaveText(new RegExp(`^${escapeRe(titleFile)}:${titleLine}:\\d+$`));
  await expect(page.getByTestId('preview-select')).toHaveAttribute('aria-pressed', 'false');
  await picked.getByTestId('picked-open').click();
  await expect(page.getByTestId('open-file')).toHaveText(titleFile);
  await page.getByTestId('tab-checkpoints').click();
  await picked.getByTestId('picked-ask').click();
  await expect(page.getByTestId('prompt')).toBeVisible();
  const place = `${escapeRe(titleFile)}:${titleLine}:\\d+`;
  await expect(page.getByTestId('prompt')).toHaveValue(new RegExp(`^About the <h1> \u201c${escapeRe(title)}\u201d in ${place}: $`));
  await page.getByTestId('prompt').fill('');
  // A direct edit: the colour is written into the source, the preview
  // follows, and the edit's own restore point takes it back.
  await picked.getByTestId('picked-edit').locator('summary').click();
  await picked.getByTestId('edit-color').fill('#ff0000');
  await picked.getByTestId('edit-color-apply').click();
  await expect(picked.getByTestId('edit-result')).toContainText(`Written to ${titleFile}`);
  // The preview reloads when its dev server restarts (after a restore, say):
  // a read that meets the reload is no value yet, and the poll goes on.
  const titleColor = () =>
    preview.getByText(title).first().evaluate((el) => getComputedStyle(el).color).catch(() => null);
  await expect.poll(titleColor, { timeout: 30_000 }).toBe('rgb(255, 0, 0)');
  expect(await fileText(page, project, titleFile)).toContain('style={{ color: "#ff0000" }}');
  await page.getByTestId('tab-checkpoints').click();
  const editPoint = page.getByTestId('checkpoint').first();
  await expect(editPoint.getByTestId('checkpoint-message')).toHaveText('Before: change the <h1> color to #ff0000');
  await editPoint.getByTestId('checkpoint-restore').click();
  await editPoint.getByTestId('confirm-restore').click();
  await expect.poll(titleColor, { timeout: 30_000 }).not.toBe('rgb(255, 0, 0)');
  expect(await fileText(page, project, titleFile)).not.toContain('#ff0000');
  await page.getByTestId('tab-chat').click();
  await picked.getByTestId('picked-close').click();
  await expect(picked).toHaveCount(0);

  // Ask for a change in chat: the reply streams, the editor and preview follow.
  await page.getByTestId('prompt').fill('change the title to Hello Playwright');
  await page.getByTestId('prompt').press('Control+Enter');
  await expect(page.getByTestId('user-message').last()).toContainText('Hello Playwright');
  await expect(page.getByTestId('assistant-message').last()).toHaveAttribute('data-done', 'true', { timeout: 120_000 });
  await expect(page.getByTestId('tool-row').first()).toBeVisible();
  await expect.poll(() => editorText(page), { timeout: 30_000 }).toContain('Hello Playwright');
  await expect(preview.getByText('Hello Playwright').first()).toBeVisible({ timeout: 60_000 });
  await shot(page, 'chat-change');

  // The newest checkpoint is the turn's own undo point, named after it and
  // showing what it changed; restoring it undoes the change.
  await page.getByTestId('tab-checkpoints').click();
  const before = page.getByTestId('checkpoint').first();
  await expect(before).toHaveAttribute('data-kind', 'chat');
  await expect(before.getByTestId('checkpoint-message')).toHaveText('Before: change the title to Hello Playwright');
  await expect(before.getByTestId('checkpoint-files')).toContainText('undoes this turn');
  // A phase checkpoint's changes are the files that phase wrote.
  const phase = page.locator('[data-testid="checkpoint"][data-kind="phase"]').first();
  await expect(phase.getByTestId('checkpoint-message')).toHaveText(/^After phase \d+: /);
  await phase.getByTestId('checkpoint-diff').click();
  await expect(phase.getByTestId('file-diff').first()).toBeVisible();
  // At a laptop's and a desktop's width the confirm button is on screen and
  // the panel never scrolls sideways (a long diff scrolls in its own box).
  const panel = page.getByTestId('checkpoints');
  const noSidewaysScroll = async () => {
    const box = await panel.evaluate((el) => {
      const scroller = el.closest('.tab-body') ?? el;
      return { scroll: scroller.scrollWidth, client: scroller.clientWidth, left: scroller.scrollLeft };
    });
    expect(box.left).toBe(0);
    expect(box.scroll).toBeLessThanOrEqual(box.client + 1);
  };
  for (const width of [1440, 1024]) {
    await page.setViewportSize({ width, height: 900 });
    await before.getByTestId('checkpoint-restore').click();
    const confirm = before.getByTestId('confirm-restore');
    await expect(confirm).toBeInViewport();
    await noSidewaysScroll();
    if (width === 1440) await before.getByRole('button', { name: 'Keep' }).click();
  }
  await before.getByTestId('confirm-restore').click();
  await expect(page.getByTestId('restore-message')).toContainText(/Restored \d+ files?\./);
  await noSidewaysScroll();
  await page.setViewportSize({ width: 1280, height: 720 });
  const restoredPoint = page.getByTestId('checkpoint').first();
  await expect(restoredPoint.getByTestId('checkpoint-message')).toHaveText('Restored to: Before: change the title to Hello Playwright');
  await expect.poll(() => editorText(page), { timeout: 30_000 }).not.toContain('Hello Playwright');
  await expect.poll(() => editorText(page)).toContain(title);
  await expect(preview.getByText(title).first()).toBeVisible({ timeout: 60_000 });
  await shot(page, 'checkpoints');

  // Edit by hand in Monaco and save with Ctrl+S: the preview shows it.
  await page.getByTestId('tab-chat').click();
  await openFile(page, titleFile);
  await page.evaluate((old) => {
    // A real edit through Monaco's API, as typing would make it.
    const editor = (window as any).monaco.editor.getEditors()[0];
    const model = editor.getModel();
    const match = model.findMatches(old, false, false, true, null, false)[0];
    editor.executeEdits('e2e', [{ range: match.range, text: 'Edited By Hand' }]);
    editor.focus();
  }, title);
  await expect(page.getByTestId('save-state')).toHaveText('Unsaved');
  await page.keyboard.press('Control+s');
  await expect(page.getByTestId('save-state')).toHaveText('Saved');
  await expect.poll(() => fileText(page, project, titleFile)).toContain('Edited By Hand');
  await expect(preview.getByText('Edited By Hand').first()).toBeVisible({ timeout: 60_000 });
  await shot(page, 'hand-edit');
  expect(pageErrors).toEqual([]);

  // The app's own runtime errors reach the console (issue 19): thrown in
  // the preview by one of the app's files, shown with its place, a repeat
  // counted on the same row; "Fix this error" asks the agent with it.
  // Types first: the served code is shorter than the file, so the place
  // shown (line 6) is only right if it is mapped back through the source map.
  await putFile(page, project, 'src/boom.ts', "type Boom = {\n  reason: string;\n};\n\nexport function boom(): Boom {\n  throw new Error('Boom from the app');\n}\n");
  const appFrame = () => page.frame({ url: /\.preview\./ })!;
  await appFrame().evaluate(async () => {
    const m = await import(/* @vite-ignore */ '/src/boom.ts');
    setTimeout(m.boom);
    setTimeout(m.boom);
  });
  const appError = page.getByTestId('app-error');
  await expect(appError).toHaveCount(1);
  await expect(appError).toContainText('Error: Boom from the app');
  await expect(appError.getByTestId('app-error-source')).toHaveText(/^src\/boom\.ts:6:\d+$/);
  await expect(appError.getByTestId('app-error-count')).toHaveText('×2');
  await appError.getByTestId('app-error-fix').click();
  await expect(page.getByTestId('user-message').last()).toContainText('Fix this error the app shows in the browser');
  await expect(page.getByTestId('user-message').last()).toContainText('Boom from the app');
  await expect(page.getByTestId('assistant-message').last()).toHaveAttribute('data-done', 'true', { timeout: 120_000 });
  await appError.getByTestId('app-error-dismiss').click();
  await expect(page.getByTestId('app-errors')).toHaveCount(0);

  // "Fix automatically": a new error goes to the agent by itself, once;
  // when the same error comes back it is marked, not sent again.
  const fixMessages = page.getByTestId('user-message').filter({ hasText: 'Fix this error the app shows in the browser' });
  await expect(fixMessages).toHaveCount(1);
  await page.getByTestId('autofix').check();
  const throwAgain = () =>
    appFrame().evaluate(async () => {
      const m = await import(/* @vite-ignore */ '/src/boom.ts');
      setTimeout(m.boom);
    });
  await throwAgain();
  await expect(appError).toHaveAttribute('data-auto', 'sent', { timeout: 15_000 });
  await expect(fixMessages).toHaveCount(2);
  await expect(page.getByTestId('assistant-message').last()).toHaveAttribute('data-done', 'true', { timeout: 120_000 });
  await throwAgain();
  await expect(appError).toHaveAttribute('data-auto', 'cameback');
  await expect(appError.getByTestId('app-error-note')).toContainText('not retried automatically');
  await page.waitForTimeout(3_000);
  await expect(fixMessages).toHaveCount(2);
  // Playwright sees the preview's errors too: only those thrown on purpose.
  expect(new Set(pageErrors)).toEqual(new Set(['Boom from the app']));
  // The switch is remembered for the project.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('autofix')).toBeChecked();

  // Someone else gets a 404 for both the page and the preview.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await register(otherPage, uniqueName('stranger'));
  const pageResponse = await otherPage.goto(`/project/${project}`);
  expect(pageResponse?.status()).toBe(404);
  const previewResponse = await otherPage.request.get(`/preview/${project}/`);
  expect(previewResponse.status()).toBe(404);
  await other.close();
});
