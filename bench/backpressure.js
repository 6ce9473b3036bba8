'use strict';

// A client that stops reading while the server sends it 1 MiB messages: the server's
// RSS growth, ws against ws-rs with `maxBackpressure: 4 MiB`. The server is a child
// process that sends one message every 2 ms for SECONDS (default 5); the client is a
// raw TCP socket that reads the 101 and then nothing. Each message is a new Buffer.
// Dropped messages are garbage until V8 collects them, so RSS is also read after a
// GC at the end. Prints one line per server.
// Usage: node bench/backpressure.js [SECONDS]

const { fork } = require('child_process');
const net = require('net');
const { once } = require('events');

const MiB = 1 << 20;

if (process.argv[2] === 'server') {
  const impl = process.argv[3];
  const { WebSocketServer } = impl === 'ws' ? require('ws') : require('..');
  const options = impl === 'ws' ? {} : { maxBackpressure: 4 * MiB };
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options }, () => {
    process.send({ port: wss.address().port });
  });
  const seconds = Number(process.argv[4]);
  wss.on('connection', (ws) => {
    global.gc();
    const start = process.memoryUsage().rss;
    let peak = start;
    let dropped = 0;
    ws.on('dropped', () => dropped++);
    // A new message each time (a shared Buffer would be queued by reference).
    let n = 0;
    const timer = setInterval(() => {
      ws.send(Buffer.alloc(MiB, n++ & 0xff));
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 2);
    setTimeout(() => {
      clearInterval(timer);
      global.gc();
      const end = process.memoryUsage().rss;
      process.send({ start, peak, end, dropped, buffered: ws.bufferedAmount });
    }, seconds * 1000);
  });
} else {
  const seconds = Number(process.argv[2] || 5);
  (async () => {
    for (const impl of ['ws', 'ws-rs']) {
      const server = fork(__filename, ['server', impl, String(seconds)], { execArgv: ['--expose-gc'] });
      const [{ port }] = await once(server, 'message');
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
      );
      await once(socket, 'data');
      socket.pause();
      const [r] = await once(server, 'message');
      const mib = (b) => (b / MiB).toFixed(1);
      console.log(
        `${impl.padEnd(6)} ${impl === 'ws' ? 'no limit         ' : 'maxBackpressure 4 MiB'}: ` +
          `RSS ${mib(r.end - r.start)} MiB over its start after a GC at the end ` +
          `(${mib(r.peak - r.start)} MiB at the peak, dropped messages awaiting GC) after ${seconds} s of 1 MiB every 2 ms; ` +
          `bufferedAmount at the end ${mib(r.buffered)} MiB; dropped ${r.dropped}`
      );
      socket.destroy();
      server.kill();
    }
  })();
}
