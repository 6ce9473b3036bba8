'use strict';

// Every way a connection ends, run with ws-rs on one or both sides and compared with
// ws on both sides: the same close codes, reasons, event order and readyStates.

const { test } = require('node:test');
const assert = require('node:assert');
const net = require('net');

const { impls, pairs, startServer, stopServer, rawClient, frame, connect, same } = require('./helpers');

/** Records the lifecycle events of a WebSocket into `log` with a prefix. */
function record(ws, prefix, log) {
  ws.on('error', (err) => log.push(`${prefix} error ${err.message}`));
  ws.on('close', (code, reason) => log.push(`${prefix} close ${code} ${reason} ${ws.readyState}`));
}

/**
 * Runs `scenario(serverWs, clientWs)` once both ends are open; resolves to the log
 * once both have emitted 'close'.
 */
async function run(serverImpl, clientImpl, scenario) {
  const { wss, url } = await startServer(serverImpl);
  const log = [];
  const serverClosed = new Promise((resolve) => {
    wss.once('connection', (sws) => {
      record(sws, 'server', log);
      sws.on('close', resolve);
      sws.on('message', (d) => log.push(`server message ${d}`));
      wss.emit('ready', sws);
    });
  });
  const cws = new impls[clientImpl](url);
  record(cws, 'client', log);
  cws.on('message', (d) => log.push(`client message ${d}`));
  const clientClosed = new Promise((resolve) => cws.on('close', resolve));
  const [sws] = await Promise.all([
    new Promise((resolve) => wss.once('ready', resolve)),
    new Promise((resolve) => cws.once('open', resolve))
  ]);
  scenario(sws, cws);
  await Promise.all([serverClosed, clientClosed]);
  await stopServer(wss);
  return log.sort();
}

const scenarios = {
  'client closes with code and reason': (s, c) => c.close(4001, 'client bye'),
  'server closes with code and reason': (s) => s.close(4002, 'server bye'),
  'client closes without a code': (s, c) => c.close(),
  'server closes with 1000 and a Buffer reason': (s) => s.close(1000, Buffer.from('done')),
  'both close at once': (s, c) => {
    s.close(4003, 'a');
    c.close(4004, 'b');
  },
  'client terminates': (s, c) => c.terminate(),
  'server terminates': (s) => s.terminate(),
  'replies queued before a received close still go out': (s, c) => {
    s.on('message', (d) => s.send(`echo ${d}`));
    for (let i = 0; i < 5; i++) c.send(`m${i}`);
    c.close(1000);
  },
  'server sends then closes': (s) => {
    s.send('last words');
    s.close(1001, 'going away');
  }
};

for (const [name, scenario] of Object.entries(scenarios)) {
  test(`close: ${name}`, async () => {
    const expected = await run('ws', 'ws', scenario);
    for (const [serverImpl, clientImpl] of pairs) {
      const actual = await run(serverImpl, clientImpl, scenario);
      assert.deepStrictEqual(actual, expected, `${serverImpl} server, ${clientImpl} client`);
    }
  });
}

test('close: peer vanishes mid-frame', async () => {
  for (const impl of ['ws', 'ws-rs']) {
    const { wss, url } = await startServer(impl);
    const events = [];
    const closed = new Promise((resolve) => {
      wss.once('connection', (ws) => {
        ws.on('error', (e) => events.push(`error ${e.message}`));
        ws.on('message', () => events.push('message'));
        ws.on('close', (code, reason) => {
          events.push(`close ${code} ${reason}`);
          resolve();
        });
      });
    });
    const { socket } = await rawClient(new URL(url).port);
    socket.write(frame(0x2, Buffer.alloc(1000)).subarray(0, 500));
    setTimeout(() => socket.destroy(), 20);
    await closed;
    assert.deepStrictEqual(events, ['close 1006 '], impl);
    await stopServer(wss);
  }
});

test('close: invalid arguments throw as in ws', async () => {
  for (const impl of ['ws', 'ws-rs']) {
    const { wss, url } = await startServer(impl);
    const ws = new impls['ws-rs'](url);
    await new Promise((resolve) => ws.on('open', resolve));
    assert.throws(() => ws.close(1005), { name: 'TypeError', message: 'First argument must be a valid error code number' });
    assert.throws(() => ws.close('x'), { name: 'TypeError' });
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), {
      name: 'RangeError',
      message: 'The message must not be greater than 123 bytes'
    });
    assert.throws(() => ws.ping(Buffer.alloc(126)), {
      name: 'RangeError',
      message: 'The data size must not be greater than 125 bytes'
    });
    ws.close();
    await new Promise((resolve) => ws.on('close', resolve));
    await stopServer(wss);
  }
});

