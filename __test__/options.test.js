'use strict';

// Connection options shared by both roles, each scenario run with ws and ws-rs as
// the side under test (a raw peer on the other end) and compared: autoPong,
// maxPendingAutoPongs, closeTimeout, skipUTF8Validation; and the client's
// connection-level options (createConnection, lookup, TLS verification).

const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const https = require('https');
const net = require('net');
const path = require('path');
const { once } = require('events');

const { impls, same, rawClient, frame, startServer, stopServer, collect } = require('./helpers');

/**
 * A server of `impl` with `options`; a raw client sends `bytes` after the
 * handshake, and reports what came back (frame opcodes and the close code) and
 * what the server-side socket emitted, within `wait` ms.
 */
async function serverSide(impl, options, bytes, wait = 300) {
  const { wss, url } = await startServer(impl, options);
  const events = [];
  wss.on('connection', (ws) => {
    ws.on('ping', (d) => events.push(`ping ${d}`));
    ws.on('message', (d) => events.push(`message ${d.toString('hex')}`));
    ws.on('error', (e) => events.push(`error ${e.message}`));
    ws.on('close', (code) => events.push(`close ${code}`));
  });
  const { socket, head } = await rawClient(new URL(url).port);
  let received = head;
  socket.on('data', (c) => (received = Buffer.concat([received, c])));
  socket.on('error', () => {});
  socket.write(bytes);
  await new Promise((resolve) => setTimeout(resolve, wait));
  const opcodes = [];
  for (let i = 0; i + 1 < received.length; ) {
    const len = received[i + 1] & 0x7f;
    opcodes.push(received[i] & 0x0f);
    i += 2 + len;
  }
  socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await stopServer(wss);
  return { opcodes, events };
}

const pings = (n) => Buffer.concat(Array.from({ length: n }, (_, i) => frame(0x9, `p${i}`)));

test('options: autoPong true answers every ping, false answers none', async () => {
  for (const autoPong of [true, false]) {
    await same((impl) => serverSide(impl, { autoPong }, pings(3)));
  }
});

test('options: maxPendingAutoPongs terminates a peer that floods pings', async () => {
  // With the default 60, 200 pings in one burst overrun the pending replies in ws;
  // both must end the connection the same way.
  const result = await same((impl) => serverSide(impl, { maxPendingAutoPongs: 2 }, pings(200), 500));
  assert.ok(result.events.includes('close 1006'), JSON.stringify(result.events));
});

test('options: skipUTF8Validation lets invalid text through', async () => {
  const bad = frame(0x1, Buffer.from([0xff, 0xfe]));
  for (const skipUTF8Validation of [false, true]) {
    await same((impl) => serverSide(impl, { skipUTF8Validation }, bad));
  }
});

test('options: closeTimeout destroys a connection whose peer never answers the close', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl, { closeTimeout: 200 });
    const closed = new Promise((resolve) =>
      wss.on('connection', (ws) => {
        const start = Date.now();
        ws.close(1000);
        ws.on('close', (code) => resolve([code, Date.now() - start >= 150]));
      })
    );
    const { socket } = await rawClient(new URL(url).port);
    socket.on('error', () => {});
    const result = await closed;
    socket.destroy();
    await stopServer(wss);
    return result;
  });
});

test('options: client createConnection and lookup are used as ws uses them', async () => {
  const { wss, url } = await startServer('ws');
  const port = new URL(url).port;
  await same(async (impl) => {
    const calls = [];
    const ws = new impls[impl](`ws://example.invalid:${port}`, {
      lookup: (hostname, options, cb) => {
        calls.push(`lookup ${hostname}`);
        if (options.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
        else cb(null, '127.0.0.1', 4);
      }
    });
    await once(ws, 'open');
    ws.close();
    await once(ws, 'close');
    const ws2 = new impls[impl](`ws://anything:${port}`, {
      createConnection: (options) => {
        calls.push(`createConnection ${options.host}`);
        return net.connect(Number(port), '127.0.0.1');
      }
    });
    await once(ws2, 'open');
    ws2.close();
    await once(ws2, 'close');
    return calls;
  });
  await stopServer(wss);
});

test('options: TLS verification (self-signed refused by default, accepted with rejectUnauthorized false)', async () => {
  const tlsOptions = {
    cert: fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem')),
    key: fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'))
  };
  const server = https.createServer(tlsOptions);
  new impls.ws.WebSocketServer({ server });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `wss://localhost:${server.address().port}`;
  await same(async (impl) => {
    const log = [];
    for (const options of [{}, { rejectUnauthorized: false }, { ca: tlsOptions.cert, servername: 'localhost' }]) {
      const ws = new impls[impl](url, options);
      ws.on('error', (e) => log.push(`error ${e.code}`));
      ws.on('open', () => {
        log.push('open');
        ws.close();
      });
      await new Promise((resolve) => ws.on('close', resolve));
    }
    return log;
  });
  server.close();
});

test("send() reads its options as ws's spread does: own enumerable properties only, explicit undefined counts", async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const variants = [
      undefined,
      {},
      { binary: true },
      { binary: undefined },
      { binary: 0 },
      Object.create({ binary: true }),
      Object.defineProperty({}, 'binary', { get: () => 'yes', enumerable: true }),
      Object.defineProperty({}, 'binary', { value: true, enumerable: false }),
      { fin: undefined },
      'not an object',
      7
    ];
    wss.on('connection', (ws) => {
      for (const options of variants) ws.send('x', options);
      // A fin: undefined above left a fragment open; close the message.
      ws.send(Buffer.from('end'), { fin: true });
    });
    const client = new impls.ws(url);
    const got = await collect(client, variants.length);
    client.terminate();
    await stopServer(wss);
    return got.map(([data, isBinary]) => [String(data), isBinary]);
  });
});
