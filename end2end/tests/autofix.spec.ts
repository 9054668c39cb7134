import { test, expect, type Page } from '@playwright/test';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hydrated, uniqueName } from './helpers';
import { startOwnServer, type OwnServer } from './servers';

// The app's own runtime error fixed without asking (issue 19): an app whose
// button throws, "Fix automatically" on, and a model that really fixes it —
// a local server speaking OpenAI's streaming chat-completions format, which
// answers the fix turn with a `Write` of the repaired file. The error is
// captured with its place in the source, one agent turn runs, the button
// works afterwards; when the same error comes back later, nothing is sent
// again. This server is started here (like admin.spec.ts) so its model can
// point at the fake.

const RUN_DONE = 300_000;
let BASE = '';

const BROKEN = `import { useState } from 'react';

export default function App() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1>Clicker</h1>
      <button
        onClick={() => {
          if (count >= 0) throw new Error('Clicker exploded');
          setCount(count + 1);
        }}
      >
        Clicked {count}
      </button>
    </main>
  );
}
`;

const FIXED = `import { useState } from 'react';

export default function App() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1>Clicker</h1>
      <button onClick={() => setCount(count + 1)}>Clicked {count}</button>
    </main>
  );
}
`;

/** What the fake model was asked: each request's last message. */
const asked: { role: string; content: string }[] = [];
let fake: http.Server;
let server: OwnServer | undefined;

function sse(res: http.ServerResponse, chunks: unknown[]) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  res.end('data: [DONE]\n\n');
}

/** A fix turn: first a `Write` of the repaired App.tsx, then, once the tool's result is back, a sentence. */
function answer(body: any, res: http.ServerResponse) {
  const last = body.messages[body.messages.length - 1];
  const text = typeof last.content === 'string' ? last.content : JSON.stringify(last.content);
  asked.push({ role: last.role, content: text });
  if (last.role === 'tool') {
    sse(res, [
      { choices: [{ index: 0, delta: { role: 'assistant', content: 'Fixed: the button counts instead of throwing.' } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      { choices: [], usage: { prompt_tokens: 900, completion_tokens: 12 } },
    ]);
    return;
  }
  const args = JSON.stringify({ path: 'src/App.tsx', content: FIXED });
  sse(res, [
    { choices: [{ index: 0, delta: { role: 'assistant', content: 'The click handler throws; rewriting it.' } }] },
    { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_fix', type: 'function', function: { name: 'Write', arguments: '' } }] } }] },
    { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(0, 40) } }] } }] },
    { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(40) } }] } }] },
    { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
    { choices: [], usage: { prompt_tokens: 800, completion_tokens: 300 } },
  ]);
}

test.beforeAll(async () => {
  fake = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      answer(JSON.parse(raw), res);
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/v1`;

  server = await startOwnServer('autofix', 97, {
    OPENAI_BASE_URL: fakeUrl,
    MINICODE_MODEL: 'offline:builtin',
    MINICODE_LLM_MAX_RETRIES: '0',
  });
  BASE = server.base;
});

test.afterAll(async () => {
  server?.stop();
  fake?.close();
});

const write = (page: Page, method: 'post' | 'put' | 'patch', url: string, data: unknown) =>
  page.request[method](`${BASE}${url}`, { data, headers: { Origin: BASE } });

test('an app that throws on a click is fixed by one automatic agent turn, and a relapse is not sent again', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: BASE });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // An app built by the offline generator, then given a button that throws.
  let res = await write(page, 'post', '/api/auth/register', { username: uniqueName('fixer'), password: 'password123' });
  expect(res.status(), await res.text()).toBe(201);
  res = await write(page, 'post', '/api/projects', { name: 'Clicker' });
  expect(res.status()).toBe(201);
  const project = (await res.json()).data.id as string;
  res = await write(page, 'post', `/api/projects/${project}/generate`, { description: 'A small clicker app' });
  expect(res.status(), await res.text()).toBe(202);
  await page.goto(`/project/${project}`);
  await hydrated(page);
  await expect(page.getByTestId('agent-state')).toHaveAttribute('data-state', 'complete', { timeout: RUN_DONE });
  res = await write(page, 'put', `/api/projects/${project}/files/src/App.tsx`, { content: BROKEN });
  expect(res.status()).toBe(200);
  const preview = page.frameLocator('[data-testid="preview-frame"]');
  const button = preview.getByRole('button', { name: /Clicked/ });
  await expect(button).toHaveText('Clicked 0', { timeout: 120_000 });

  // From now on the project's model is the fixer (a model that needs no key).
  res = await write(page, 'patch', `/api/projects/${project}`, { model: 'openai:fixer' });
  expect(res.status(), await res.text()).toBe(200);
  await page.getByTestId('autofix').check();

  // The click throws: the error is captured with its place in App.tsx.
  await button.click();
  const appError = page.getByTestId('app-error');
  await expect(appError).toHaveCount(1);
  await expect(appError).toContainText('Clicker exploded');
  await expect(appError.getByTestId('app-error-source')).toHaveText(/^src\/App\.tsx:10:\d+$/);

  // After the quiet period one fix turn goes out by itself, with the error.
  await expect(appError).toHaveAttribute('data-auto', 'sent', { timeout: 15_000 });
  const fixMessages = page.getByTestId('user-message').filter({ hasText: 'Fix this error the app shows in the browser' });
  await expect(fixMessages).toHaveCount(1);
  await expect(page.getByTestId('assistant-message').last()).toHaveAttribute('data-done', 'true', { timeout: 60_000 });
  await expect(page.getByTestId('assistant-message').last()).toContainText('Fixed: the button counts');
  expect(asked.length).toBe(2);
  expect(asked[0].role).toBe('user');
  expect(asked[0].content).toContain('Clicker exploded');
  expect(asked[0].content).toContain('src/App.tsx');
  expect(asked[1].role).toBe('tool');

  // The fix is in the source and in the preview: the button counts, no new error.
  res = await page.request.get(`/api/projects/${project}/files/src/App.tsx`);
  expect((await res.json()).data.content).toBe(FIXED);
  await expect(async () => {
    await button.click();
    await expect(button).not.toHaveText('Clicked 0', { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await expect(appError.getByTestId('app-error-count')).toHaveCount(0);
  await expect(page.getByTestId('app-error')).toHaveCount(1);

  // The bug comes back (someone restores the broken file): the same error
  // is marked as a relapse and not sent to the agent again.
  res = await write(page, 'put', `/api/projects/${project}/files/src/App.tsx`, { content: BROKEN });
  expect(res.status()).toBe(200);
  await expect(button).toHaveText('Clicked 0', { timeout: 30_000 });
  await button.click();
  await expect(appError).toHaveAttribute('data-auto', 'cameback', { timeout: 15_000 });
  await expect(appError.getByTestId('app-error-note')).toContainText('not retried automatically');
  await page.waitForTimeout(4_000);
  await expect(fixMessages).toHaveCount(1);
  expect(asked.length).toBe(2);
  // The only page errors are the ones the app threw on purpose.
  expect(new Set(pageErrors)).toEqual(new Set(['Clicker exploded']));
  await context.close();
});
