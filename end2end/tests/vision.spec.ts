import { test, expect, type Browser, type Page } from '@playwright/test';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hydrated, uniqueName } from './helpers';
import { png, startOwnServer, type OwnServer } from './servers';

// An image attached in the browser reaches a vision model in its provider's
// own wire format (issue 19): an OpenAI-compatible model gets an `image_url`
// part with a data URL, an Anthropic model an `image` block with base64 —
// both from a local server that speaks each API's streaming format and
// records what it was sent. The offline generator starts the app; the
// project then switches to the vision model for the chat.

interface Asked {
  api: 'openai' | 'anthropic';
  body: any;
}
const asked: Asked[] = [];
let fake: http.Server;
let server: OwnServer | undefined;

function openaiAnswer(res: http.ServerResponse, text: string) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const chunk of [
    { choices: [{ index: 0, delta: { role: 'assistant', content: text } }] },
    { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    { choices: [], usage: { prompt_tokens: 1200, completion_tokens: 8 } },
  ]) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  res.end('data: [DONE]\n\n');
}

function anthropicAnswer(res: http.ServerResponse, text: string) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const event of [
    { type: 'message_start', message: { usage: { input_tokens: 1200, output_tokens: 0 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 8 } },
    { type: 'message_stop' },
  ]) res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  res.end();
}

test.beforeAll(async () => {
  fake = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}');
      if (req.url?.endsWith('/chat/completions')) {
        asked.push({ api: 'openai', body });
        openaiAnswer(res, 'I see a red square.');
      } else if (req.url?.endsWith('/v1/messages')) {
        asked.push({ api: 'anthropic', body });
        anthropicAnswer(res, 'I see a blue square.');
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  server = await startOwnServer('vision', 98, {
    OPENAI_BASE_URL: `${url}/v1`,
    ANTHROPIC_API_KEY: 'e2e-dummy-key',
    ANTHROPIC_BASE_URL: url,
    MINICODE_MODEL: 'offline:builtin',
    MINICODE_LLM_MAX_RETRIES: '0',
  });
});

test.afterAll(async () => {
  server?.stop();
  fake?.close();
});

/** A signed-in page on this server with a project whose build ran (stopped at once), on `model`. */
async function projectOn(browser: Browser, model: string): Promise<Page> {
  const base = server!.base;
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  const post = (url: string, data: unknown = {}) => page.request.post(url, { data, headers: { Origin: base } });
  expect((await post('/api/auth/register', { username: uniqueName('vision'), password: 'password123' })).status()).toBe(201);
  const created = await post('/api/projects', { name: 'Vision' });
  const project = (await created.json()).data.id as string;
  // A build on the offline generator, stopped: the prompt box is then the chat's.
  expect((await post(`/api/projects/${project}/generate`, { description: 'A todo list' })).status()).toBe(202);
  await post(`/api/projects/${project}/stop`);
  const patched = await page.request.patch(`/api/projects/${project}`, { data: { model }, headers: { Origin: base } });
  expect(patched.status(), await patched.text()).toBe(200);
  await page.goto(`/project/${project}`);
  await hydrated(page);
  await expect(page.getByTestId('prompt')).toHaveAttribute('placeholder', 'Ask for a change…');
  return page;
}

/** Attaches a `colour` PNG in the chat, asks about it, and waits for the reply. */
async function askAbout(page: Page, colour: string, reply: string) {
  await page.getByTestId('attach-input').setInputFiles(png('shot.png', colour));
  await expect(page.getByTestId('attachment')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('attach-model-note')).toHaveCount(0);
  await page.getByTestId('prompt').fill('What is in this picture?');
  await page.getByTestId('send').click();
  await expect(page.getByTestId('user-message').last().getByTestId('message-image')).toHaveCount(1);
  await expect(page.getByTestId('assistant-message').last()).toHaveAttribute('data-done', 'true', { timeout: 30_000 });
  await expect(page.getByTestId('assistant-message').last()).toContainText(reply);
}

/** The PNG's width and height from its header. */
function pngSize(bytes: Buffer): [number, number] {
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('\x89PNG\r\n\x1a\n');
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test('an OpenAI-compatible vision model gets the image as an image_url data URL', async ({ browser }) => {
  const page = await projectOn(browser, 'openai:gpt-5');
  const before = asked.length;
  await askAbout(page, '#d9482b', 'I see a red square.');
  const calls = asked.slice(before).filter((a) => a.api === 'openai');
  expect(calls).toHaveLength(1);
  const last = calls[0].body.messages.at(-1);
  expect(last.role).toBe('user');
  expect(last.content[0]).toEqual({ type: 'text', text: 'What is in this picture?' });
  expect(last.content[1].type).toBe('image_url');
  const url: string = last.content[1].image_url.url;
  expect(url.startsWith('data:image/png;base64,')).toBe(true);
  expect(pngSize(Buffer.from(url.slice('data:image/png;base64,'.length), 'base64'))).toEqual([48, 48]);
  await page.context().close();
});

test('an Anthropic vision model gets the image as an image block', async ({ browser }) => {
  const page = await projectOn(browser, 'anthropic:claude-sonnet-4-5');
  const before = asked.length;
  await askAbout(page, '#2563eb', 'I see a blue square.');
  const calls = asked.slice(before).filter((a) => a.api === 'anthropic');
  expect(calls).toHaveLength(1);
  const last = calls[0].body.messages.at(-1);
  expect(last.role).toBe('user');
  expect(last.content[0].type).toBe('image');
  expect(last.content[0].source.type).toBe('base64');
  expect(last.content[0].source.media_type).toBe('image/png');
  expect(pngSize(Buffer.from(last.content[0].source.data, 'base64'))).toEqual([48, 48]);
  expect(last.content[1]).toEqual({ type: 'text', text: 'What is in this picture?' });
  await page.context().close();
});
