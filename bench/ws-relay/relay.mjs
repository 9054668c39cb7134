// A WebSocket relay in the shape of seed 004's `WebSocketHandler`
// (`ws` on `/ws`, a client map, a 30 s ping/pong heartbeat, the
// `connection:established` welcome, JSON messages with an error reply, and a
// broadcast that stringifies each event once), plus `POST /save`, which
// stands in for a file save and broadcasts a `file_end` event to the
// project's clients. It is the comparison for minicode's WebSocket in
// `server/benches/fanout_compare.rs`; see README.md.
//
// Environment: PORT (default 0: any free port), HOST (127.0.0.1),
// RELAY_LOG=1 to log connections and messages as the seed does (off by
// default, like minicode's `--log error` in the bench).

import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';

const HEARTBEAT_MS = 30_000;
const MAX_BODY_BYTES = 1 << 20;
const logging = process.env.RELAY_LOG === '1';
const log = logging ? console.log : () => {};

export class WebSocketHandler {
  #wss;
  #clients = new Map(); // clientId -> WebSocket
  #rooms = new Map(); // projectId -> Set<clientId>
  #seqs = new Map(); // projectId -> last seq
  #heartbeat;

  constructor(server) {
    this.#wss = new WebSocketServer({ server, path: '/ws' });
    this.#wss.on('connection', (ws, req) => this.#handleConnection(ws, req));
    // Heartbeat to detect stale connections.
    this.#heartbeat = setInterval(() => this.#checkConnections(), HEARTBEAT_MS);
  }

  #handleConnection(ws, req) {
    const projectId = new URL(req.url, 'http://relay').searchParams.get('project') ?? 'default';
    const clientId = generateClientId();
    ws.clientId = clientId;
    ws.projectId = projectId;
    this.#clients.set(clientId, ws);
    let room = this.#rooms.get(projectId);
    if (!room) {
      room = new Set();
      this.#rooms.set(projectId, room);
    }
    room.add(clientId);
    log(`Client connected: ${clientId}`);

    this.#send(ws, 'connection:established', { clientId });

    ws.on('message', (data) => {
      let message;
      try {
        message = JSON.parse(data.toString());
      } catch {
        this.#sendError(ws, 'Invalid message format');
        return;
      }
      this.#handleMessage(clientId, ws, message);
    });
    ws.on('close', () => {
      log(`Client disconnected: ${clientId}`);
      this.#remove(ws);
    });
    ws.on('error', (error) => {
      console.error(`WebSocket error for ${clientId}:`, error);
      this.#remove(ws);
    });

    ws.isAlive = true;
    ws.on('pong', () => {
      ws.isAlive = true;
    });
  }

  #handleMessage(clientId, ws, message) {
    const { type, correlationId } = message ?? {};
    log(`Message from ${clientId}:`, type);
    switch (type) {
      case 'ping':
        this.#send(ws, 'pong', {}, correlationId);
        break;
      default:
        this.#sendError(ws, `Unknown message type: ${type}`, correlationId);
    }
  }

  #remove(ws) {
    this.#clients.delete(ws.clientId);
    const room = this.#rooms.get(ws.projectId);
    if (room) {
      room.delete(ws.clientId);
      if (room.size === 0) this.#rooms.delete(ws.projectId);
    }
  }

  #send(ws, type, payload, correlationId) {
    if (ws.readyState === WebSocket.OPEN) {
      const message = {
        type,
        payload,
        timestamp: Date.now(),
        ...(correlationId && { correlationId }),
      };
      ws.send(JSON.stringify(message));
    }
  }

  #sendError(ws, message, correlationId) {
    this.#send(ws, 'error', { message }, correlationId);
  }

  /** Sends one event to every client of a project: stringified once. */
  broadcast(projectId, type, payload) {
    const seq = (this.#seqs.get(projectId) ?? 0) + 1;
    this.#seqs.set(projectId, seq);
    const data = JSON.stringify({ type, payload, timestamp: Date.now(), seq });
    const room = this.#rooms.get(projectId);
    if (room) {
      for (const clientId of room) {
        const ws = this.#clients.get(clientId);
        if (ws && ws.readyState === WebSocket.OPEN) {
          ws.send(data);
        }
      }
    }
    return seq;
  }

  #checkConnections() {
    this.#clients.forEach((ws, clientId) => {
      if (ws.isAlive === false) {
        log(`Terminating stale connection: ${clientId}`);
        ws.terminate();
        this.#remove(ws);
        return;
      }
      ws.isAlive = false;
      ws.ping();
    });
  }

  destroy() {
    clearInterval(this.#heartbeat);
    this.#wss.close();
  }
}

function generateClientId() {
  return `client_${Date.now()}_${Math.random().toString(36).slice(2, 11)}`;
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** `POST /save` `{project?, path, content}`: a file save's `file_end` event. */
function handleSave(handler, req, res) {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      reply(res, 413, { error: { message: 'body too large' } });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return;
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      reply(res, 400, { error: { message: 'Invalid JSON' } });
      return;
    }
    const { path, content } = body ?? {};
    if (typeof path !== 'string' || typeof content !== 'string') {
      reply(res, 422, { error: { message: 'path and content must be strings' } });
      return;
    }
    const project =
      typeof body.project === 'string'
        ? body.project
        : (new URL(req.url, 'http://relay').searchParams.get('project') ?? 'default');
    const seq = handler.broadcast(project, 'file_end', { path, content });
    reply(res, 200, { data: { path, seq } });
  });
}

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://relay');
  if (req.method === 'POST' && pathname === '/save') {
    handleSave(handler, req, res);
  } else {
    reply(res, 404, { error: { message: 'not found' } });
  }
});
const handler = new WebSocketHandler(server);

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  // The bench reads this line to find the relay.
  console.log(`URL http://${address}:${port}`);
});

process.on('SIGTERM', () => {
  handler.destroy();
  server.close();
  process.exit(0);
});
