import { test, expect, type Page, type Locator, type WebSocketRoute } from '@playwright/test';
import {
  apiPost,
  createProject,
  hydrated,
  putFile,
  signUpByApi,
  storedFile,
  storedPaths,
  uniqueName,
} from './helpers';

// The workspace page's edges: edit conflicts, uploads, pane sizes and a
// dropped socket. Projects and files are made through the REST API, which
// is much faster than generating them; only the socket tests run the
// (offline) generator, because they are about its live events.

const editorText = (page: Page) => page.evaluate(() => (window as any).minicodeEditor?.getValue() ?? '');

const treeFile = (page: Page, path: string) => page.locator(`[data-testid="tree-file"][data-path="${path}"]`);
const treeFolder = (page: Page, path: string) => page.locator(`[data-testid="tree-folder"][data-path="${path}"]`);

/** A signed-in page with a new project holding `files`, opened on `/project/:id`. */
async function openProject(page: Page, files: Record<string, string> = {}): Promise<string> {
  await signUpByApi(page, uniqueName('edge'));
  const project = await createProject(page, 'Edge cases');
  for (const [path, content] of Object.entries(files)) await putFile(page, project, path, content);
  await page.goto(`/project/${project}`);
  await hydrated(page);
  await expect(page.getByTestId('conn-status')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('file-count')).toHaveText(String(Object.keys(files).length));
  return project;
}

