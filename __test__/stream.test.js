'use strict';

// createWebSocketStream: data both ways, object mode strings, ending closes, destroy
// terminates; compared with ws.

const { test } = require('node:test');
const assert = require('node:assert');
const { once } = require('events');

const { impls, startServer, stopServer } = require('./helpers');

async function scenario(impl, url) {
  const ws = new impls[impl](url);
  const duplex = impls[impl].createWebSocketStream(ws, { encoding: 'utf8' });
  const log = [];
  duplex.on('data', (d) => log.push(['data', d]));
  duplex.write('hello');
  duplex.write(Buffer.from(' world'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  duplex.end();
  await once(duplex, 'close');
  log.push(['ws', ws.readyState]);
  return log;
}

test('createWebSocketStream behaves as in ws', async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (s) => s.on('message', (d) => s.send(`echo:${d}`)));
  const expected = await scenario('ws', url);
  const actual = await scenario('ws-rs', url);
  assert.deepStrictEqual(actual, expected);
  await stopServer(wss);
});

test('destroying the stream terminates the WebSocket', async () => {
  const { wss, url } = await startServer('ws');
  const serverClose = new Promise((resolve) => wss.on('connection', (s) => s.on('close', (code) => resolve(code))));
  const ws = new impls['ws-rs'](url);
  const duplex = impls['ws-rs'].createWebSocketStream(ws);
  await once(ws, 'open');
  duplex.destroy();
  await once(duplex, 'close');
  assert.strictEqual(ws.readyState, ws.CLOSED);
  assert.strictEqual(await serverClose, 1006);
  await stopServer(wss);
});
