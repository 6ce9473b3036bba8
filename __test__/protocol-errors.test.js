'use strict';

// Bad frames from a raw peer, run against both ws and ws-rs: the same 'error' (class,
// message, code), the same close code on the wire, the same 'close' event, and the
// server keeps serving other connections.

const { test } = require('node:test');
const assert = require('node:assert');
const net = require('net');
const { once } = require('events');

const { impls, startServer, stopServer, rawClient, frame, readCloseCode, connect, acceptFor } = require('./helpers');

const noMask = { mask: null };

/**
 * Bytes a peer sends: one Buffer, or an array of pieces written 40 ms apart so that
 * each is a read of its own (`maxBufferedChunks` counts reads). A busy machine can
 * only merge pieces, which the cases below allow for.
 */
function writePieces(socket, input) {
  if (Buffer.isBuffer(input)) return socket.write(input);
  input.forEach((piece, i) => setTimeout(() => socket.destroyed || socket.write(piece), i * 40));
}

/** `bytes` cut into `n` nearly equal pieces. */
function pieces(bytes, n) {
  const size = Math.ceil(bytes.length / n);
  return Array.from({ length: n }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
}

// name -> bytes a client sends after the handshake.
const clientInputs = {
  'RSV2 set': frame(0x1, 'a', { rsv: 0x20 }),
  'RSV1 without deflate': frame(0x1, 'a', { rsv: 0x40 }),
  'unknown opcode 3': frame(0x3, 'a'),
  'unknown opcode 11': frame(0xb, ''),
  'continuation with nothing to continue': frame(0x0, 'a'),
  'new message inside a fragmented one': Buffer.concat([frame(0x1, 'a', { fin: false }), frame(0x2, 'b')]),
  'fragmented ping': frame(0x9, 'a', { fin: false }),
  'ping of 126 bytes': frame(0x9, Buffer.alloc(126)),
  'close of 1 byte': frame(0x8, Buffer.from([3])),
  'unmasked frame to a server': frame(0x1, 'a', noMask),
  'length above 2^53-1': Buffer.from([0x82, 0xff, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
  'invalid UTF-8 text': frame(0x1, Buffer.from([0xce, 0xba, 0xff])),
  'invalid UTF-8 in a later fragment': Buffer.concat([
    frame(0x1, 'ok', { fin: false }),
    frame(0x0, Buffer.from([0xed, 0xa0, 0x80]))
  ]),
  'close code 1005': frame(0x8, Buffer.from([0x03, 0xed])),
  'close code 2999': frame(0x8, Buffer.from([0x0b, 0xb7])),
  'close reason not UTF-8': frame(0x8, Buffer.from([0x03, 0xe8, 0xff])),
  'message over maxPayload': frame(0x2, Buffer.alloc(2000)),
  'too many fragments': Buffer.concat([
    frame(0x2, 'a', { fin: false }),
    frame(0x0, 'b', { fin: false }),
    frame(0x0, 'c', { fin: false }),
    frame(0x0, 'd')
  ]),
  // maxBufferedChunks is 3: a fourth read of one frame fails (with 8 pieces, even if
  // the machine merges some); 3 reads are fine, then the peer sends a bad opcode.
  'a frame over 8 reads': pieces(frame(0x2, Buffer.alloc(40, 1)), 8),
  'a frame over 3 reads, then opcode 3': pieces(
    Buffer.concat([frame(0x2, Buffer.alloc(40, 1)), frame(0x3, '')]),
    3
  )
};

async function serverScenario(impl, input) {
  const { wss, url } = await startServer(impl, { maxPayload: 1000, maxFragments: 3, maxBufferedChunks: 3 });
  const events = [];
  const closed = new Promise((resolve) => {
    wss.once('connection', (ws) => {
      ws.on('error', (err) => events.push(['error', err.constructor.name, err.message, err.code]));
      ws.on('message', (d) => events.push(['message', d.toString()]));
      ws.on('close', (code, reason) => {
        events.push(['close', code, reason.toString()]);
        resolve();
      });
    });
  });
  const port = new URL(url).port;
  const { socket, head } = await rawClient(port);
  const wireCode = readCloseCode(socket, head);
  writePieces(socket, input);
  const code = await wireCode;
  socket.end();
  await closed;

  // The server still serves a well-behaved client.
  const good = await connect('ws', url);
  good.close();
  await once(good, 'close');
  await stopServer(wss);
  socket.destroy();
  return { wireCode: code, events };
}

for (const [name, input] of Object.entries(clientInputs)) {
  test(`server receives ${name}: ws-rs answers as ws does`, async () => {
    const expected = await serverScenario('ws', input);
    const actual = await serverScenario('ws-rs', input);
    assert.deepStrictEqual(actual, expected);
    assert.ok(expected.events.some((e) => e[0] === 'error'), 'ws reports an error');
    if (name.includes('over 8 reads')) assert.ok(expected.events.some((e) => e[2] === 'Too many buffered chunks'));
  });
}

// name -> bytes a server sends to a client after its 101.
const serverInputs = {
  'masked frame to a client': frame(0x1, 'a'),
  'RSV3 set': frame(0x1, 'a', { rsv: 0x10, mask: null }),
  'invalid UTF-8 text': frame(0x1, Buffer.from([0xff]), noMask),
  'close code 999': frame(0x8, Buffer.from([0x03, 0xe7]), noMask),
  'message over maxPayload': frame(0x2, Buffer.alloc(2000), noMask),
  'a frame over 8 reads': pieces(frame(0x2, Buffer.alloc(40, 1), noMask), 8)
};

/** A raw server that answers the upgrade and then writes `input`. */
async function rawServer(input) {
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      if (socket.upgraded) return;
      socket.upgraded = true;
      const key = /sec-websocket-key: (.*)\r\n/i.exec(buf)[1];
      const accept = acceptFor(key);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`
      );
      writePieces(socket, input);
      server.wireCode = readCloseCode(socket);
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function clientScenario(impl, input) {
  const server = await rawServer(input);
  const ws = new impls[impl](`ws://127.0.0.1:${server.address().port}`, { maxPayload: 1000, maxBufferedChunks: 3 });
  const events = [];
  ws.on('open', () => events.push(['open']));
  ws.on('error', (err) => events.push(['error', err.constructor.name, err.message, err.code]));
  ws.on('message', (d) => events.push(['message', d.toString()]));
  // (events.once would reject on 'error'.)
  const [code, reason] = await new Promise((resolve) => ws.on('close', (...args) => resolve(args)));
  events.push(['close', code, reason.toString()]);
  const wireCode = await server.wireCode;
  server.close();
  return { wireCode, events };
}

for (const [name, input] of Object.entries(serverInputs)) {
  test(`client receives ${name}: ws-rs answers as ws does`, async () => {
    const expected = await clientScenario('ws', input);
    const actual = await clientScenario('ws-rs', input);
    assert.deepStrictEqual(actual, expected);
    if (name.includes('over 8 reads')) assert.ok(expected.events.some((e) => e[2] === 'Too many buffered chunks'));
  });
}
