import { test, expect, type Browser, type Locator, type Page } from '@playwright/test';
import { hydrated, login, register, storedFile, uniqueName } from './helpers';
import { png, solidPng, startOwnServer, type OwnServer } from './servers';

// Images in the build prompt and in chat (issue 19): attached on the
// dashboard and in the workspace, shown before and after sending, and seen
// by the offline generator, which takes an image's dominant colour as the
// app's accent. A model that takes no images is named before anything is
// sent: that runs on a server of its own with a text-only model listed.

const RUN_DONE = 300_000;

const shot = (page: Page, name: string) => page.screenshot({ path: `screenshots/${name}.png` });


/** Pastes `bytes` into `target` as a clipboard image, as a screenshot tool would. */
async function pasteImage(target: Locator, name: string, bytes: Buffer) {
  await target.evaluate(
    (el, { name, data }) => {
      const clipboard = new DataTransfer();
      clipboard.items.add(new File([new Uint8Array(data)], name, { type: 'image/png' }));
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: clipboard, bubbles: true, cancelable: true }));
    },
    { name, data: [...bytes] },
  );
}

/** Drags `bytes` in over `target` (the form lights up) and drops them. */
async function dropImage(target: Locator, name: string, bytes: Buffer) {
  const files = await target.page().evaluateHandle(
    ({ name, data }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(data)], name, { type: 'image/png' }));
      return dt;
    },
    { name, data: [...bytes] },
  );
  await target.dispatchEvent('dragenter', { dataTransfer: files });
  await target.dispatchEvent('dragover', { dataTransfer: files });
  await expect(target).toHaveClass(/dropping/);
  await target.dispatchEvent('drop', { dataTransfer: files });
  await expect(target).not.toHaveClass(/dropping/);
}

/** Waits until the image has loaded and gives its natural width. */
async function loadedWidth(image: Locator): Promise<number> {
  await image.scrollIntoViewIfNeeded();
  await expect.poll(() => image.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0)).toBe(true);
  return image.evaluate((el: HTMLImageElement) => el.naturalWidth);
}

const styles = async (page: Page, project: string) => (await storedFile(page, project, 'src/styles.css'))?.content ?? '';

// --- The offline generator sees images ----------------------------------------

