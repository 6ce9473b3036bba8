'use strict';

// Server memory per idle connection, ws-rs against ws, with and without
// permessage-deflate: a server process, N connections from a client process, each
// sends and gets back one message (so compression contexts exist), then sits idle.
// Reports the server's RSS growth per connection half a second after the last echo,
// and again once connections have been idle for longer than ws-rs keeps compression
// contexts of idle connections (5 s). With deflate it also measures active
// connections: each sends a message every 200 ms (more often than ws-rs gives back
// the context of a quiet connection) and RSS is read while they do.
// Usage: node bench/memory.js [N] [plain|deflate]

const { fork } = require('child_process');
const path = require('path');

const N = Number(process.argv[2] || 1000);

if (process.argv[2] === 'server') {
  const impl = process.argv[3];
  const deflate = process.argv[4] === 'deflate';
  const { WebSocketServer } = impl === 'ws' ? require('ws') : require('..');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: deflate }, () => {
    global.gc && global.gc();
    process.send({ port: wss.address().port, rss: process.memoryUsage().rss });
  });
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  process.on('message', (delay) => {
    setTimeout(() => {
      global.gc && global.gc();
      const m = process.memoryUsage();
      if (process.env.MEM_DETAIL) console.error(impl, 'heap', m.heapUsed, 'ext', m.external, 'ab', m.arrayBuffers, 'rss', m.rss);
      process.send({ rss: m.rss, clients: wss.clients.size });
    }, delay);
  });
} else {
  const WebSocket = require('ws');
  const measure = (impl, deflate) =>
    new Promise((resolve) => {
      const server = fork(__filename, ['server', impl, deflate ? 'deflate' : 'plain'], { execArgv: ['--expose-gc'] });
      server.once('message', async ({ port, rss: before }) => {
        const clients = [];
        for (let i = 0; i < N; i++) {
          const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: deflate });
          clients.push(
            new Promise((done) => {
              ws.on('open', () => ws.send(JSON.stringify({ hello: 'world', i, pad: 'x'.repeat(2000) })));
              ws.on('message', () => done(ws));
            })
          );
          if (i % 100 === 99) await Promise.all(clients.slice(-100));
        }
        const sockets = await Promise.all(clients);
        const rssAfter = (delay) =>
          new Promise((done) => {
            server.send(delay);
            server.once('message', ({ rss, clients: count }) => done((rss - before) / count));
          });
        const soon = await rssAfter(500);
        const idle = await rssAfter(6000);
        let active = NaN;
        if (deflate) {
          // Spread over the interval so the server sees a steady stream.
          const timers = sockets.map((ws, i) =>
            setTimeout(() => {
              const send = () => ws.send(JSON.stringify({ hello: 'again', i, pad: 'y'.repeat(2000) }));
              send();
              timers[i] = setInterval(send, 200);
            }, (i * 200) / sockets.length)
          );
          active = await rssAfter(3000);
          for (const t of timers) clearInterval(t);
        }
        for (const ws of sockets) ws.terminate();
        server.kill();
        resolve({ soon, idle, active });
      });
    });

  (async () => {
    const only = process.argv[3];
    for (const deflate of [false, true].filter((d) => !only || only === (d ? 'deflate' : 'plain'))) {
      const row = {};
      for (const impl of ['ws', 'ws-rs']) row[impl] = await measure(impl, deflate);
      const kib = (b) => (b / 1024).toFixed(1);
      for (const when of deflate ? ['soon', 'idle', 'active'] : ['soon', 'idle']) {
        const label = { soon: 'idle 0.5 s', idle: 'idle 6.5 s', active: 'each sending every 200 ms' }[when];
        console.log(
          `${deflate ? 'permessage-deflate' : 'no compression    '}  ${N} connections, ` +
            `${label}: ws ${kib(row.ws[when])} KiB, ` +
            `ws-rs ${kib(row['ws-rs'][when])} KiB of server RSS per connection`
        );
      }
    }
  })();
}
