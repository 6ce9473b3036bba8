'use strict';

// Libraries tag sockets with `_…` fields of their own (an RPC library sets
// `socket._id`, others `_state`, `_conn`, ...). In ws that changes nothing, since ws's
// own state has other names; ws-rs keeps everything ws does not have under symbols, so
// the same holds. Each scenario runs against ws and ws-rs and must give the same result.

const { test } = require('node:test');
const assert = require('node:assert');
const { once } = require('events');

const { impls, startServer, stopServer } = require('./helpers');

// Names libraries use, and every name ws-rs used for its own state or methods before
// they moved under symbols. ws's own fields (`_readyState`, `_socket`, ...) are not
// here: overwriting them breaks ws as well.
const USER_FIELDS = [
  '_id', '_state', '_conn', '_ws', '_handle', '_queue', '_pending', '_pendingHead',
  '_pendingTail', '_deferred', '_deferScheduled', '_blocked', '_block', '_unblock',
  '_defer', '_scheduleDeferred', '_end', '_ended', '_control', '_maskFlag',
  '_generateMask', '_fragmenting', '_compressing', '_receiverErrored',
  '_pendingAutoPongs', '_maxPendingAutoPongs', '_allowSynchronousEvents', '_websocket',
  '_onMessage', '_onPing', '_onPong', '_onCloseFrame', '_onProtocolError', '_onWritten',
  '_onEnd', '_onClosed', '_handleMessage', '_handlePing', '_handlePong',
  '_handleCloseFrame', '_handleProtocolError', '_handleEnd', '_handleClosed'
];

/** Sets every user field to a value that is neither a function nor ws-rs's own. */
function tag(target) {
  for (const name of USER_FIELDS) target[name] = { taggedBy: 'a library', name };
}

async function scenario(impl) {
  const { wss, url } = await startServer(impl);
  tag(wss);
  const log = [];
  wss.on('connection', (ws) => {
    tag(ws);
    ws.on('message', (data, isBinary) => {
      if (String(data) === 'terminate me') return ws.terminate();
      ws.send(data, { binary: isBinary }, (err) => log.push(['server send cb', err]));
    });
    ws.on('close', (code, reason) => log.push(['server close', code, String(reason)]));
  });

  const ws = new impls[impl](url);
  tag(ws);
  await once(ws, 'open');
  const pong = once(ws, 'pong');
  ws.ping('p', undefined, (err) => log.push(['ping cb', err]));
  log.push(['pong', String((await pong)[0])]);

  const echoes = [];
  ws.on('message', (data, isBinary) => echoes.push([String(data), isBinary]));
  for (const m of ['one', Buffer.from('two'), 'three']) {
    ws.send(m, (err) => log.push(['client send cb', err]));
  }
  while (echoes.length < 3) await once(ws, 'message');
  log.push(['echoes', echoes]);
  log.push(['client bufferedAmount', ws.bufferedAmount]);

  ws.close(4000, 'bye');
  const [code, reason] = await once(ws, 'close');
  log.push(['client close', code, String(reason), ws.readyState]);

  // terminate() of a tagged server socket still ends the connection at once.
  const other = new impls[impl](url);
  tag(other);
  await once(other, 'open');
  other.send('terminate me');
  const [otherCode] = await once(other, 'close');
  log.push(['terminated', otherCode]);

  await stopServer(wss);
  return log;
}

test('`_…` fields set by users on WebSocket and WebSocketServer change nothing', async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) results[impl] = await scenario(impl);
  assert.deepStrictEqual(results['ws-rs'], results.ws);
  // And what both did is what ws users expect.
  const byKind = (kind) => results['ws-rs'].filter((e) => e[0] === kind);
  assert.deepStrictEqual(byKind('ping cb'), [['ping cb', null]]);
  assert.deepStrictEqual(byKind('client send cb').length, 3);
  assert.deepStrictEqual(byKind('echoes')[0][1], [['one', false], ['two', true], ['three', false]]);
  assert.deepStrictEqual(byKind('client close'), [['client close', 4000, 'bye', 3]]);
  assert.deepStrictEqual(byKind('terminated'), [['terminated', 1006]]);
});
