'use strict';

// Per-environment state: ws-rs works inside worker_threads, and a Worker that is
// terminated takes its connections with it.

const { test } = require('node:test');
const assert = require('node:assert');
const { Worker } = require('worker_threads');
const { once } = require('events');

const { startServer, stopServer, UPGRADE_REQUEST } = require('./helpers');

const entry = JSON.stringify(require.resolve('..'));

test('a Worker runs its own server and client and exits cleanly', async () => {
  const worker = new Worker(
    `
    const { parentPort } = require('worker_threads');
    const WebSocket = require(${entry});
    const wss = new WebSocket.WebSocketServer({ port: 0, host: '127.0.0.1' }, () => {
      const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
      ws.on('open', () => ws.send('from worker'));
      ws.on('message', (d) => { parentPort.postMessage(d.toString()); ws.close(); });
      ws.on('close', () => wss.close());
    });
    wss.on('connection', (s) => s.on('message', (d) => s.send('echo ' + d)));
    `,
    { eval: true }
  );
  // Listen for 'exit' first: a Worker that exits right after posting has its last
  // messages and 'exit' emitted in the same turn, before an await could re-listen.
  const exited = once(worker, 'exit');
  const [message] = await once(worker, 'message');
  assert.strictEqual(message, 'echo from worker');
  const [code] = await exited;
  assert.strictEqual(code, 0);
});

test('main thread and a Worker use ws-rs at the same time', async () => {
  const { wss, url } = await startServer('ws-rs');
  wss.on('connection', (s) => s.on('message', (d) => s.send(d)));
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('worker_threads');
    const WebSocket = require(${entry});
    const ws = new WebSocket(workerData);
    let n = 0;
    ws.on('open', () => { for (let i = 0; i < 1000; i++) ws.send('m' + i); });
    ws.on('message', () => { if (++n === 1000) { parentPort.postMessage(n); ws.close(); } });
    `,
    { eval: true, workerData: url }
  );
  const exited = once(worker, 'exit');
  const [count] = await once(worker, 'message');
  assert.strictEqual(count, 1000);
  await exited;
  await stopServer(wss);
});

test('terminating a Worker closes its connections', async () => {
  const { wss, url } = await startServer('ws');
  const serverClosed = new Promise((resolve) => {
    wss.on('connection', (s) => {
      s.on('close', (code) => resolve(code));
      s.send('hello');
    });
  });
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('worker_threads');
    const WebSocket = require(${entry});
    const ws = new WebSocket(workerData);
    ws.on('message', () => parentPort.postMessage('open'));
    `,
    { eval: true, workerData: url }
  );
  await once(worker, 'message');
  await worker.terminate();
  assert.strictEqual(await serverClosed, 1006);
  await stopServer(wss);
});

/** Waits for the Worker's "sent <bufferedAmount>" (more than 0), then terminates it. */
async function terminateOnceSent(worker) {
  const [sent] = await once(worker, 'message');
  assert.match(sent, /^sent [1-9]/);
  const exited = once(worker, 'exit');
  await worker.terminate();
  await exited;
}

test('a Worker terminated while a large payload waits for a slow reader goes cleanly', async () => {
  const net = require('net');
  const worker = new Worker(
    `
    const { parentPort } = require('worker_threads');
    const WebSocket = require(${entry});
    const wss = new WebSocket.WebSocketServer({ port: 0, host: '127.0.0.1' }, () =>
      parentPort.postMessage(wss.address().port)
    );
    const big = Buffer.alloc(4 * 1024 * 1024, 1);
    wss.on('connection', (s) => {
      for (let i = 0; i < 4; i++) s.send(big);
      parentPort.postMessage('sent ' + s.bufferedAmount);
    });
    `,
    { eval: true }
  );
  const [port] = await once(worker, 'message');
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(UPGRADE_REQUEST);
  socket.pause();
  // The payload is still pinned for the reader that never reads: the environment's
  // teardown must release it without touching references it already freed.
  await terminateOnceSent(worker);
  socket.destroy();
});

test('a Worker terminated while large compressed messages are being compressed goes cleanly', async () => {
  const worker = new Worker(
    `
    const { parentPort } = require('worker_threads');
    const WebSocket = require(${entry});
    const wss = new WebSocket.WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } }, () =>
      parentPort.postMessage(wss.address().port)
    );
    // Random bytes compress slowly: the io threads are still reading this Buffer
    // (pinned, not copied) when the Worker goes.
    const big = require('crypto').randomBytes(8 * 1024 * 1024);
    wss.on('connection', (s) => {
      for (let i = 0; i < 4; i++) s.send(big);
      parentPort.postMessage('sent ' + s.bufferedAmount);
    });
    `,
    { eval: true }
  );
  const [port] = await once(worker, 'message');
  const client = new (require('ws'))(`ws://127.0.0.1:${port}`, { perMessageDeflate: { threshold: 0 } });
  client.on('error', () => {});
  await terminateOnceSent(worker);
  client.terminate();
});
