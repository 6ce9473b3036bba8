'use strict';

// A peer that sends faster than the server's handler can take: memory stays bounded,
// timers keep firing on time and other connections keep being served, because the
// server reads only what one bounded turn of its event loop dispatches.

const test = require('node:test');
const assert = require('assert');
const path = require('path');
const { fork } = require('child_process');
const { once } = require('events');
const { rawClient, frame, impls } = require('./helpers');

const FLOOD_MS = 2500;

// The default driver (sockets on the JS thread's loop), and the io threads (where
// compressed connections run, and every one with WS_RS_IO=threads), with frames of 16
// bytes and with empty ones (bounded by count, not bytes). On the io threads a
// flooding connection's reader stops once it alone has 64 KiB undelivered, so the
// other connections' messages wait behind at most that much.
const variants = [
  { name: 'JS-loop driver', env: {}, size: 16 },
  { name: 'io threads', env: { WS_RS_IO: 'threads' }, size: 16 },
  { name: 'io threads, empty frames', env: { WS_RS_IO: 'threads' }, size: 0 }
];

for (const { name, env, size } of variants) {
  test(`a flood at a slow handler (${name}): bounded memory, timers on time, echoes keep flowing`, async () => {
    const server = fork(path.join(__dirname, 'fixtures', 'flood-server.js'), {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...env }
    });
    try {
      const [{ port }] = await once(server, 'message');

      const echo = new impls.ws(`ws://127.0.0.1:${port}/echo`);
      await once(echo, 'open');
      let echoes = 0;
      echo.on('message', () => echoes++);

      const { socket } = await rawClient(port, '/flood');
      socket.on('error', () => {});
      // 64 KiB of back-to-back masked 16-byte frames, written as fast as the socket takes it.
      const one = frame(2, Buffer.alloc(size, 7));
      const burst = Buffer.concat(Array(Math.floor(65536 / one.length)).fill(one));

      server.send('start');
      const end = Date.now() + FLOOD_MS;
      // Echoes are counted against the ticks this process managed to send (on a busy
      // machine it sends fewer than one per 20 ms).
      let ticks = 0;
      const ticker = setInterval(() => {
        ticks++;
        echo.send('tick');
      }, 20);
      let written = 0;
      while (Date.now() < end) {
        written += burst.length;
        if (!socket.write(burst)) {
          await Promise.race([once(socket, 'drain'), new Promise((r) => setTimeout(r, end - Date.now()))]);
        }
      }
      clearInterval(ticker);
      server.send('report');
      const [report] = await once(server, 'message');
      socket.destroy();
      echo.terminate();

      const detail = JSON.stringify({ ...report, written, ticks, echoes });
      if (process.env.FLOOD_REPORT) console.log(detail);
      assert.ok(report.floodMessages > 1000, `the flood was being read: ${detail}`);
      // The flood outpaces the handler: most of what was written is still in flight.
      assert.ok(report.floodMessages * one.length < written, detail);
      assert.ok(report.p99 < 50, `timer p99 lateness under 50 ms: ${detail}`);
      assert.ok(ticks > 0 && echoes >= ticks * 0.5, `echoes flowed during the flood: ${detail}`);
      assert.ok(report.rssGrowth < 64 * 1024 * 1024, `RSS growth bounded: ${detail}`);
    } finally {
      server.send('exit');
      await once(server, 'exit');
    }
  });
}
