'use strict';

// Soak and fault tests (bounded, loopback): many connections opened and dropped, a
// client that never reads, a ping flood whose pongs are never read, and random
// protocol faults after a valid handshake. The process lives, descriptors and heap
// come back, memory stays bounded, and faults get ws's answer.

const test = require('node:test');
const assert = require('assert');
const net = require('net');
const path = require('path');
const { fork } = require('child_process');
const { once } = require('events');

const { startServer, stopServer, rawClient, frame, readCloseCode, connect, same, seeded, UPGRADE_REQUEST } = require('./helpers');

const MiB = 1024 * 1024;

async function startSoakServer(impl) {
  const child = fork(path.join(__dirname, 'fixtures', 'soak-server.js'), [impl], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  });
  const [{ port }] = await once(child, 'message');
  const stats = async () => {
    child.send('stats');
    return (await once(child, 'message'))[0];
  };
  const stop = async () => {
    child.send('exit');
    await once(child, 'exit');
  };
  return { child, port, stats, stop };
}

/**
 * One connection's life: handshake, then (by `i`) a reset right away, a reset in the
 * middle of a frame, a reset with a message in flight, or a clean close.
 */
function oneConnection(port, i) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('close', resolve);
    socket.once('connect', () => socket.write(UPGRADE_REQUEST));
    socket.once('data', () => {
      switch (i % 4) {
        case 0:
          socket.resetAndDestroy();
          break;
        case 1:
          socket.write(frame(0x2, Buffer.alloc(100)).subarray(0, 40));
          setImmediate(() => socket.resetAndDestroy());
          break;
        case 2:
          socket.write(frame(0x1, 'hello'));
          socket.resetAndDestroy();
          break;
        default:
          socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
          socket.end();
      }
    });
  });
}

