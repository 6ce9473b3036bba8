'use strict';

// Server CPU to keep N idle connections checked (default 10,000): ws running the
// heartbeat recipe of its README (a setInterval that pings every client, a 'pong'
// listener, terminate() for the silent), against ws-rs with `idleTimeout`. The recipe
// pings every INTERVAL ms (default 1000); ws-rs pings a connection after three
// quarters of `idleTimeout` of silence, so it gets idleTimeout = INTERVAL * 4 / 3 and
// pings about as often (the pings the clients saw are counted to show it). The server
// runs pinned to core 1 when `taskset` exists, the clients (ws) in this process.
// Usage: node bench/heartbeat.js [N] [INTERVAL_MS] [SECONDS]

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const { once } = require('events');

const N = Number(process.argv[2] || 10000);
const INTERVAL = Number(process.argv[3] || 1000);
const SECONDS = Number(process.argv[4] || 10);

if (process.argv[2] === 'server') {
  const impl = process.argv[3];
  const interval = Number(process.argv[4]);
  if (impl === 'ws') {
    const { WebSocketServer } = require('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => console.log(wss.address().port));
    // ws's README recipe, as written there.
    function heartbeat() {
      this.isAlive = true;
    }
    wss.on('connection', function connection(ws) {
      ws.isAlive = true;
      ws.on('error', console.error);
      ws.on('pong', heartbeat);
    });
    const timer = setInterval(function ping() {
      wss.clients.forEach(function each(ws) {
        if (ws.isAlive === false) return ws.terminate();
        ws.isAlive = false;
        ws.ping();
      });
    }, interval);
    wss.on('close', () => clearInterval(timer));
  } else {
    const { WebSocketServer } = require('..');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', idleTimeout: Math.round((interval * 4) / 3) }, () =>
      console.log(wss.address().port)
    );
    wss.on('connection', (ws) => ws.on('error', console.error));
  }
} else {
  const WebSocket = require('ws');
  // [user, system] CPU seconds of a process.
  const cpuOf = (pid) => {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return [Number(fields[11]) / 100, Number(fields[12]) / 100];
  };
  let pin = true;
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
  } catch {
    pin = false;
  }
  (async () => {
    const result = {};
    for (const impl of ['ws', 'ws-rs']) {
      const args = [__filename, 'server', impl, String(INTERVAL)];
      const server = pin ? spawn('taskset', ['-c', '1', process.execPath, ...args]) : spawn(process.execPath, args);
      server.stderr.pipe(process.stderr);
      const port = Number((await once(server.stdout, 'data'))[0].toString());
      const clients = [];
      let pings = 0;
      for (let i = 0; i < N; i++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
        ws.on('ping', () => pings++);
        ws.on('error', () => {});
        clients.push(once(ws, 'open').then(() => ws));
        if (i % 200 === 199) await Promise.all(clients.slice(-200));
      }
      const sockets = await Promise.all(clients);
      await new Promise((resolve) => setTimeout(resolve, 2 * INTERVAL));
      const cpu0 = cpuOf(server.pid);
      const pings0 = pings;
      await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
      const [user1, sys1] = cpuOf(server.pid);
      const user = user1 - cpu0[0];
      const cpu = user + sys1 - cpu0[1];
      const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
      result[impl] = { cpu, user, pings: pings - pings0, open };
      console.log(
        `${impl.padEnd(5)} ${N} idle connections, ${SECONDS} s: server CPU ${cpu.toFixed(2)} s ` +
          `(user ${user.toFixed(2)} s), ${((cpu / (pings - pings0)) * 1e6).toFixed(1)} µs per ping, ` +
          `${((pings - pings0) / SECONDS / N).toFixed(2)} pings per connection per second, ${open} still open`
      );
      for (const ws of sockets) ws.terminate();
      server.kill();
      await once(server, 'exit');
    }
    const ratio = (key) => (result['ws-rs'][key] / result.ws[key]).toFixed(2);
    const perPing = (r) => r.cpu / r.pings;
    console.log(
      `ws-rs / ws: server CPU ${ratio('cpu')}x, user-space CPU ${ratio('user')}x, ` +
        `CPU per ping ${(perPing(result['ws-rs']) / perPing(result.ws)).toFixed(2)}x`
    );
  })();
}