test.describe.serial('images on the default server', () => {
  const username = uniqueName('pictures');
  let project = '';

  test('a mock-up attached on the dashboard colours the build and shows in the workspace', async ({ page }) => {
    test.setTimeout(RUN_DONE + 120_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await register(page, username);
    await hydrated(page);

    await page.getByTestId('start-prompt').fill('A landing page in the colours of this mock-up');
    await page.getByTestId('attach-input').setInputFiles(png('mockup.png', '#d9482b'));
    const attached = page.getByTestId('attachment');
    await expect(attached).toHaveCount(1);
    // Kept in the browser until the project exists.
    await expect(attached).toHaveAttribute('data-state', 'waiting');
    expect(await loadedWidth(attached.locator('img'))).toBe(48);
    // The offline generator (the default model) takes images: no note.
    await expect(page.getByTestId('attach-model-note')).toHaveCount(0);
    await expect(page.getByTestId('start-build')).toBeEnabled();
    await shot(page, 'images-dashboard');

    await page.getByTestId('start-build').click();
    await expect(page).toHaveURL(/\/project\/[0-9a-f-]{36}$/);
    project = page.url().split('/').pop()!;
    await hydrated(page);

    // The prompt shows with its image, served by the server.
    const asked = page.getByTestId('user-message').first();
    await expect(asked).toContainText('A landing page in the colours of this mock-up');
    const shown = asked.getByTestId('message-image');
    await expect(shown).toHaveCount(1);
    expect(await loadedWidth(shown)).toBe(48);
    await expect(asked.locator('a')).toHaveAttribute('href', new RegExp(`/api/projects/${project}/images/[0-9a-f-]{36}$`));

    await expect(page.getByTestId('agent-state')).toHaveAttribute('data-state', 'complete', { timeout: RUN_DONE });
    expect(await styles(page, project)).toContain('--accent: #d9482b');
    await shot(page, 'images-build');
    expect(pageErrors).toEqual([]);
  });

  test('in chat: pasted, dropped or picked; refused files say why and send nothing; the reply takes the colour', async ({ page }) => {
    test.setTimeout(240_000);
    expect(project, 'the build test ran first').not.toBe('');
    await login(page, username);
    await page.goto(`/project/${project}`);
    await hydrated(page);
    await expect(page.getByTestId('conn-status')).toHaveAttribute('data-state', 'live');
    const box = page.getByTestId('prompt');
    await expect(box).toHaveAttribute('placeholder', 'Ask for a change…');
    const send = page.getByTestId('send');
    const attached = page.getByTestId('attachment');
    const error = page.getByTestId('attach-error');
    const before = await page.getByTestId('user-message').count();

    // Files that are no PNG, JPEG or WebP are refused by their content,
    // whatever their name says, and so is one over 5 MB; the text stays.
    await box.fill('make it look like this');
    await page.getByTestId('attach-input').setInputFiles([
      { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('just some text, not an image\n') },
      { name: 'anim.gif', mimeType: 'image/gif', buffer: Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1') },
      { name: 'huge.png', mimeType: 'image/png', buffer: Buffer.concat([solidPng('#000000'), Buffer.alloc(5_500_000)]) },
    ]);
    await expect(error).toHaveCount(3);
    await expect(error.nth(0)).toHaveText('\u201cnotes.png\u201d is not a PNG, JPEG or WebP image.');
    await expect(error.nth(1)).toHaveText('\u201canim.gif\u201d is not a PNG, JPEG or WebP image.');
    await expect(error.nth(2)).toHaveText('\u201chuge.png\u201d is 5.2 MB; an image can be at most 5 MB.');
    await expect(attached).toHaveCount(0);
    await expect(box).toHaveValue('make it look like this');

    // A PNG by its first bytes that is broken after them passes here; the
    // server refuses it, its sentence shows, and Send waits for its removal.
    const broken = Buffer.concat([solidPng('#000000').subarray(0, 33), Buffer.from('no pixels follow')]);
    await page.getByTestId('attach-input').setInputFiles({ name: 'broken.png', mimeType: 'image/png', buffer: broken });
    await expect(attached).toHaveAttribute('data-state', 'failed');
    await expect(error).toHaveText(/^\u201cbroken\.png\u201d was not uploaded: the image could not be read/);
    await expect(send).toBeDisabled();
    await attached.getByTestId('attachment-remove').click();
    await expect(error).toHaveCount(0);
    await expect(send).toBeEnabled();

    // Dropped on the form, then removed before sending.
    await dropImage(page.locator('form.prompt'), 'dropped.png', solidPng('#123456'));
    await expect(attached).toHaveCount(1);
    await expect(error).toHaveCount(0);
    await attached.getByTestId('attachment-remove').click();
    await expect(attached).toHaveCount(0);

    // Pasted: uploaded at once, then sent with the message.
    await pasteImage(box, 'image.png', solidPng('#2b7bd9'));
    await expect(attached).toHaveCount(1);
    await expect(attached).toHaveAttribute('data-state', 'ready');
    expect(await loadedWidth(attached.locator('img'))).toBe(48);
    await shot(page, 'images-chat-attached');
    await expect(send).toBeEnabled();
    await send.click();
    await expect(attached).toHaveCount(0);
    await expect(box).toHaveValue('');
    const asked = page.getByTestId('user-message').last();
    await expect(page.getByTestId('user-message')).toHaveCount(before + 1);
    await expect(asked).toContainText('make it look like this');
    expect(await loadedWidth(asked.getByTestId('message-image'))).toBe(48);
    await expect(page.getByTestId('assistant-message').last()).toHaveAttribute('data-done', 'true', { timeout: 120_000 });
    await expect.poll(() => styles(page, project), { timeout: 30_000 }).toContain('--accent: #2b7bd9');

    // After a reload the history brings the message back with its image.
    await page.reload();
    await hydrated(page);
    const again = page.getByTestId('user-message').filter({ hasText: 'make it look like this' });
    await expect(again).toHaveCount(1);
    expect(await loadedWidth(again.getByTestId('message-image'))).toBe(48);

    // A picked image is uploaded too; an image can be sent once, so five are
    // one too many for a message.
    await page.getByTestId('attach-input').setInputFiles(
      ['#111111', '#222222', '#333333', '#444444', '#555555'].map((c, i) => png(`shot-${i + 1}.png`, c)),
    );
    await expect(attached).toHaveCount(4);
    await expect(error).toHaveText('A message can carry at most 4 images; \u201cshot-5.png\u201d was not added.');
    for (const tile of await attached.all()) await expect(tile).toHaveAttribute('data-state', 'ready');
  });
});

// --- A text-only model: said up front -----------------------------------------

const BASE = `http://127.0.0.1:${Number(process.env.E2E_PORT ?? 3100) + 95}`;
const TEXT_ONLY = 'openrouter:qwen/qwen3-coder';

test.describe('a text-only model', () => {
  let server: OwnServer | undefined;

  test.beforeAll(async () => {
    server = await startOwnServer('images', 95, {
      // OpenRouter's models are listed; nothing listens at this address,
      // and nothing may call it: the refusal comes before any request.
      OPENROUTER_API_KEY: 'e2e-dummy',
      OPENROUTER_BASE_URL: 'http://127.0.0.1:9/v1',
      MINICODE_MODEL: 'offline:builtin',
    });
  });

  test.afterAll(async () => {
    server?.stop();
  });

  async function signedIn(browser: Browser): Promise<Page> {
    const context = await browser.newContext({ baseURL: BASE });
    const page = await context.newPage();
    const res = await page.request.post('/api/auth/register', {
      data: { username: uniqueName('textonly'), password: 'password123' },
      headers: { Origin: BASE },
    });
    expect(res.status(), await res.text()).toBe(201);
    return page;
  }

  test('choosing an image says so before sending: a note, Send disabled, nothing sent', async ({ browser }) => {
    const page = await signedIn(browser);
    const post = (url: string, data: unknown = {}) => page.request.post(url, { data, headers: { Origin: BASE } });
    const created = await post('/api/projects', { name: 'Text only' });
    expect(created.status(), await created.text()).toBe(201);
    const project = (await created.json()).data.id as string;
    // A build on the offline default, stopped at once: the prompt box is then the chat's.
    const started = await post(`/api/projects/${project}/generate`, { description: 'A todo list' });
    expect(started.status(), await started.text()).toBe(202);
    await post(`/api/projects/${project}/stop`);

    await page.goto(`/project/${project}`);
    await hydrated(page);
    const box = page.getByTestId('prompt');
    await expect(box).toHaveAttribute('placeholder', 'Ask for a change…');

    // The picker marks the models that see images, and switches to one that does not.
    const picker = page.getByTestId('model-picker');
    await expect(picker.locator(`option[value="${TEXT_ONLY}"]`)).not.toContainText('sees images');
    await expect(picker.locator('option[value="offline:builtin"]')).toContainText('sees images');
    await picker.selectOption(TEXT_ONLY);
    await expect.poll(async () => {
      const res = await page.request.get(`/api/projects/${project}`);
      return (await res.json()).data.model;
    }).toBe(TEXT_ONLY);

    await box.fill('make it look like this');
    await page.getByTestId('attach-input').setInputFiles(png('mockup.png', '#d9482b'));
    await expect(page.getByTestId('attachment')).toHaveCount(1);
    const note = page.getByTestId('attach-model-note');
    await expect(note).toContainText('Qwen3 Coder');
    await expect(note).toContainText('does not accept images');
    const send = page.getByTestId('send');
    await expect(send).toBeDisabled();
    await shot(page, 'images-text-only');
    await box.press('Control+Enter');
    await page.waitForTimeout(500);
    // Only the build's own prompt is in the conversation: nothing was sent.
    await expect(page.getByTestId('user-message')).toHaveCount(1);
    await expect(page.getByTestId('user-message')).toHaveText('A todo list');
    await expect(box).toHaveValue('make it look like this');
    const chats = await page.request.get(`/api/projects/${project}/chats`);
    expect((await chats.json()).total).toBe(0);

    // Back to a model that sees images: the note goes, Send comes back.
    await picker.selectOption('offline:builtin');
    await expect(note).toHaveCount(0);
    await expect(send).toBeEnabled();
    // Or remove the image: nothing stands in the way of the text.
    await picker.selectOption(TEXT_ONLY);
    await expect(note).toBeVisible();
    await page.getByTestId('attachment-remove').click();
    await expect(note).toHaveCount(0);
    await expect(send).toBeEnabled();
    await page.context().close();
  });
});
