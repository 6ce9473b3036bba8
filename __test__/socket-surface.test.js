'use strict';

// What code and tests do with `ws._socket` beyond the WebSocket API, on the socket
// stand-in of connections Rust serves, compared with ws's real net.Socket: 'data'
// listeners see the bytes as read (the head after the handshake included), `push`
// feeds bytes as if read, `resetAndDestroy` resets the connection and the peer's
// socket reports ECONNRESET, and an END queued behind a Blob still goes out.

const test = require('node:test');
const assert = require('assert');
const { once } = require('events');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { impls, startServer, stopServer } = require('./helpers');

const WS_RS_IO = ['loop', 'threads'];

/** Runs `scenario(impl)` for ws and ws-rs and checks that both give `expected`. */
async function sideBySide(scenario) {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) results[impl] = await scenario(impl);
  assert.deepStrictEqual(results['ws-rs'], results.ws);
  return results.ws;
}

test("'data' on ws._socket sees the bytes as read, in both roles, before the message they carry", async () => {
  const result = await sideBySide(async (impl) => {
    const { wss, url } = await startServer(impl);
    const seen = [];
    const serverDone = new Promise((resolve) => {
      wss.on('connection', (ws) => {
        const chunks = [];
        ws._socket.prependListener('data', (chunk) => chunks.push(Buffer.from(chunk)));
        ws.on('message', (data) => {
          const raw = Buffer.concat(chunks);
          // A masked client frame: 0x82, 0x80 | length, 4 key bytes, payload.
          seen.push(['server', raw[0], raw[1], raw.length, String(data)]);
          ws.close(4000, 'bye');
        });
        ws.on('close', resolve);
      });
    });
    const ws = new impls[impl](url, { generateMask: (mask) => mask.fill(0) });
    await once(ws, 'open');
    let sent;
    ws._socket.once('data', (chunk) => {
      sent = Buffer.from(chunk);
    });
    ws.send(Buffer.from('hello'));
    const [code] = await once(ws, 'close');
    await serverDone;
    seen.push(['client', code, [...sent.subarray(0, 4)], sent.subarray(4).toString()]);
    await stopServer(wss);
    return seen;
  });
  assert.deepStrictEqual(result[0], ['server', 0x82, 0x85, 11, 'hello']);
});

test("'data' on ws._socket gets what arrived right behind the 101 (the head)", async () => {
  await sideBySide(async (impl) => {
    const { wss, url } = await startServer(impl);
    wss.on('connection', (ws) => ws.send('greeting'));
    const ws = new impls[impl](url);
    let raw = null;
    ws.on('open', () => ws._socket.once('data', (chunk) => (raw = Buffer.from(chunk))));
    const [data] = await once(ws, 'message');
    ws.close();
    await once(ws, 'close');
    await stopServer(wss);
    return [String(data), raw && raw.toString('latin1')];
  });
});

for (const io of WS_RS_IO) {
  test(`ws._socket.push feeds bytes as if read; push(null) is the peer's end (${io})`, async () => {
    const { Sender } = impls.ws;
    const frames = (...list) =>
      Buffer.concat(list.flatMap(([opcode, data]) => Sender.frame(data, { fin: true, opcode, mask: true, readOnly: false })));
    await sideBySide(async (impl) => {
      // Compression puts ws-rs's connections on the io threads.
      const { wss, url } = await startServer(impl, { perMessageDeflate: io === 'threads' });
      const events = [];
      const done = new Promise((resolve) => {
        wss.on('connection', (ws) => {
          ws.on('message', (data, isBinary) => events.push(['message', String(data), isBinary]));
          ws.on('close', (code) => {
            events.push(['close', code]);
            resolve();
          });
          ws._socket.push(frames([1, Buffer.from('pushed')], [2, Buffer.from([1, 2])], [8, Buffer.from([0x0f, 0xa0])]));
        });
      });
      const ws = new impls[impl](url, { perMessageDeflate: io === 'threads' });
      ws.on('close', (code) => events.push(['client close', code]));
      await done;
      if (ws.readyState !== ws.CLOSED) await once(ws, 'close');
      // The peer's end: the connection closes as when a FIN arrives.
      const { wss: wss2, url: url2 } = await startServer(impl, { perMessageDeflate: io === 'threads' });
      const ended = new Promise((resolve) => {
        wss2.on('connection', (s) => {
          s.on('close', (code) => resolve(code));
          s._socket.push(null);
        });
      });
      const ws2 = new impls[impl](url2, { perMessageDeflate: io === 'threads' });
      ws2.on('error', () => {});
      events.push(['after push(null)', await ended]);
      ws2.terminate();
      await stopServer(wss);
      await stopServer(wss2);
      return events.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    });
  });

  test(`resetAndDestroy resets the connection: the peer's ws._socket emits ECONNRESET, both close 1006 (${io})`, async () => {
    await sideBySide(async (impl) => {
      const { wss, url } = await startServer(impl, { perMessageDeflate: io === 'threads' });
      const ws = new impls[impl](url, { perMessageDeflate: io === 'threads' });
      const [server] = await once(wss, 'connection');
      if (ws.readyState !== ws.OPEN) await once(ws, 'open');
      const serverClosed = once(server, 'close');
      const socketError = once(ws._socket, 'error');
      let wsError = null;
      ws.on('error', (err) => (wsError = err));
      const clientClosed = once(ws, 'close');
      server._socket.resetAndDestroy();
      const [err] = await socketError;
      const [code] = await clientClosed;
      const [serverCode] = await serverClosed;
      await stopServer(wss);
      return [err.code, err.syscall, err.errno < 0, code, serverCode, wsError];
    });
  });
}

test('an END queued behind a Blob still goes out: the peer ends while a file Blob is read, and both close', async () => {
  const file = path.join(os.tmpdir(), `ws-rs-blob-${process.pid}.bin`);
  fs.writeFileSync(file, Buffer.alloc(1024 * 1024, 1));
  try {
    const blob = await fs.openAsBlob(file);
    for (const impl of ['ws', 'ws-rs']) {
      const { wss, url } = await startServer(impl);
      wss.on('connection', (ws) => ws._socket.end());
      const ws = new impls[impl](url);
      await once(ws, 'open');
      ws.on('error', () => {});
      ws.send(blob, () => {});
      const timeout = setTimeout(() => ws.emit('timed out'), 5000);
      const [event] = await Promise.race([once(ws, 'close').then(() => ['close']), once(ws, 'timed out').then(() => ['timed out'])]);
      clearTimeout(timeout);
      assert.strictEqual(event, 'close', `${impl}: the client closes`);
      await stopServer(wss);
    }
  } finally {
    fs.unlinkSync(file);
  }
});
