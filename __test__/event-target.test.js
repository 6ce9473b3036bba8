'use strict';

// The browser-style API, compared with ws: event objects, on* attributes,
// addEventListener with { once } and handleEvent, property shape.

const { test } = require('node:test');
const assert = require('node:assert');

const { impls, startServer, stopServer } = require('./helpers');

async function scenario(impl, url) {
  const log = [];
  const ws = new impls[impl](url);
  ws.onopen = (e) => log.push(['open', e.type, e.target === ws]);
  const onmsg = (e) => log.push(['message', e.type, e.data]);
  ws.addEventListener('message', onmsg);
  ws.addEventListener('message', onmsg); // not added twice
  ws.addEventListener('message', { handleEvent: (e) => log.push(['handleEvent', e.data]) }, { once: true });
  ws.addEventListener('bogus', () => log.push(['bogus']));
  log.push(['onmessage before', ws.onmessage]);
  ws.onmessage = () => log.push(['onmessage']);
  log.push(['onmessage is set', typeof ws.onmessage]);
  await new Promise((resolve) => {
    ws.onclose = (e) => {
      log.push(['close', e.code, e.reason, e.wasClean, Object.keys(Object.getPrototypeOf(e))]);
      resolve();
    };
  });
  ws.removeEventListener('message', onmsg);
  log.push(['listeners left', ws.listenerCount('message')]);
  return log;
}

test('EventTarget API behaves as in ws', async () => {
  const { wss, url } = await startServer('ws');
  wss.on('connection', (s) => {
    s.send('one');
    s.send('two');
    s.close(4000, 'done');
  });
  const expected = await scenario('ws', url);
  const actual = await scenario('ws-rs', url);
  assert.deepStrictEqual(actual, expected);
  await stopServer(wss);
});

test('WebSocket prototype shape matches ws', () => {
  const shape = (C) =>
    Object.getOwnPropertyNames(C.prototype)
      .filter((n) => !n.startsWith('_'))
      .filter((n) => Object.getOwnPropertyDescriptor(C.prototype, n).enumerable)
      .sort();
  const ours = shape(impls['ws-rs']);
  for (const name of shape(impls.ws)) assert.ok(ours.includes(name), `missing ${name}`);
});

test('the on* attributes are configurable and enumerable accessors, as in ws', () => {
  const describe = (C) =>
    ['onopen', 'onerror', 'onclose', 'onmessage'].map((p) => {
      const d = Object.getOwnPropertyDescriptor(C.prototype, p);
      return [p, d.configurable, d.enumerable, typeof d.get, typeof d.set];
    });
  assert.deepStrictEqual(describe(require('..')), describe(require('ws')));
});
