'use strict';

// Hostile options and hostile conditions: odd `maxPayload` values, running out of
// file descriptors at adoption, peers that vanish before the 101 is written, and
// adversarial handshake headers. Each outcome is ws's (run side by side), and the
// process lives.

const test = require('node:test');
const assert = require('assert');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const { once } = require('events');

const { impls, startServer, stopServer, connect, rawClient, same, seeded, until, forkBroadcaster, UPGRADE_REQUEST } = require('./helpers');

const wsLib = (name) => require(path.join(require.resolve('ws'), '..', 'lib', name));

/** Echo server of `impl` with `options`; one client of `impl` sends `payload`. */
async function echoOnce(impl, serverOptions, clientOptions, payload) {
  const { wss, url } = await startServer(impl, serverOptions);
  const serverSide = new Promise((resolve) =>
    wss.on('connection', (ws) => {
      let error;
      ws.on('error', (err) => (error = `${err.constructor.name}: ${err.message} (${err.code})`));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('close', (code) => resolve({ code, error }));
    })
  );
  const ws = await connect(impl, url, clientOptions);
  const result = await new Promise((resolve) => {
    let error;
    ws.on('error', (err) => (error = `${err.constructor.name}: ${err.message} (${err.code})`));
    ws.on('message', (data) => resolve({ echoed: data.length }));
    ws.on('close', (code) => resolve({ closed: code, error }));
    ws.send(payload);
  });
  ws.terminate();
  result.server = await serverSide;
  await stopServer(wss);
  return result;
}

// A message that deflates to almost nothing: the case that once spun an io thread.
const compressible = Buffer.alloc(300 * 1024, 'a');

for (const maxPayload of [Infinity, -Infinity, NaN, -1, 2 ** 32 + 1000, 2 ** 31, '1000', 'lots', null, {}]) {
  test(`maxPayload ${String(maxPayload)} with permessage-deflate: as ws, no hang`, { timeout: 20000 }, async () => {
    const options = { maxPayload, perMessageDeflate: { threshold: 0 } };
    await same((impl) => echoOnce(impl, options, options, compressible));
  });
}

test('maxPayload Infinity over TLS (bridged) with permessage-deflate: as ws, no hang', { timeout: 20000 }, async () => {
  const https = require('https');
  const fs = require('fs');
  const tls = {
    cert: fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem')),
    key: fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'))
  };
  await same(async (impl) => {
    const server = https.createServer(tls);
    const options = { maxPayload: Infinity, perMessageDeflate: { threshold: 0 } };
    const wss = new impls[impl].WebSocketServer({ server, ...options });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ws = new impls[impl](`wss://127.0.0.1:${server.address().port}`, { ...options, rejectUnauthorized: false });
    await once(ws, 'open');
    ws.send(compressible);
    const [data] = await once(ws, 'message');
    ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => server.close(resolve));
    return data.length;
  });
});

/** Runs fixtures/fd-limit.js under a low descriptor limit. */
function underFdLimit(impl, role, url, env = process.env) {
  const fixture = path.join(__dirname, 'fixtures', 'fd-limit.js');
  const child = spawn('bash', ['-c', `ulimit -n 256 && exec "$0" "$@"`, process.execPath, fixture, impl, role, url || ''], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env
  });
  child.stdout.setEncoding('utf8');
  return child;
}

async function firstLine(stream) {
  let text = '';
  while (!text.includes('\n')) text += (await once(stream, 'data'))[0];
  return text.split('\n')[0];
}

/** fd-limit.js's server scenario: two echoes, descriptors freed in between. */
async function echoUnderFdLimit(impl, env) {
  const child = underFdLimit(impl, 'server', '', env);
  const exited = once(child, 'exit');
  try {
    const port = Number(await firstLine(child.stdout));
    const url = `ws://127.0.0.1:${port}`;
    const first = await connect('ws', url);
    first.send('one');
    const [a] = await once(first, 'message');
    first.send('free');
    await once(first, 'message');
    const second = await connect('ws', url);
    second.send('two');
    const [b] = await once(second, 'message');
    first.close();
    second.close();
    await Promise.all([once(first, 'close'), once(second, 'close')]);
    assert.strictEqual(child.exitCode, null, 'the server process is alive');
    return [String(a), String(b)];
  } finally {
    child.kill();
    await exited;
  }
}

