'use strict';

// Messages both ways between ws-rs and ws (and ws-rs with itself): every payload size
// class, fragmented input, ping/pong, and ordering under pipelining.

const { test } = require('node:test');
const assert = require('node:assert');
const { once } = require('events');

const { impls, pairs, startServer, connect, stopServer, collect } = require('./helpers');

for (const [serverImpl, clientImpl] of pairs) {
  const label = `${serverImpl} server <-> ${clientImpl} client`;

  test(`${label}: echo of text, binary and edge sizes`, async () => {
    const { wss, url } = await startServer(serverImpl);
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const ws = await connect(clientImpl, url);

    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537, 3 * 1024 * 1024 + 11];
    const payloads = [];
    payloads.push('hello', '', 'κόσμε 𝄞');
    for (const size of sizes) {
      const buf = Buffer.alloc(size);
      for (let i = 0; i < size; i++) buf[i] = (i * 7) & 0xff;
      payloads.push(buf);
    }
    payloads.push('x'.repeat(70000));

    const done = collect(ws, payloads.length);
    for (const p of payloads) ws.send(p);
    const got = await done;

    for (let i = 0; i < payloads.length; i++) {
      const [data, isBinary] = got[i];
      const sent = payloads[i];
      assert.strictEqual(isBinary, typeof sent !== 'string', `message ${i} type`);
      assert.ok(Buffer.isBuffer(data));
      assert.ok(data.equals(Buffer.from(sent)), `message ${i} content (${Buffer.from(sent).length} bytes)`);
    }

    ws.close();
    await once(ws, 'close');
    await stopServer(wss);
  });

  test(`${label}: fragmented sends arrive as one message`, async () => {
    const { wss, url } = await startServer(serverImpl);
    const serverGot = new Promise((resolve) => {
      wss.on('connection', (ws) => {
        ws.on('message', (data, isBinary) => resolve([data.toString(), isBinary]));
        ws.send('ab', { fin: false });
        ws.ping('interleaved');
        ws.send('cd', { fin: false });
        ws.send('ef', { fin: true });
      });
    });
    const ws = new impls[clientImpl](url);
    const clientGot = collect(ws, 1);
    await once(ws, 'open');
    ws.send(Buffer.from('12'), { fin: false });
    ws.send(Buffer.from('34'), { fin: true });

    assert.deepStrictEqual(await serverGot, ['1234', true]);
    const [[data, isBinary]] = await clientGot;
    assert.deepStrictEqual([data.toString(), isBinary], ['abcdef', false]);

    ws.close();
    await once(ws, 'close');
    await stopServer(wss);
  });

  test(`${label}: ping and pong with payloads, autoPong`, async () => {
    const { wss, url } = await startServer(serverImpl);
    const serverEvents = [];
    const serverSide = new Promise((resolve) => {
      wss.on('connection', (ws) => {
        ws.on('ping', (d) => serverEvents.push(['ping', d.toString()]));
        ws.on('pong', (d) => {
          serverEvents.push(['pong', d.toString()]);
          resolve();
        });
        ws.ping('from-server');
      });
    });
    const ws = new impls[clientImpl](url);
    const clientPing = once(ws, 'ping');
    await once(ws, 'open');
    const pong = once(ws, 'pong');
    ws.ping('from-client');
    assert.strictEqual((await pong)[0].toString(), 'from-client');
    assert.strictEqual((await clientPing)[0].toString(), 'from-server');
    await serverSide;
    assert.deepStrictEqual(serverEvents.find((e) => e[0] === 'pong'), ['pong', 'from-server']);

    ws.close();
    await once(ws, 'close');
    await stopServer(wss);
  });

  test(`${label}: 10k messages pipelined before the first reply, none lost or reordered`, async () => {
    const { wss, url } = await startServer(serverImpl);
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const ws = await connect(clientImpl, url);
    const n = 10000;
    const done = collect(ws, n);
    for (let i = 0; i < n; i++) ws.send(i % 2 ? `m${i}` : Buffer.from(`m${i}`));
    const got = await done;
    for (let i = 0; i < n; i++) {
      assert.strictEqual(got[i][0].toString(), `m${i}`);
      assert.strictEqual(got[i][1], i % 2 === 0);
    }
    ws.close();
    await once(ws, 'close');
    await stopServer(wss);
  });

  test(`${label}: send callbacks run in order and bufferedAmount returns to 0`, async () => {
    const { wss, url } = await startServer(serverImpl);
    const ws = await connect(clientImpl, url);
    const order = [];
    await new Promise((resolve) => {
      ws.send('a', () => order.push(1));
      ws.send(Buffer.alloc(100000), () => order.push(2));
      ws.ping('p', undefined, () => order.push(3));
      assert.ok(ws.bufferedAmount >= 0);
      ws.send('z', (err) => {
        assert.ifError(err);
        order.push(4);
        resolve();
      });
    });
    assert.deepStrictEqual(order, [1, 2, 3, 4]);
    assert.strictEqual(ws.bufferedAmount, 0);
    ws.close();
    await once(ws, 'close');
    await stopServer(wss);
  });
}

test('ws-rs: binaryType arraybuffer and fragments', async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (ws) => {
    ws.send(Buffer.from([1, 2, 3]));
    ws.send(Buffer.from([4, 5]));
  });
  const ws = new impls['ws-rs'](url);
  ws.binaryType = 'arraybuffer';
  const got = [];
  await new Promise((resolve) => {
    ws.on('message', (data) => {
      got.push(data);
      if (got.length === 1) ws.binaryType = 'fragments';
      if (got.length === 2) resolve();
    });
  });
  assert.ok(got[0] instanceof ArrayBuffer);
  assert.deepStrictEqual([...new Uint8Array(got[0])], [1, 2, 3]);
  assert.ok(Array.isArray(got[1]));
  assert.deepStrictEqual([...Buffer.concat(got[1])], [4, 5]);
  ws.close();
  await once(ws, 'close');
  await stopServer(wss);
});
