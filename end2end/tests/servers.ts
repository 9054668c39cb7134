// Servers and fixtures that several specs share: a minicode of a spec's own
// (its own port, data and environment, e.g. a model pointed at a local
// fake), and test images made on the spot.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const ROOT = path.join(__dirname, '../..');
const BIN = process.env.MINICODE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'debug/minicode');

export interface OwnServer {
  base: string;
  stop: () => void;
}

/**
 * Starts minicode on `E2E_PORT + offset` with fresh data in
 * `target/e2e-<name>-data`, open registration, and `env` added to the
 * environment; resolves once `/health` answers.
 */
export async function startOwnServer(name: string, offset: number, env: Record<string, string>): Promise<OwnServer> {
  const port = Number(process.env.E2E_PORT ?? 3100) + offset;
  const base = `http://127.0.0.1:${port}`;
  const data = path.join(ROOT, `target/e2e-${name}-data`);
  fs.rmSync(data, { recursive: true, force: true });
  const server: ChildProcess = spawn(BIN, [
    '--addr', `127.0.0.1:${port}`,
    '--data-dir', data,
    '--database-url', `sqlite://${data}/minicode.db?mode=rwc`,
    '--auth-rate-per-minute', '1000',
    '--registration', 'open',
    '--log', 'warn',
  ], {
    cwd: ROOT,
    env: { ...process.env, LEPTOS_SITE_ROOT: process.env.LEPTOS_SITE_ROOT ?? 'target/site', LEPTOS_ENV: 'PROD', ...env },
    stdio: 'ignore',
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/health`)).ok) return { base, stop: () => server.kill('SIGTERM') };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  server.kill('SIGTERM');
  throw new Error(`the ${name} server did not start`);
}

// --- Test images ------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A `side`×`side` PNG of one colour (`#rrggbb`), 8-bit RGB. */
export function solidPng(hex: string, side = 48): Buffer {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const row = Buffer.alloc(1 + side * 3); // filter byte 0, then the pixels
  for (let x = 0; x < side; x++) row.set([r, g, b], 1 + x * 3);
  const pixels = Buffer.concat(Array.from({ length: side }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', zlib.deflateSync(pixels)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG for `setInputFiles`. */
export const png = (name: string, hex: string) => ({ name, mimeType: 'image/png', buffer: solidPng(hex) });