test('no descriptor left for the io runtime (WS_RS_IO=threads): the connection is served on the JS loop instead', { timeout: 30000 }, async () => {
  // The io runtime needs descriptors of its own; one that cannot start now is not
  // given up for good, and the connection does not wait for it.
  assert.deepStrictEqual(await echoUnderFdLimit('ws-rs', { ...process.env, WS_RS_IO: 'threads' }), ['one', 'two']);
});

test('no descriptor left for the io driver (server): the connection works, the server keeps serving', { timeout: 30000 }, async () => {
  await same((impl) => echoUnderFdLimit(impl, process.env));
});

test('no descriptor left to accept with: the server waits without spinning, then serves', { timeout: 30000 }, async () => {
  // ws-rs only: Node's libuv answers EMFILE by accepting and closing the waiting
  // connection with a spare descriptor; ws-rs leaves it in the backlog until
  // descriptors are free again (it retries every second), so the client is served.
  const child = underFdLimit('ws-rs', 'server-full');
  const exited = once(child, 'exit');
  try {
    const lines = [];
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      lines.splice(0, lines.length, ...text.split('\n').filter(Boolean));
    });
    await until(() => lines.length >= 1, 'the port');
    const url = `ws://127.0.0.1:${lines[0]}`;
    const client = new impls.ws(url);
    client.on('error', () => {});
    const [event] = await Promise.race([once(client, 'open').then(() => ['open']), once(client, 'close').then(() => ['close'])]);
    assert.strictEqual(event, 'open');
    assert.ok(lines.length >= 2, 'it opened after the descriptors were freed');
    assert.ok(Number(lines[1]) < 700, `CPU while out of descriptors: ${lines[1]} ms in 1500 ms`);
    client.send('hi');
    const [data] = await once(client, 'message');
    assert.strictEqual(String(data), 'hi');
    client.close();
    await once(client, 'close');
    assert.strictEqual(child.exitCode, null, 'the server process is alive');
  } finally {
    child.kill();
    await exited;
  }
});

test('no descriptor left for the io driver (client): the connection works', { timeout: 30000 }, async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  try {
    await same(async (impl) => {
      const child = underFdLimit(impl, 'client', url);
      const line = firstLine(child.stdout);
      const [code] = await once(child, 'exit');
      return [await line, code];
    });
  } finally {
    await stopServer(wss);
  }
});

test('peers that reset right after their upgrade request: the server lives and serves', { timeout: 30000 }, async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const port = wss.address().port;
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data) => ws.send(data));
    });
    for (let i = 0; i < 40; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write(UPGRADE_REQUEST + (i % 2 ? '\x81\x80\x01\x02\x03\x04' : ''));
      socket.resetAndDestroy();
    }
    const ws = await connect(impl, url);
    ws.send('still here');
    const [data] = await once(ws, 'message');
    ws.close();
    await stopServer(wss);
    return String(data);
  });
});

// Sec-WebSocket-Protocol and Sec-WebSocket-Extensions are parsed before verifyClient:
// they must take linear time on any input, and agree with ws's parsers.
const ours = { subprotocol: require('../lib/subprotocol'), extension: require('../lib/extension') };
const theirs = { subprotocol: wsLib('subprotocol.js'), extension: wsLib('extension.js') };

function verdict(parse, header) {
  try {
    const value = parse(header);
    return { ok: value instanceof Set ? [...value] : JSON.parse(JSON.stringify(value)) };
  } catch (err) {
    return { error: err.constructor.name };
  }
}

const alphabet = ['a', 'b', 'Z', '0', '-', '~', ' ', '\t', ',', ';', '=', '"', '\\', '/', '(', 'é', '\x7f', 'permessage-deflate', 'x=1', 'chat'];