async function churn(port, total, concurrency) {
  let next = 0;
  const worker = async () => {
    while (next < total) await oneConnection(port, next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

test('20k connections opened and dropped (half reset abruptly): descriptors back, heap flat', { timeout: 180000 }, async () => {
  const server = await startSoakServer('ws-rs');
  try {
    await churn(server.port, 2000, 32);
    await new Promise((r) => setTimeout(r, 300));
    const before = await server.stats();
    const start = Date.now();
    await churn(server.port, 20000, 32);
    const seconds = (Date.now() - start) / 1000;
    let after = await server.stats();
    for (let i = 0; i < 20 && (after.clients > 0 || after.fds > before.fds); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await server.stats();
    }
    const detail = JSON.stringify({ before, after, seconds });
    if (process.env.SOAK_REPORT) console.log(detail);
    assert.strictEqual(after.clients, 0, detail);
    assert.strictEqual(after.fds, before.fds, `descriptors back to the start: ${detail}`);
    assert.ok(after.heap - before.heap < 4 * MiB, `heap flat after GC: ${detail}`);
  } finally {
    await server.stop();
  }
});

test('a client that never reads: memory bounded by what the app keeps buffered', { timeout: 60000 }, async () => {
  const server = await startSoakServer('ws-rs');
  try {
    const before = await server.stats();
    const { socket } = await rawClient(server.port, '/push');
    socket.pause();
    await new Promise((r) => setTimeout(r, 2000));
    const after = await server.stats();
    socket.destroy();
    const detail = JSON.stringify({ before, after });
    if (process.env.SOAK_REPORT) console.log(detail);
    // The app stopped at its limit (4 MiB) once the kernel's buffers were full.
    assert.ok(after.buffered >= 4 * MiB, detail);
    assert.ok(after.pushed < 64 * MiB, `sending stopped: ${detail}`);
    assert.ok(after.rss - before.rss < 48 * MiB, `RSS bounded: ${detail}`);
  } finally {
    await server.stop();
  }
});

test('a ping flood whose pongs are never read: terminated after maxPendingAutoPongs as in ws; bounded', { timeout: 60000 }, async () => {
  const rssGrowth = {};
  await same(async (impl) => {
    const server = await startSoakServer(impl);
    try {
      const before = await server.stats();
      const { socket } = await rawClient(server.port, '/');
      let error = null;
      socket.on('error', (err) => (error = err.code));
      socket.pause();
      const ping = frame(0x9, Buffer.alloc(125, 1));
      const burst = Buffer.concat(Array(400).fill(ping));
      const end = Date.now() + 2000;
      while (Date.now() < end && !socket.destroyed) {
        if (!socket.write(burst)) {
          await Promise.race([once(socket, 'drain').catch(() => {}), new Promise((r) => setTimeout(r, end - Date.now()))]);
        }
      }
      const echo = await connect('ws', `ws://127.0.0.1:${server.port}/echo`);
      echo.send('alive');
      const [data] = await once(echo, 'message');
      echo.terminate();
      const after = await server.stats();
      socket.destroy();
      rssGrowth[impl] = after.rss - before.rss;
      // A reset seen on a write is ECONNRESET, or EPIPE once the reset was already taken.
      return { terminated: error === 'ECONNRESET' || error === 'EPIPE', echoed: String(data) };
    } finally {
      await server.stop();
    }
  });
  assert.ok(rssGrowth['ws-rs'] < 48 * MiB, `RSS bounded: ${JSON.stringify(rssGrowth)}`);
});

// Pieces of a faulty stream: some valid, most a protocol fault ws has a rule for.
const pieces = [
  (r) => frame(0x1, 'x'.repeat(r(200))),
  (r) => frame(0x2, Buffer.alloc(r(70000), 3)),
  (r) => frame(0x9, Buffer.alloc(r(126))),
  () => frame(0x1, Buffer.from([0xc3, 0x28])),
  () => frame(0x1, Buffer.from([0xf0, 0x90, 0x80])),
  (r) => frame(0x8, Buffer.from([r(256), r(256)])),
  () => frame(0x8, Buffer.from([0x03, 0xe8, 0xc0])),
  (r) => frame(0x3 + r(5), 'a'),
  (r) => frame(0x1, 'a', { rsv: 0x10 << r(3) }),
  () => frame(0x2, 'a', { mask: null }),
  () => frame(0x0, 'a'),
  () => frame(0x1, 'a', { fin: false }),
  (r) => frame(0x0, 'b', { fin: r(2) === 0 }),
  (r) => frame(0x2, Buffer.alloc(300)).subarray(0, r(300)),
  (r) => Buffer.from(Array.from({ length: 1 + r(40) }, () => r(256)))
];

test('random protocol faults after a valid handshake: ws\'s error and close code, process lives', { timeout: 120000 }, async () => {
  const seeds = Array.from({ length: 60 }, (_, i) => i + 1);
  await same(async (impl) => {
    const { wss } = await startServer(impl, { maxPayload: 65536 });
    const port = wss.address().port;
    const outcomes = [];
    for (const seed of seeds) {
      const r = seeded(seed);
      const stream = Buffer.concat(Array.from({ length: 1 + r(3) }, () => pieces[r(pieces.length)](r)));
      const closed = new Promise((resolve) =>
        wss.once('connection', (ws) => {
          let error = null;
          ws.on('error', (err) => (error = `${err.code} ${err.message}`));
          ws.on('message', () => {});
          ws.on('close', (code) => resolve([seed, code, error]));
        })
      );
      const { socket, head } = await rawClient(port);
      socket.on('error', () => {});
      // The close code the server sends on the wire, if it answers within 150 ms.
      const wire = readCloseCode(socket, head);
      socket.write(stream);
      const code = await Promise.race([wire, new Promise((r) => setTimeout(() => r('none'), 150))]);
      socket.end();
      outcomes.push([...(await closed), code]);
      socket.destroy();
    }
    const ws = await connect(impl, `ws://127.0.0.1:${port}`);
    ws.terminate();
    await stopServer(wss);
    if (process.env.SOAK_REPORT) console.log(impl, JSON.stringify(outcomes.map((o) => o[1] + ' ' + o[3] + ' ' + (o[2] || '').split(' ')[0])));
    return outcomes;
  });
});