test('close: sends while CONNECTING throw, after CLOSING call back with an error', async () => {
  for (const impl of ['ws', 'ws-rs']) {
    const { wss, url } = await startServer('ws');
    const ws = new impls[impl](url);
    assert.throws(() => ws.send('x'), { message: 'WebSocket is not open: readyState 0 (CONNECTING)' });
    await new Promise((resolve) => ws.on('open', resolve));
    ws.close();
    assert.strictEqual(ws.readyState, impls[impl].CLOSING);
    const before = ws.bufferedAmount;
    const err = await new Promise((resolve) => ws.send('abc', resolve));
    assert.strictEqual(err.message, 'WebSocket is not open: readyState 2 (CLOSING)', impl);
    assert.strictEqual(ws.bufferedAmount, before + 3, impl);
    await new Promise((resolve) => ws.on('close', resolve));
    assert.strictEqual(ws.readyState, impls[impl].CLOSED);
    await stopServer(wss);
  }
});

test('close: close() while CONNECTING aborts the handshake as ws does', async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const server = net.createServer(() => {});
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ws = new impls[impl](`ws://127.0.0.1:${server.address().port}`);
    const log = [];
    ws.on('error', (e) => log.push(`error ${e.message}`));
    const closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        log.push(`close ${code}`);
        resolve();
      })
    );
    ws.close();
    await closed;
    results[impl] = log;
    server.close();
  }
  assert.deepStrictEqual(results['ws-rs'], results.ws);
});

test('send, ping and pong callbacks get null on success, as in ws', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const ws = await connect(impl, url);
    const args = await Promise.all([
      new Promise((resolve) => ws.send('x', (...a) => resolve(a))),
      new Promise((resolve) => ws.send(Buffer.alloc(20000), { binary: true }, (...a) => resolve(a))),
      new Promise((resolve) => ws.ping('x', undefined, (...a) => resolve(a))),
      new Promise((resolve) => ws.pong(undefined, undefined, (...a) => resolve(a)))
    ]);
    ws.terminate();
    await stopServer(wss);
    return args;
  });
});

test('terminate() while a Blob is being read: its callback and those behind it get ws\'s error', async () => {
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const ws = await connect(impl, url);
    const called = [];
    const done = new Promise((resolve) => {
      ws.send(new Blob(['foo']), (err) => called.push(['blob', ws.readyState, err && err.message]));
      ws.send('bar');
      ws.send('baz', (err) => {
        called.push(['baz', ws.readyState, err && err.message]);
        resolve();
      });
    });
    ws.terminate();
    await done;
    await stopServer(wss);
    return called;
  });
});

test('a callback that is not a function throws as in ws and sends nothing; ws-rs keeps the socket working', { timeout: 20000 }, async () => {
  const calls = [
    ['send true', (ws) => ws.send('x', {}, true)],
    ['send string', (ws) => ws.send('x', {}, 'abc')],
    ['send object', (ws) => ws.send(Buffer.alloc(20000), {}, {})],
    ['send encoding', (ws) => ws.send('ok', {}, 'utf8')],
    ['send null', (ws) => ws.send('ok', {}, null)],
    ['ping number', (ws) => ws.ping('x', true, 5)],
    ['pong string', (ws) => ws.pong('x', true, 'abc')]
  ];
  await same(async (impl) => {
    const { wss, url } = await startServer(impl);
    const ws = await connect(impl, url);
    const outcomes = [];
    for (const [name, call] of calls) {
      try {
        call(ws);
        outcomes.push([name, 'sent']);
      } catch (err) {
        outcomes.push([name, err.constructor.name, err.code, err.message]);
      }
    }
    ws.terminate();
    await stopServer(wss);
    return outcomes;
  });
  // ws leaves its socket corked after such a throw; ws-rs queued nothing and goes on.
  const { wss, url } = await startServer('ws-rs');
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  const ws = await connect('ws-rs', url);
  for (const [, call] of calls) {
    try {
      call(ws);
    } catch {
      // as above
    }
  }
  const echoes = [];
  const got = new Promise((resolve) =>
    ws.on('message', (data) => {
      echoes.push(String(data));
      if (echoes.length === 3) resolve();
    })
  );
  await new Promise((resolve) => ws.send('last', resolve));
  await got;
  assert.deepStrictEqual(echoes, ['ok', 'ok', 'last']);
  assert.strictEqual(ws.bufferedAmount, 0);
  ws.terminate();
  await stopServer(wss);
});
