'use strict';

// Shared by the node tests: both implementations under one name each, and small
// promise helpers for servers, clients and events.

const assert = require('assert');
const net = require('net');
const crypto = require('crypto');
const { once } = require('events');

const impls = {
  'ws-rs': require('..'),
  ws: require('ws')
};

/** [server impl name, client impl name] pairs where at least one side is ws-rs. */
const pairs = [
  ['ws-rs', 'ws'],
  ['ws', 'ws-rs'],
  ['ws-rs', 'ws-rs']
];

/** Starts a server of `impl` on an ephemeral port. */
async function startServer(impl, options = {}) {
  const wss = new impls[impl].WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await once(wss, 'listening');
  return { wss, url: `ws://127.0.0.1:${wss.address().port}` };
}

/** Opens a client of `impl` and waits for `open`. */
async function connect(impl, url, options) {
  const ws = new impls[impl](url, options);
  await once(ws, 'open');
  return ws;
}

/** Closes a server and waits for it. */
function stopServer(wss) {
  for (const c of wss.clients || []) c.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}

/** Waits for `n` `message` events and returns `[data, isBinary]` pairs. */
function collect(ws, n) {
  return new Promise((resolve) => {
    const got = [];
    if (n === 0) return resolve(got);
    ws.on('message', function onMessage(data, isBinary) {
      got.push([data, isBinary]);
      if (got.length === n) {
        ws.removeListener('message', onMessage);
        resolve(got);
      }
    });
  });
}

/**
 * A raw TCP client that has done the opening handshake: for sending bytes a real
 * client would never send. Resolves to `{ socket, head }`.
 */
async function rawClient(port, path = '/') {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const key = crypto.randomBytes(16).toString('base64');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
  let buf = Buffer.alloc(0);
  while (!buf.includes('\r\n\r\n')) {
    const [chunk] = await once(socket, 'data');
    buf = Buffer.concat([buf, chunk]);
  }
  const end = buf.indexOf('\r\n\r\n') + 4;
  return { socket, response: buf.subarray(0, end).toString(), head: buf.subarray(end) };
}

/** An upgrade request with a fixed key, for raw clients that do not read the 101. */
const UPGRADE_REQUEST =
  'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/**
 * Deterministic pseudo-random integers (xorshift32), so a failure can be replayed by
 * seed: returns `r` with `r(n)` in [0, n).
 */
function seeded(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Builds one frame; `mask` is a 4-byte Buffer or null. */
function frame(opcode, payload, { fin = true, rsv = 0, mask = Buffer.from([1, 2, 3, 4]), len } = {}) {
  payload = Buffer.from(payload);
  const n = len === undefined ? payload.length : len;
  let header;
  if (n < 126) {
    header = Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, (mask ? 0x80 : 0) | n]);
  } else if (n < 65536) {
    header = Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, (mask ? 0x80 : 0) | 126, n >> 8, n & 0xff]);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | rsv | opcode;
    header[1] = (mask ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([header, mask, body]);
}

/** Reads frames from a raw socket until a Close frame; resolves to its code. */
function readCloseCode(socket, initial = Buffer.alloc(0)) {
  return new Promise((resolve) => {
    let buf = initial;
    const scan = () => {
      while (buf.length >= 2) {
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        const masked = (buf[1] & 0x80) !== 0;
        if (masked) off += 4;
        if (buf.length < off + len) return;
        if ((buf[0] & 0x0f) === 8) {
          socket.removeListener('data', onData);
          if (len < 2) return resolve(1005);
          const code = Buffer.from(buf.subarray(off, off + 2));
          if (masked) for (let i = 0; i < 2; i++) code[i] ^= buf[off - 4 + i];
          return resolve(code.readUInt16BE(0));
        }
        buf = buf.subarray(off + len);
      }
    };
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      scan();
    };
    socket.on('data', onData);
    socket.on('close', () => resolve(null));
    scan();
  });
}

/** Runs `fn(impl)` for ws, then ws-rs, and asserts both give the same result. */
async function same(fn) {
  const expected = await fn('ws');
  const actual = await fn('ws-rs');
  assert.deepStrictEqual(actual, expected);
  return actual;
}

/** The Sec-WebSocket-Accept value for a key, for hand-written servers. */
function acceptFor(key) {
  return crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

/** Polls `predicate` every 5 ms for up to 2 s; rejects naming `what` if it stays false. */
async function until(predicate, what) {
  for (let i = 0; i < 400; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Forks `fixtures/broadcast-slow.js` with `args` (see there). */
function forkBroadcaster(args) {
  const { fork } = require('child_process');
  const path = require('path');
  return fork(path.join(__dirname, 'fixtures', 'broadcast-slow.js'), args, {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  });
}

/** The self-signed certificate and key of the TLS tests (`fixtures/`). */
function tlsKeys() {
  const fs = require('fs');
  const path = require('path');
  return {
    cert: fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem')),
    key: fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'))
  };
}

module.exports = {
  forkBroadcaster,
  tlsKeys,
  until,
  impls,
  pairs,
  startServer,
  connect,
  stopServer,
  collect,
  rawClient,
  frame,
  readCloseCode,
  same,
  acceptFor,
  seeded,
  UPGRADE_REQUEST
};