test('Sec-WebSocket-Protocol / -Extensions parsers: same verdicts as ws on random headers', () => {
  const next = seeded(42);
  for (let i = 0; i < 20000; i++) {
    let header = '';
    const n = next(12);
    for (let j = 0; j < n; j++) header += alphabet[next(alphabet.length)];
    for (const kind of ['subprotocol', 'extension']) {
      assert.deepStrictEqual(verdict(ours[kind].parse, header), verdict(theirs[kind].parse, header), `${kind}: ${JSON.stringify(header)}`);
    }
  }
});

test('Sec-WebSocket-Protocol / -Extensions parsers: linear time on adversarial headers', () => {
  const size = 256 * 1024;
  const headers = [
    'a' + ' '.repeat(size) + 'b',
    ' '.repeat(size) + 'a',
    'a' + '\t '.repeat(size / 2) + ',',
    'a,'.repeat(size / 2),
    'a, '.repeat(size / 3),
    'a;b'.repeat(size / 3),
    'a; b="' + 'c'.repeat(size) + '"',
    'a; b="' + '\\c'.repeat(size / 2),
    'permessage-deflate; x=1,'.repeat(size / 24)
  ];
  for (const header of headers) {
    for (const kind of ['subprotocol', 'extension']) {
      const start = process.hrtime.bigint();
      verdict(ours[kind].parse, header);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      // Linear work on 256 KiB is a few ms; the quadratic trim took seconds.
      assert.ok(ms < 400, `${kind} took ${ms.toFixed(1)} ms on ${JSON.stringify(header.slice(0, 20))}...`);
    }
  }
});

test('one large Buffer sent to many clients that never read is held once, as in ws', { timeout: 60000 }, async () => {
  const clients = 40;
  const times = 8;
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const server = forkBroadcaster([impl]);
    try {
      const [{ port }] = await once(server, 'message');
      const sockets = [];
      for (let i = 0; i < clients; i++) {
        const { socket } = await rawClient(port);
        socket.on('error', () => {});
        socket.pause();
        sockets.push(socket);
      }
      server.send({ go: times });
      const [result] = await once(server, 'message');
      results[impl] = result;
      for (const s of sockets) s.destroy();
    } finally {
      server.kill();
    }
  }
  const MiB = 1024 * 1024;
  // What the kernel did not take waits in user space: far more than one payload.
  assert.ok(results['ws-rs'].buffered > 4 * MiB * clients, JSON.stringify(results));
  // Held once: the growth is a few payloads, not one per client (copies were ~200 MiB).
  assert.ok(results['ws-rs'].grew < 48 * MiB, `ws-rs grew ${(results['ws-rs'].grew / MiB).toFixed(1)} MiB (ws ${(results.ws.grew / MiB).toFixed(1)} MiB)`);
});

test('one large Buffer sent twice to many compressed clients is held once while it waits to be compressed', { timeout: 60000 }, async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const server = forkBroadcaster([impl, 'deflate']);
    const clients = [];
    try {
      const [{ port }] = await once(server, 'message');
      for (let i = 0; i < 200; i++) {
        const client = new impls.ws(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
        client.on('error', () => {});
        await once(client, 'open');
        clients.push(client);
      }
      // Each connection compresses its two 1 MiB messages in turn (ws-rs: on the io
      // threads); what waits must be the one Buffer, not a copy per connection (400 MiB).
      server.send({ go: 2 });
      [results[impl]] = await once(server, 'message');
    } finally {
      for (const c of clients) c.terminate();
      server.kill();
    }
  }
  const MiB = 1024 * 1024;
  const detail = `ws-rs peak ${(results['ws-rs'].peak / MiB).toFixed(1)} MiB (ws ${(results.ws.peak / MiB).toFixed(1)} MiB)`;
  assert.strictEqual(results['ws-rs'].clients, 200, detail);
  assert.ok(results['ws-rs'].peak < 96 * MiB, detail);
});

