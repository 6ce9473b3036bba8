'use strict';

// require('ws-rs/nodejs-websocket') against the real nodejs-websocket: the same
// scenarios, every server/client combination, the same observable log.

const { test } = require('node:test');
const assert = require('node:assert');

const libs = {
  real: require('nodejs-websocket'),
  adapter: require('../nodejs-websocket')
};

const { until } = require('./helpers');

/** Collects a `binary` stream into one Buffer. */
function collect(inStream) {
  return new Promise((resolve) => {
    const chunks = [];
    inStream.on('data', (c) => chunks.push(c));
    inStream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * An echo server of `serverLib` (text upper-cased, binary echoed), a client of
 * `clientLib` that sends text, one-frame binary, a streamed binary and a ping, then
 * closes. Returns what both sides saw.
 */
async function echoScenario(serverLib, clientLib) {
  const log = [];
  const server = libs[serverLib].createServer({ validProtocols: ['chat', 'echo'] }, (conn) => {
    log.push(['server connection', conn.path, conn.protocol, conn.headers['x-test'], conn.readyState]);
    conn.on('text', (str) => conn.sendText(str.toUpperCase() + '!!!'));
    conn.on('binary', async (inStream) => conn.sendBinary(await collect(inStream)));
    conn.on('close', (code, reason) => log.push(['server close', code, reason]));
    conn.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.socket.address().port;

  const received = [];
  const conn = libs[clientLib].connect(
    `ws://127.0.0.1:${port}/chat/room?x=1`,
    { extraHeaders: { 'X-Test': 'yes' }, protocols: ['other', 'echo'] },
    () => log.push(['client connect', conn.readyState, conn.protocol])
  );
  conn.on('text', (str) => received.push(['text', str]));
  conn.on('binary', async (inStream) => received.push(['binary', (await collect(inStream)).toString('hex')]));
  conn.on('pong', (data) => received.push(['pong', data]));
  conn.on('error', (err) => log.push(['client error', err.message]));
  await until(() => conn.readyState === conn.OPEN, 'open');

  conn.sendText('hello');
  conn.sendBinary(Buffer.from([1, 2, 3]));
  const out = conn.beginBinary();
  out.write(Buffer.from([4, 5]));
  // A text send while a binary one streams is refused with an error, not sent.
  conn.sendText('too early');
  out.end(Buffer.from([6]));
  conn.sendPing('p1');
  await until(() => received.length >= 4, 'replies');
  log.push(['client received', received.slice().sort()]);

  conn.close(4000, 'bye');
  log.push(['client readyState after close()', conn.readyState]);
  await until(() => log.some((e) => e[0] === 'server close'), 'server close');
  await until(() => server.connections.length === 0, 'connections to drain');
  await new Promise((resolve) => server.close(resolve));
  return log;
}

for (const [serverLib, clientLib] of [
  ['adapter', 'real'],
  ['real', 'adapter'],
  ['adapter', 'adapter']
]) {
  test(`nodejs-websocket: ${serverLib} server, ${clientLib} client: same as the real library on both ends`, async () => {
    const expected = await echoScenario('real', 'real');
    const actual = await echoScenario(serverLib, clientLib);
    assert.deepStrictEqual(actual, expected);
  });
}

test('nodejs-websocket: server.close() keeps open connections; close follows the last', async () => {
  const results = {};
  for (const lib of ['real', 'adapter']) {
    const log = [];
    const server = libs[lib].createServer((conn) => conn.on('text', (s) => conn.sendText(s)));
    await new Promise((resolve) => server.listen(0, resolve));
    const conn = libs[lib].connect(`ws://127.0.0.1:${server.socket.address().port}`);
    conn.on('error', () => {});
    await until(() => conn.readyState === conn.OPEN, 'open');
    await until(() => server.connections.length === 1, 'server side');
    server.close(() => log.push('server closed'));
    conn.on('text', (s) => log.push(`still echoing ${s}`));
    conn.sendText('after close()');
    await until(() => log.length === 1, 'echo');
    conn.close(1000);
    await until(() => log.length === 2, 'server close');
    results[lib] = log;
  }
  assert.deepStrictEqual(results.adapter, results.real);
  assert.deepStrictEqual(results.adapter, ['still echoing after close()', 'server closed']);
});

test('nodejs-websocket: a peer that vanishes gives close 1006 and writes after it give an error', async () => {
  const results = {};
  for (const lib of ['real', 'adapter']) {
    const closes = [];
    let errorAfterClose = false;
    const server = libs[lib].createServer((conn) => {
      conn.on('close', (code, reason) => {
        closes.push([code, reason]);
        conn.sendText('too late');
      });
      // Only whether one comes after close: the real library may also report the reset
      // before, and its message differs (it writes and fails on the ended socket).
      conn.on('error', () => {
        if (closes.length > 0) errorAfterClose = true;
      });
    });
    await new Promise((resolve) => server.listen(0, resolve));
    const conn = libs[lib].connect(`ws://127.0.0.1:${server.socket.address().port}`);
    conn.on('error', () => {});
    await until(() => conn.readyState === conn.OPEN && server.connections.length === 1, 'both sides open');
    conn.socket.destroy();
    await until(() => errorAfterClose, 'close, then an error for the late write');
    await new Promise((resolve) => server.close(resolve));
    results[lib] = { closes, errorAfterClose };
  }
  assert.deepStrictEqual(results.adapter, results.real);
  assert.deepStrictEqual(results.adapter, { closes: [[1006, '']], errorAfterClose: true });
});
