// minicode's bridge into a process sandbox, which has no network: it listens
// on a Unix socket in the folder minicode shares with this sandbox and
// forwards each connection to the dev server on the sandbox's own loopback.
// Usage: node bridge.js <socket path> <port>
'use strict';
const fs = require('fs');
const net = require('net');

const [socketPath, port] = process.argv.slice(2);
try { fs.unlinkSync(socketPath); } catch (_) { /* not there yet */ }

net.createServer((client) => {
  const upstream = net.connect(Number(port), '127.0.0.1');
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.pipe(upstream);
  upstream.pipe(client);
}).listen(socketPath);
