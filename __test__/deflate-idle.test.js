'use strict';

// permessage-deflate with context takeover across idle gaps: ws-rs gives an idle
// connection's zlib contexts back to its thread's pool and resumes the streams from a
// window of history (src/io/connection.rs, crates/proto/src/deflate.rs). Here the idle
// time is cut to 50 ms so that every gap below releases both sides; the peer (ws or
// ws-rs) keeps its context, so any gap in the resumed history shows as a corrupt or
// wrong message. Adopted connections release through the JS-loop driver's sweep
// (src/io/js_loop/idle_contexts.rs) or on their io thread (`WS_RS_IO=threads`);
// bridged ones (TLS here) through the JS sweep in lib/native.js. After each gap the
// process must hold no context at all.

process.env.WS_RS_DEFLATE_IDLE_MS = '50';

const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const https = require('https');
const path = require('path');
const { once } = require('events');
const { setTimeout: sleep } = require('timers/promises');

const { impls, pairs, startServer, stopServer, until } = require('./helpers');
const binding = require('../lib/binding.js');

/** Every ws-rs connection of this process gave its zlib contexts back. */
const allGivenBack = () => until(() => binding.contextsHeld().every((n) => n === 0), 'idle zlib contexts given back');

const words = Array.from({ length: 3000 }, (_, i) => `w${(i * 7919) % 1009}`).join(' ');
const messages = [
  'hello',
  'hello',
  words.slice(0, 5000),
  words.slice(0, 5000),
  words,
  Buffer.from(words.slice(2000, 9000)),
  '',
  words.slice(100, 400)
];

const combos = [{ threshold: 0 }, { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 9 }];

/** Echoes `messages` with idle gaps between them, then a fragmented message with a gap. */
async function exchangeWithGaps(ws) {
  // A corrupt stream closes the connection: fail with its close code, not a hang.
  const closed = once(ws, 'close').then(([code]) => {
    throw new Error(`closed with ${code}`);
  });
  closed.catch(() => {});
  const echo = async (send) => {
    const reply = once(ws, 'message');
    send();
    const [data] = await Promise.race([reply, closed]);
    return data;
  };
  for (const m of messages) {
    const data = await echo(() => ws.send(m));
    assert.ok(data.equals(Buffer.from(m)), `echo of ${String(m).slice(0, 20)}`);
    await sleep(150);
    await allGivenBack();
  }
  // No side lets go mid-message.
  const data = await echo(async () => {
    ws.send(words.slice(0, 3000), { fin: false });
    await sleep(150);
    ws.send(words.slice(0, 3000), { fin: true });
  });
  assert.ok(data.equals(Buffer.from(words.slice(0, 3000).repeat(2))));
  ws.close();
  await closed.catch(() => {});
}

/** Runs exchangeWithGaps once `ws` opens with deflate; cleans up even on failure. */
async function checkOpenedWithGaps(ws, cleanup) {
  try {
    await once(ws, 'open');
    assert.strictEqual(ws.extensions, 'permessage-deflate');
    await exchangeWithGaps(ws);
  } finally {
    ws.terminate();
    await cleanup();
  }
}

const echoBack = (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));

for (const [serverImpl, clientImpl] of pairs) {
  for (const options of combos) {
    test(`deflate idle release: ${serverImpl} server <-> ${clientImpl} client ${JSON.stringify(options)}`, { timeout: 20000 }, async () => {
      const { wss, url } = await startServer(serverImpl, { perMessageDeflate: options });
      wss.on('connection', echoBack);
      const ws = new impls[clientImpl](url, { perMessageDeflate: options });
      await checkOpenedWithGaps(ws, () => stopServer(wss));
    });
  }
}

for (const clientImpl of ['ws', 'ws-rs']) {
  test(`deflate idle release, bridged (wss): ws-rs server <-> ${clientImpl} client`, { timeout: 20000 }, async () => {
    const server = https.createServer({
      cert: fs.readFileSync(path.join(__dirname, 'fixtures', 'cert.pem')),
      key: fs.readFileSync(path.join(__dirname, 'fixtures', 'key.pem'))
    });
    const wss = new impls['ws-rs'].Server({ server, perMessageDeflate: { threshold: 0 } });
    wss.on('connection', echoBack);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const ws = new impls[clientImpl](`wss://127.0.0.1:${server.address().port}`, {
      rejectUnauthorized: false,
      perMessageDeflate: { threshold: 0 }
    });
    await checkOpenedWithGaps(ws, () => {
      wss.close();
      server.close();
    });
  });
}