test('ws._socket.setKeepAlive and setNoDelay act on the adopted socket', { timeout: 20000 }, async () => {
  const { execFileSync } = require('child_process');
  const { wss, url } = await startServer('ws-rs');
  const port = wss.address().port;
  const serverSide = once(wss, 'connection');
  const client = await connect('ws', url);
  const [ws] = await serverSide;
  // `ss -o` shows a keepalive timer on the server's end once SO_KEEPALIVE is on.
  const timers = () => execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`]).toString();
  assert.doesNotMatch(timers(), /keepalive/);
  assert.strictEqual(ws._socket.setKeepAlive(true, 60000), ws._socket);
  assert.match(timers(), /timer:\(keepalive,(59|1min)/);
  ws._socket.setKeepAlive(false);
  assert.doesNotMatch(timers(), /keepalive/);
  assert.strictEqual(ws._socket.setNoDelay(false), ws._socket);
  ws._socket.setNoDelay();
  // Still a working connection.
  ws.send('after');
  const [data] = await once(client, 'message');
  assert.strictEqual(String(data), 'after');
  client.terminate();
  await stopServer(wss);
});

test('a small message a handler keeps pins at most a 64 KiB event arena, not a whole read arena', { timeout: 20000 }, async () => {
  const { wss, url } = await startServer('ws-rs');
  const kept = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      kept.push(data);
      ws.send(data);
    });
    ws.on('ping', (data) => kept.push(data));
  });
  const client = await connect('ws-rs', url);
  const echoes = [];
  client.on('message', (data) => echoes.push(data));
  client.ping('p');
  for (let i = 0; i < 50; i++) client.send(Buffer.alloc(i * 80 + 1, i));
  while (echoes.length < 50) await once(client, 'message');
  for (const data of [...kept, ...echoes]) {
    // ws's messages pin at most their 64 KiB socket read; the arenas messages are read
    // into are 256-512 KiB.
    assert.ok(data.buffer.byteLength <= 65536, `a ${data.length}-byte payload holds ${data.buffer.byteLength} bytes`);
  }
  client.terminate();
  await stopServer(wss);
});

for (const driver of ['js-loop', 'threads']) {
  test(`a listener that throws loses no other event (${driver} driver)`, { timeout: 30000 }, async () => {
    const { fork } = require('child_process');
    const env = { ...process.env };
    if (driver === 'threads') env.WS_RS_IO = 'threads';
    const child = fork(path.join(__dirname, 'fixtures', 'throwing-listener.js'), { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [report] = await once(child, 'message');
    await once(child, 'exit');
    assert.deepStrictEqual(report, {
      uncaught: ['listener failed'],
      closedOther: 20,
      echoes: ['m0', 'm1', 'm2', 'm3', 'm4']
    });
  });
}

test('require(\'ws-rs\').extension and .subprotocol answer as ws\'s exports', () => {
  const ws = require('ws');
  const ours = require('..');
  const headers = ['permessage-deflate; client_max_window_bits', 'a, b; c=1; c="2", a', 'chat, superchat', 'bad header;', ''];
  for (const header of headers) {
    for (const name of ['extension', 'subprotocol']) {
      assert.deepStrictEqual(verdict(ours[name].parse, header), verdict(ws[name].parse, header), `${name}: ${header}`);
    }
  }
  const offers = [{ foo: [{ a: [true], b: ['1', '2'] }, {}], bar: { c: 3 } }, { 'permessage-deflate': { server_no_context_takeover: true } }];
  for (const offer of offers) assert.strictEqual(ours.extension.format(offer), ws.extension.format(offer));
});

test('an empty Close, ping or message as the very first payload of a process', async () => {
  // The first payload copied out of the arenas may be empty (a bare Close frame).
  const { spawnSync } = require('child_process');
  const script = `
    const { WebSocketServer, WebSocket } = require(${JSON.stringify(require.resolve('..'))});
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => {
      const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
      ws.on('open', () => ws.close());
      ws.on('close', (code) => { console.log('closed ' + code); wss.close(); });
    });
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
  assert.strictEqual(r.stdout.trim(), 'closed 1005', r.stderr);
});