async function openFile(page: Page, path: string) {
  await treeFile(page, path).click();
  await expect(page.getByTestId('open-file')).toHaveText(path);
  await expect(page.getByTestId('editor')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
}

/** Types over the editor's whole text through Monaco, as a user edit (reported, unlike setValue). */
async function typeInEditor(page: Page, text: string) {
  await page.evaluate((text) => {
    const editor = (window as any).monaco.editor.getEditors()[0];
    editor.executeEdits('e2e', [{ range: editor.getModel().getFullModelRange(), text }]);
    editor.focus();
  }, text);
}

/** Waits until the autosave of an edit made at `editedAt` (1.5 s after it) would have fired. */
const pastAutosave = (page: Page, editedAt: number) =>
  page.waitForTimeout(Math.max(0, editedAt + 2_000 - Date.now()));

test.describe('edit conflicts', () => {
  test('another writer changes the open file: keep mine keeps the edit and saves it', async ({ page }) => {
    const project = await openProject(page, { 'notes.md': 'original\n', 'other.md': 'other\n' });
    await openFile(page, 'notes.md');
    await expect.poll(() => editorText(page)).toBe('original\n');

    await typeInEditor(page, 'mine\n');
    const editedAt = Date.now();
    await expect(page.getByTestId('save-state')).toHaveText('Unsaved');
    // Someone else (an API client here) stores another version meanwhile,
    // before the autosave (1.5 s after the last keystroke) fires.
    const theirs = await putFile(page, project, 'notes.md', 'theirs\n');

    const conflict = page.getByTestId('conflict');
    await expect(conflict).toBeVisible();
    await expect(conflict).toContainText('notes.md');
    // Nothing was overwritten behind the user's back, and autosave waits for the choice.
    expect(await editorText(page)).toBe('mine\n');
    await pastAutosave(page, editedAt);
    expect(await storedFile(page, project, 'notes.md')).toEqual({ content: 'theirs\n', version: theirs });
    await expect(page.getByTestId('save-state')).toHaveText('Unsaved');

    // Opening another file first would pick a side silently: the page asks for the choice.
    await treeFile(page, 'other.md').click();
    await expect(page.getByText('before opening another file')).toBeVisible();
    await expect(page.getByTestId('open-file')).toHaveText('notes.md');
    await expect(conflict).toBeVisible();
    expect(await editorText(page)).toBe('mine\n');
    expect(await storedFile(page, project, 'notes.md')).toEqual({ content: 'theirs\n', version: theirs });

    await conflict.getByTestId('keep-mine').click();
    await expect(conflict).toBeHidden();
    await expect(page.getByTestId('save-state')).toHaveText('Saved');
    expect(await editorText(page)).toBe('mine\n');
    await expect.poll(() => storedFile(page, project, 'notes.md')).toEqual({ content: 'mine\n', version: theirs + 1 });
    // The page's own save coming back on the socket is not another conflict.
    await page.waitForTimeout(500);
    await expect(conflict).toBeHidden();
    expect(await editorText(page)).toBe('mine\n');
  });

  test('another writer puts back what this page saved earlier: the editor shows it', async ({ page }) => {
    // As when a checkpoint from before a chat turn is restored over the agent's change.
    const project = await openProject(page, { 'notes.md': 'original\n', 'other.md': 'other\n' });
    await openFile(page, 'notes.md');
    await expect.poll(() => editorText(page)).toBe('original\n');
    await typeInEditor(page, 'saved by me\n');
    await page.keyboard.press('Control+s');
    await expect(page.getByTestId('save-state')).toHaveText('Saved');
    await expect.poll(async () => (await storedFile(page, project, 'notes.md'))?.content).toBe('saved by me\n');

    await putFile(page, project, 'notes.md', 'changed by someone else\n');
    await expect.poll(() => editorText(page)).toBe('changed by someone else\n');
    await putFile(page, project, 'notes.md', 'saved by me\n');
    await expect.poll(() => editorText(page)).toBe('saved by me\n');
    await expect(page.getByTestId('conflict')).toHaveCount(0);
    await expect(page.getByTestId('save-state')).toHaveText('Saved');
  });

  test('another tab saves the open file: take theirs shows it and drops the unsaved edit', async ({ page, context }) => {
    const project = await openProject(page, { 'src/App.tsx': 'export const title = "Original";\n' });
    await openFile(page, 'src/App.tsx');
    await expect.poll(() => editorText(page)).toContain('Original');

    // A second tab of the same user edits and saves the same file.
    const other = await context.newPage();
    await other.goto(`/project/${project}`);
    await hydrated(other);
    await openFile(other, 'src/App.tsx');
    await expect.poll(() => editorText(other)).toContain('Original');

    // Both edit; the other tab saves at once, well before this page's
    // autosave (1.5 s after its last keystroke) would fire.
    await typeInEditor(other, 'export const title = "Theirs";\n');
    await typeInEditor(page, 'export const title = "Mine";\n');
    const editedAt = Date.now();
    await other.keyboard.press('Control+s');
    await expect(other.getByTestId('save-state')).toHaveText('Saved');
    await expect(page.getByTestId('save-state')).toHaveText('Unsaved');

    const conflict = page.getByTestId('conflict');
    await expect(conflict).toBeVisible();
    expect(await editorText(page)).toContain('Mine');
    await conflict.getByTestId('take-theirs').click();
    await expect(conflict).toBeHidden();
    expect(await editorText(page)).toBe('export const title = "Theirs";\n');
    await expect(page.getByTestId('save-state')).toHaveText('Saved');
    await expect(page.getByTestId('save')).toBeDisabled();
    await expect(treeFile(page, 'src/App.tsx').locator('.dot.dirty')).toHaveCount(0);

    // The dropped edit is gone for good: no autosave brings it back.
    const before = await storedFile(page, project, 'src/App.tsx');
    expect(before?.content).toBe('export const title = "Theirs";\n');
    await pastAutosave(page, editedAt);
    expect(await storedFile(page, project, 'src/App.tsx')).toEqual(before);
    // The other tab did not get a conflict from any of this.
    await expect(other.getByTestId('conflict')).toHaveCount(0);
    await other.close();
  });
});

test.describe('uploads', () => {
  /** A DataTransfer holding files made in the page, as a drag from the desktop carries. */
  async function dataTransfer(page: Page, files: { name: string; content: string | number; type?: string }[]) {
    return page.evaluateHandle((files) => {
      const dt = new DataTransfer();
      for (const f of files) {
        // A number is a size: a file of that many bytes.
        const body = typeof f.content === 'number' ? new Uint8Array(f.content).fill(97) : f.content;
        dt.items.add(new File([body], f.name, { type: f.type ?? 'text/plain' }));
      }
      return dt;
    }, files);
  }

  async function dropOn(page: Page, target: Locator, files: { name: string; content: string | number; type?: string }[], hint?: string) {
    const dt = await dataTransfer(page, files);
    await target.dispatchEvent('dragenter', { dataTransfer: dt });
    await target.dispatchEvent('dragover', { dataTransfer: dt });
    await expect(page.getByTestId('file-tree')).toHaveClass(/drag-over/);
    if (hint) await expect(page.locator('.drop-hint')).toHaveText(hint);
    await target.dispatchEvent('drop', { dataTransfer: dt });
    await expect(page.getByTestId('file-tree')).not.toHaveClass(/drag-over/);
  }

  const CSV = 'name,age\nAda,36\nGrace,45\n';

  test('drop files on a folder or on the tree; pick files with the Upload button', async ({ page }) => {
    const project = await openProject(page, { 'data/readme.md': '# data\n', 'index.html': '<!doctype html>\n' });

    // On the `data` folder: the file lands in data/.
    await dropOn(page, treeFolder(page, 'data'), [{ name: 'people.csv', content: CSV, type: 'text/csv' }], 'Drop to upload into data/');
    await expect(treeFile(page, 'data/people.csv')).toBeVisible();
    expect((await storedFile(page, project, 'data/people.csv'))?.content).toBe(CSV);

    // On the tree but no folder: public/, where Vite serves files as they are.
    await dropOn(page, page.getByTestId('file-tree'), [{ name: 'robots.txt', content: 'User-agent: *\n' }], 'Drop to upload into public/');
    await expect(treeFolder(page, 'public')).toBeVisible();
    await expect(treeFile(page, 'public/robots.txt')).toBeVisible();
    expect((await storedFile(page, project, 'public/robots.txt'))?.content).toBe('User-agent: *\n');

    // The picker puts files next to the open file (two at once here)…
    await openFile(page, 'data/readme.md');
    await page.getByTestId('upload-input').setInputFiles([
      { name: 'a.csv', mimeType: 'text/csv', buffer: Buffer.from('a\n1\n') },
      { name: 'b.csv', mimeType: 'text/csv', buffer: Buffer.from('b\n2\n') },
    ]);
    await expect(treeFile(page, 'data/a.csv')).toBeVisible();
    await expect(treeFile(page, 'data/b.csv')).toBeVisible();
    expect((await storedFile(page, project, 'data/b.csv'))?.content).toBe('b\n2\n');
    // …and the uploaded files' content is what the editor shows when opened.
    await openFile(page, 'data/a.csv');
    await expect.poll(() => editorText(page)).toBe('a\n1\n');

    // Uploading a file that exists replaces it: a new version, same tree row.
    await page.getByTestId('upload-input').setInputFiles({ name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from('name\nLinus\n') });
    await expect.poll(async () => (await storedFile(page, project, 'data/people.csv'))?.content).toBe('name\nLinus\n');
    expect((await storedFile(page, project, 'data/people.csv'))?.version).toBe(2);
    await expect(treeFile(page, 'data/people.csv')).toHaveCount(1);

    expect(await storedPaths(page, project)).toEqual([
      'data/a.csv', 'data/b.csv', 'data/people.csv', 'data/readme.md', 'index.html', 'public/robots.txt',
    ]);
    await expect(page.getByTestId('file-count')).toHaveText('6');
    await expect(page.getByTestId('file-tree').getByRole('alert')).toHaveCount(0);
  });

  test('the drop goes where the pointer is, not to the last folder it crossed', async ({ page }) => {
    const project = await openProject(page, { 'data/readme.md': '# data\n', 'index.html': '<!doctype html>\n' });
    const dt = await dataTransfer(page, [{ name: 'late.csv', content: CSV }]);
    // Across the `data` folder, then on to a top-level file and the tree's empty space.
    await treeFolder(page, 'data').dispatchEvent('dragenter', { dataTransfer: dt });
    await treeFolder(page, 'data').dispatchEvent('dragover', { dataTransfer: dt });
    await expect(page.locator('.drop-hint')).toHaveText('Drop to upload into data/');
    // A file inside a folder counts as that folder.
    await treeFile(page, 'data/readme.md').dispatchEvent('dragenter', { dataTransfer: dt });
    await treeFile(page, 'data/readme.md').dispatchEvent('dragover', { dataTransfer: dt });
    await expect(page.locator('.drop-hint')).toHaveText('Drop to upload into data/');
    await treeFile(page, 'index.html').dispatchEvent('dragenter', { dataTransfer: dt });
    await treeFile(page, 'index.html').dispatchEvent('dragover', { dataTransfer: dt });
    await expect(page.locator('.drop-hint')).toHaveText('Drop to upload into public/');
    const tree = page.getByTestId('file-tree');
    await tree.dispatchEvent('dragenter', { dataTransfer: dt });
    await tree.dispatchEvent('dragover', { dataTransfer: dt });
    await expect(page.locator('.drop-hint')).toHaveText('Drop to upload into public/');
    await tree.dispatchEvent('drop', { dataTransfer: dt });
    await expect(treeFile(page, 'public/late.csv')).toBeVisible();
    expect(await storedPaths(page, project)).toEqual(['data/readme.md', 'index.html', 'public/late.csv']);
  });

  test('a refused upload says why and changes nothing', async ({ page }) => {
    const project = await openProject(page, { 'data/readme.md': '# data\n' });
    const alert = page.getByTestId('file-tree').getByRole('alert');

    // A name the server refuses, dropped together with a good file: neither is stored.
    await dropOn(page, treeFolder(page, 'data'), [
      { name: 'good.csv', content: CSV },
      { name: '..', content: 'sneaky' },
    ]);
    await expect(alert).toBeVisible();
    await expect(alert).toHaveText('Not uploaded: invalid upload path `data/..`: the path must not contain `..`');

    // A file over MINICODE_MAX_FILE_BYTES (5 MiB by default).
    await page.getByTestId('upload-input').setInputFiles({
      name: 'huge.csv',
      mimeType: 'text/csv',
      buffer: Buffer.alloc(5 * 1024 * 1024 + 1, 'a'),
    });
    await expect(alert).toHaveText('Not uploaded: data/huge.csv is 5242881 bytes; the largest file allowed is 5242880 bytes');

    expect(await storedPaths(page, project)).toEqual(['data/readme.md']);
    await expect(page.getByTestId('tree-file')).toHaveCount(1);
    await expect(page.getByTestId('file-count')).toHaveText('1');

    // A good upload afterwards works and clears the message (data/: the open file's folder).
    await expect(page.getByTestId('open-file')).toHaveText('data/readme.md');
    await page.getByTestId('upload-input').setInputFiles({ name: 'ok.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) });
    await expect(treeFile(page, 'data/ok.csv')).toBeVisible();
    await expect(alert).toHaveCount(0);
  });
});

test.describe('panes', () => {
  type Widths = { left: number; centre: number; right: number; scroll: number; client: number };
  const widths = (page: Page): Promise<Widths> =>
    page.evaluate(() => {
      const w = (sel: string) => document.querySelector(sel)!.getBoundingClientRect().width;
      return {
        left: w('.pane-left'),
        centre: w('.pane-centre'),
        right: w('.pane-right'),
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      };
    });

  async function drag(page: Page, splitter: Locator, dx: number) {
    const box = (await splitter.boundingBox())!;
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + dx / 2, y, { steps: 4 });
    await page.mouse.move(x + dx, y, { steps: 4 });
    await page.mouse.up();
  }

  test('splitters resize the panes within their minimums; 1024 px fits all three', async ({ page }) => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await openProject(page, { 'src/App.tsx': 'export default function App() { return null; }\n' });
    const left = page.getByTestId('splitter-left');
    const right = page.getByTestId('splitter-right');

    const start = await widths(page);
    expect(start.left + start.centre + start.right + 12).toBeCloseTo(1280, 0);

    // Left splitter: the conversation pane follows the pointer, the preview does not move.
    await drag(page, left, 100);
    let now = await widths(page);
    expect(now.left).toBeCloseTo(start.left + 100, 0);
    expect(now.right).toBeCloseTo(start.right, 0);
    // Far left: it stops at its minimum.
    await drag(page, left, -800);
    now = await widths(page);
    expect(now.left).toBeCloseTo(240, 0);
    // Far right: the centre keeps its minimum and the preview keeps its size.
    await drag(page, left, 1200);
    now = await widths(page);
    expect(now.centre).toBeGreaterThanOrEqual(320 - 0.5);
    expect(now.centre).toBeLessThan(330);
    expect(now.right).toBeCloseTo(start.right, 0);
    expect(now.scroll).toBeLessThanOrEqual(now.client);

    // Right splitter (dragging left widens the preview), against the wide conversation pane.
    await drag(page, left, -200);
    const mid = await widths(page);
    await drag(page, right, -60);
    now = await widths(page);
    expect(now.right).toBeCloseTo(mid.right + 60, 0);
    expect(now.left).toBeCloseTo(mid.left, 0);
    await drag(page, right, 1000);
    expect((await widths(page)).right).toBeCloseTo(240, 0);

    // Keyboard: arrows move a focused splitter by 2 %.
    await right.focus();
    const before = Number(await right.getAttribute('aria-valuenow'));
    await page.keyboard.press('ArrowLeft');
    await expect(right).toHaveAttribute('aria-valuenow', String(before + 2));

    // 1024 px wide: all three panes visible side by side, within their minimums, nothing scrolls sideways.
    await page.setViewportSize({ width: 1024, height: 768 });
    await drag(page, left, 600);
    await drag(page, right, -600);
    now = await widths(page);
    expect(now.scroll).toBeLessThanOrEqual(now.client);
    expect(now.left).toBeGreaterThanOrEqual(240 - 0.5);
    expect(now.right).toBeGreaterThanOrEqual(240 - 0.5);
    expect(now.centre).toBeGreaterThanOrEqual(320 - 0.5);
    for (const sel of ['.pane-left', '.pane-centre', '.pane-right']) {
      const box = (await page.locator(sel).boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(1024 + 0.5);
    }
    // Nothing inside a pane (or the header) is wider than its box either.
    const overflowing = await page.evaluate(() =>
      ['.ws-header', '.pane-left', '.pane-centre', '.pane-right', '.file-tree', '.editor-pane']
        .map((sel) => [sel, document.querySelector(sel)!] as const)
        .filter(([, el]) => el.scrollWidth > el.clientWidth + 1)
        .map(([sel, el]) => `${sel}: ${el.scrollWidth} > ${el.clientWidth}`),
    );
    expect(overflowing).toEqual([]);
    await expect(page.getByTestId('file-tree')).toBeVisible();
    await expect(page.getByTestId('editor')).toBeVisible();
    await expect(page.getByTestId('prompt')).toBeVisible();

    // The sizes are this browser's: a reload keeps them.
    const chosen = { left: await left.getAttribute('aria-valuenow'), right: await right.getAttribute('aria-valuenow') };
    await page.reload();
    await hydrated(page);
    await expect(left).toHaveAttribute('aria-valuenow', chosen.left!);
    await expect(right).toHaveAttribute('aria-valuenow', chosen.right!);
    const restored = await widths(page);
    expect(restored.left).toBeCloseTo(now.left, 0);
    expect(restored.right).toBeCloseTo(now.right, 0);
  });
});

test.describe('live connection', () => {
  // The page's socket goes through page.routeWebSocket: a transparent proxy
  // to the real server that lets a test cut the connection, or drop frames,
  // at an exact point of the stream (here: a few chunks into the first file
  // the run writes), which waiting on the page could not hit reliably.

  /** Every stored file is in the tree, and the page's copy (opened in the editor) has its content. */
  async function expectPageHasEveryFile(page: Page, project: string) {
    const paths = await storedPaths(page, project);
    const shown = await page.getByTestId('tree-file').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    expect(shown.sort()).toEqual(paths);
    const stored: Record<string, string> = {};
    for (const path of paths) stored[path] = (await storedFile(page, project, path))!.content;
    await expect(page.getByTestId('editor')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
    // A click on a tree row shows that file in the editor at once, so one
    // evaluate can open every file in turn and read what the page holds.
    const held = await page.evaluate((paths) => {
      const out: Record<string, string> = {};
      for (const path of paths) {
        (document.querySelector(`[data-testid="tree-file"][data-path="${path}"]`) as HTMLElement).click();
        out[path] = (window as any).minicodeEditor.getValue();
      }
      return out;
    }, paths);
    expect(held).toEqual(stored);
    return paths;
  }

  async function startRun(page: Page, project: string) {
    const res = await apiPost(page, `/api/projects/${project}/generate`, { description: 'A todo list with notes' });
    expect(res.status(), await res.text()).toBe(202);
  }

  /** Cancels the run so the stored files stop changing, and waits until the page knows. */
  async function stopRun(page: Page, project: string) {
    const res = await apiPost(page, `/api/projects/${project}/stop`);
    expect(res.ok()).toBeTruthy();
    await expect(page.getByTestId('agent-state')).toHaveAttribute('data-state', /cancelled|complete|failed/, { timeout: 30_000 });
  }

  test('a socket dropped mid-file reconnects and catches up on everything it missed', async ({ page }) => {
    test.setTimeout(180_000);
    let refuse = false;
    let sockets = 0;
    let cutIn: string | undefined; // the file being streamed when the socket was cut
    await page.routeWebSocket(/\/ws\//, (ws) => {
      // While "down", every reconnect is refused at once.
      if (refuse) return ws.close({ code: 1011, reason: 'down' });
      sockets++;
      const server = ws.connectToServer();
      let chunks = 0;
      server.onMessage((m) => {
        ws.send(m);
        const frame = JSON.parse(String(m));
        if (cutIn === undefined && frame.type === 'file_chunk' && ++chunks === 3) {
          cutIn = frame.payload.path;
          refuse = true;
          ws.close({ code: 1011, reason: 'dropped' });
        }
      });
    });

    const project = await openProject(page);
    const pill = page.getByTestId('conn-status');
    await startRun(page, project);
    await expect.poll(() => cutIn, { timeout: 60_000 }).toBeDefined();
    await expect(pill).not.toHaveAttribute('data-state', 'live');
    // Events the page cannot see: the run goes on, and someone writes a file.
    await putFile(page, project, 'docs/while-away.md', 'written while the page was offline\n');
    // The file cut off mid-stream gets stored meanwhile; the page still has only its start.
    await expect.poll(() => storedFile(page, project, cutIn!), { timeout: 30_000 }).not.toBeNull();
    await expect(treeFile(page, cutIn!).locator('.dot.streaming')).toHaveCount(1);
    // The editor follows the file being written and says it is not the user's to save yet.
    await expect(page.getByTestId('open-file')).toHaveText(cutIn!);
    await expect(page.getByTestId('save-state')).toHaveText('Being written…');
    await expect(treeFile(page, 'docs/while-away.md')).toHaveCount(0);
    await expect(pill).toHaveAttribute('data-state', 'reconnecting');

    refuse = false;
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
    expect(sockets).toBe(2);
    await expect(treeFile(page, 'docs/while-away.md')).toBeVisible({ timeout: 30_000 });
    await expect(treeFile(page, cutIn!)).toBeVisible();
    await expect(treeFile(page, cutIn!).locator('.dot.streaming')).toHaveCount(0);
    await expect(page.getByTestId('save-state')).not.toHaveText('Being written…');

    await stopRun(page, project);
    const paths = await expectPageHasEveryFile(page, project);
    expect(paths).toContain('docs/while-away.md');
    expect(paths).toContain(cutIn);
  });

  test('resync: after the server drops events for this client, it resumes from its last seq', async ({ page }) => {
    test.setTimeout(180_000);
    // The proxy plays the server's overflow (docs/protocol.md, "Overflow and
    // resync"): from a few chunks into the first file it drops the events it
    // should forward, up to the end of the next file (which the page then
    // never saw at all), then sends `resync {lastSeq}` with the last seq it
    // delivered, as the server does.
    let state: 'before' | 'dropping' | 'after' = 'before';
    let lastDelivered = 0;
    let resyncAt = 0;
    const dropped: { type: string; path?: string }[] = [];
    const fromPage: { type: string; payload: any }[] = [];
    await page.routeWebSocket(/\/ws\//, (ws) => {
      const server = ws.connectToServer();
      let chunks = 0;
      ws.onMessage((m) => {
        fromPage.push(JSON.parse(String(m)));
        server.send(m);
      });
      server.onMessage((m) => {
        const frame = JSON.parse(String(m));
        if (state === 'before' && frame.type === 'file_chunk' && ++chunks === 3) state = 'dropping';
        if (state === 'dropping' && frame.seq !== undefined) {
          dropped.push({ type: frame.type, path: frame.payload?.path });
          if (dropped.filter((f) => f.type === 'file_end').length === 2) {
            state = 'after';
            resyncAt = lastDelivered;
            ws.send(JSON.stringify({ type: 'resync', payload: { lastSeq: resyncAt }, timestamp: Date.now() }));
          }
          return;
        }
        if (frame.seq !== undefined) lastDelivered = Math.max(lastDelivered, frame.seq);
        ws.send(m);
      });
    });

    const project = await openProject(page);
    await startRun(page, project);
    await expect.poll(() => state, { timeout: 60_000 }).toBe('after');
    const [cutIn, unseen] = dropped.filter((f) => f.type === 'file_end').map((f) => f.path!);
    expect(dropped.find((f) => f.type === 'file_start')?.path).toBe(unseen);

    // The page asks for the gap from exactly the last event it was given…
    await expect.poll(() => fromPage.filter((f) => f.type === 'resume').length).toBe(2);
    expect(fromPage.filter((f) => f.type === 'resume').map((f) => f.payload.lastSeq)).toEqual([0, resyncAt]);
    // …and gets it, without dropping the connection: the file it saw begin
    // is complete, the one it never saw is there. (Every frame goes through
    // the proxy, which is slow on a busy machine: hence the longer wait.)
    await expect(treeFile(page, unseen)).toBeVisible({ timeout: 30_000 });
    await expect(treeFile(page, cutIn)).toBeVisible();
    await expect(treeFile(page, cutIn).locator('.dot.streaming')).toHaveCount(0);
    await expect(page.getByTestId('conn-status')).toHaveAttribute('data-state', 'live');

    await stopRun(page, project);
    const paths = await expectPageHasEveryFile(page, project);
    expect(paths).toEqual(expect.arrayContaining([cutIn, unseen]));
  });
});
