'use strict';

// `npm run bench`: the same echo workloads against ws-rs and ws, side by side in one
// run, reported as ratios. The server (a JS echo handler) is pinned to core 1, the
// Rust load generator to core 0; rounds alternate between the implementations and
// the median is reported. Not a test: nothing here asserts a speed.
//
// Rows: echo at depth 1 (50 connections and 1, with round-trip percentiles) and
// pipelined, connection rate, broadcast (the send loop, ws-rs's wss.publish, and
// socket.io's io.emit with each as engine.io's wsEngine), 16 KiB, 1 MiB, deflate.
//
// Environment: BENCH_SECONDS (per measurement, default 4), BENCH_ROUNDS (default 3),
// BENCH_ONLY (a workload name), BENCH_BUN (a Bun binary; found by default when the
// npm package @oven/bun-linux-x64 is installed, e.g. `npm install --no-save
// @oven/bun-linux-x64`; `off`: none): adds a Bun column, the same server script under Bun, whose
// `require('ws')` is its own native implementation of ws's API. A comparison only:
// nothing depends on Bun.
//
// Echo rows of small frames and the broadcast rows also get a ceiling column:
// bench/loadgen's wsrs-ceiling, a bare epoll loop that unmasks and echoes (or sends to
// every connection) with one recv per readable socket and one send per connection of
// what that recv brought, nothing else. It is what the kernel allows on this machine;
// a ratio to ws is only as far from 1 as the ceiling's own ratio lets it be.

const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const seconds = Number(process.env.BENCH_SECONDS || 4);
const rounds = Number(process.env.BENCH_ROUNDS || 3);

const workloads = [
  // One message in flight per connection: where most real traffic sits.
  { name: '32 B x 50 conns x 1 in flight', conns: 50, depth: 1, size: 32 },
  // One message in flight on one connection: round trips per second, i.e. latency.
  { name: 'latency: 32 B x 1 conn x 1', conns: 1, depth: 1, size: 32 },
  { name: '32 B x 50 conns x 32 in flight', conns: 50, depth: 32, size: 32 },
  // Whole connection lifetimes: open, closing handshake, server closes. 8 at a time.
  { name: 'connections opened+closed /s', conns: 8, depth: 0, size: 0, mode: 'connect' },
  // 64 B to 1000 clients with `for (const c of wss.clients) c.send(data)`; deliveries/s.
  { name: 'broadcast 64 B to 1000 (send loop)', conns: 1000, depth: 2, size: 64, mode: 'broadcast', server: 'broadcast-server.js' },
  // ws-rs's wss.publish; ws and Bun (whose ws has no topics) run the send loop.
  { name: 'broadcast 64 B to 1000 (wss.publish)', conns: 1000, depth: 2, size: 64, mode: 'broadcast', server: 'broadcast-server.js', publish: true },
  // socket.io's io.emit over the WebSocket transport, ws-rs as engine.io's wsEngine.
  { name: 'socket.io io.emit 64 B to 1000', conns: 1000, depth: 2, size: 64, mode: 'socketio', server: 'socketio-server.js' },
  // The same three with 32 broadcasts in flight: a feed that sends several updates per
  // tick. At depth 2 the load generator, reading 1000 sockets on one core, is the
  // limit (the ceiling's ratio shows it); here each of its reads takes many frames, so
  // what is measured is the server's cost per delivery.
  { name: 'broadcast 64 B to 1000 x 32 in flight (send loop)', conns: 1000, depth: 32, size: 64, mode: 'broadcast', server: 'broadcast-server.js' },
  { name: 'broadcast 64 B to 1000 x 32 in flight (wss.publish)', conns: 1000, depth: 32, size: 64, mode: 'broadcast', server: 'broadcast-server.js', publish: true },
  { name: 'socket.io io.emit 64 B to 1000 x 32 in flight', conns: 1000, depth: 32, size: 64, mode: 'socketio', server: 'socketio-server.js' },
  { name: '16 KiB x 50 conns x 4 in flight', conns: 50, depth: 4, size: 16 * 1024 },
  { name: '1 MiB x 8 conns x 2 in flight', conns: 8, depth: 2, size: 1024 * 1024 },
  { name: 'deflate JSON 256 B x 50 x 8', conns: 50, depth: 8, size: 256, deflate: true },
  { name: 'deflate text 16 KiB x 50 x 2', conns: 50, depth: 2, size: 16 * 1024, deflate: true },
  // Both servers at zlib level 1 instead of the default 6: how much of the 16 KiB cost
  // is compression itself.
  { name: 'deflate text 16 KiB, level 1', conns: 50, depth: 2, size: 16 * 1024, deflate: true, level: 1 }
].filter((w) => !process.env.BENCH_ONLY || w.name.startsWith(process.env.BENCH_ONLY));

/** The Bun binary to compare with, if any. */
function findBun() {
  if (process.env.BENCH_BUN === 'off') return null;
  if (process.env.BENCH_BUN) return process.env.BENCH_BUN;
  try {
    const dir = path.dirname(require.resolve('@oven/bun-linux-x64/package.json', { paths: [root] }));
    const bin = path.join(dir, 'bin', 'bun');
    return fs.existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

const bun = findBun();
const ceiling = path.join(root, 'target', 'release', 'wsrs-ceiling');
/** The implementations measured for one workload. */
function implsFor(w) {
  const list = bun ? ['ws', 'ws-rs', 'bun'] : ['ws', 'ws-rs'];
  const plainEcho = !w.deflate && !w.mode && w.size < 65536;
  return plainEcho || w.mode === 'broadcast' ? list.concat('ceiling') : list;
}

function build() {
  const r = spawnSync('cargo', ['build', '--release', '-p', 'wsrs-loadgen'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
  if (!fs.readdirSync(root).some((f) => /^ws-rs\..+\.node$/.test(f))) {
    if (spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1);
  }
}

function hasTaskset() {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}

const pin = hasTaskset();
const pinned = (core, cmd, args) => (pin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuOf(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function measure(impl, w, port) {
  const serverArgs = [path.join(__dirname, w.server || 'echo-server.js'), impl === 'bun' ? 'ws' : impl, String(port)]
    .concat(w.deflate ? ['deflate'] : [])
    .concat(w.level !== undefined ? [String(w.level)] : [])
    .concat(w.publish ? ['publish'] : []);
  const [cmd, args] =
    impl === 'ceiling'
      ? pinned(1, ceiling, [String(port)].concat(w.mode === 'broadcast' ? ['broadcast'] : []))
      : pinned(1, impl === 'bun' ? bun : process.execPath, serverArgs);
  const server = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    server.stdout.once('data', resolve);
    server.once('exit', () => reject(new Error(`${impl} server exited`)));
  });
  const serverPid = server.pid; // taskset execs node, so this is the server itself
  const warmup = 1;
  const cpu0 = cpuOf(serverPid);
  const loadgen = path.join(root, 'target', 'release', 'wsrs-loadgen');
  const mode = w.deflate ? 'deflate' : w.mode || 'echo';
  const loadArgs = [`127.0.0.1:${port}`, w.conns, w.depth, w.size, seconds, warmup, mode];
  const [lcmd, largs] = pinned(0, loadgen, loadArgs.map(String));
  const out = execFileSync(lcmd, largs).toString();
  const cpu = (cpuOf(serverPid) - cpu0) / (seconds + warmup);
  server.kill();
  await new Promise((resolve) => server.once('exit', resolve));
  const result = JSON.parse(out);
  if (result.bad || result.failed) throw new Error(`${impl}: ${out}`);
  return { ...result, server_cpu: cpu };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));

(async () => {
  build();
  console.log(`ws-rs bench: ${rounds} rounds x ${seconds} s per measurement; server ${pin ? 'pinned to core 1' : 'not pinned'}, load generator ${pin ? 'on core 0' : 'not pinned'}${bun ? `; Bun: ${bun}` : ''}`);
  let port = 9400;
  const rows = [];
  for (const w of workloads) {
    const impls = implsFor(w);
    const rates = Object.fromEntries(impls.map((impl) => [impl, []]));
    const extra = Object.fromEntries(impls.map((impl) => [impl, []]));
    for (let r = 0; r < rounds; r++) {
      for (const impl of r % 2 ? [...impls].reverse() : impls) {
        const m = await measure(impl, w, port++);
        rates[impl].push(m.rate);
        extra[impl].push(m);
      }
    }
    const row = { workload: w.name };
    for (const impl of impls) {
      const med = median(rates[impl]);
      const m = extra[impl].find((x) => x.rate === med);
      row[impl] = med;
      row[`${impl} server cpu`] = m.server_cpu;
      row[`${impl} loadgen cpu`] = m.loadgen_cpu;
      if (w.depth === 1) {
        row[`${impl} p50 us`] = median(extra[impl].map((x) => x.p50_us));
        row[`${impl} p99 us`] = median(extra[impl].map((x) => x.p99_us));
      }
    }
    row.ratio = row['ws-rs'] / row.ws;
    if (bun) row['bun ratio'] = row.bun / row.ws;
    if (impls.includes('ceiling')) row['ceiling ratio'] = row.ceiling / row.ws;
    // Server CPU per message: steadier than the rate where the round trip is mostly
    // the kernel's wake-ups (depth 1), and what a busy server pays.
    for (const impl of impls) row[`${impl} cpu us/msg`] = (row[`${impl} server cpu`] / row[impl]) * 1e6;
    rows.push(row);
    console.log(
      `${w.name.padEnd(34)} ws ${fmt(row.ws).padStart(7)} msg/s   ws-rs ${fmt(row['ws-rs']).padStart(7)} msg/s   ` +
        `ratio ${row.ratio.toFixed(2)}x   (${fmt((row['ws-rs'] * w.size) / 1048576)} MiB/s; ` +
        `server cpu ws ${row['ws server cpu'].toFixed(2)} / ws-rs ${row['ws-rs server cpu'].toFixed(2)}; ` +
        `loadgen cpu ${row['ws loadgen cpu'].toFixed(2)} / ${row['ws-rs loadgen cpu'].toFixed(2)}; ` +
        `server cpu per msg ws ${row['ws cpu us/msg'].toFixed(1)} µs / ws-rs ${row['ws-rs cpu us/msg'].toFixed(1)} µs)` +
        (w.depth === 1
          ? `\n${''.padEnd(34)} round trip p50 ws ${row['ws p50 us']} µs / ws-rs ${row['ws-rs p50 us']} µs; ` +
            `p99 ws ${row['ws p99 us']} µs / ws-rs ${row['ws-rs p99 us']} µs`
          : '') +
        (bun
          ? `\n${''.padEnd(34)} bun ${fmt(row.bun).padStart(7)} msg/s, ${row['bun ratio'].toFixed(2)}x ws; ` +
            `ws-rs / bun ${(row['ws-rs'] / row.bun).toFixed(2)}x; server cpu per msg ${row['bun cpu us/msg'].toFixed(1)} µs` +
            (w.depth === 1 ? `; p50 ${row['bun p50 us']} µs, p99 ${row['bun p99 us']} µs` : '')
          : '') +
        (row.ceiling
          ? `\n${''.padEnd(34)} ceiling ${fmt(row.ceiling).padStart(7)} msg/s, ${row['ceiling ratio'].toFixed(2)}x ws; ` +
            `ws-rs / ceiling ${(row['ws-rs'] / row.ceiling).toFixed(2)}x; server cpu per msg ${row['ceiling cpu us/msg'].toFixed(1)} µs` +
            (w.depth === 1 ? `; p50 ${row['ceiling p50 us']} µs, p99 ${row['ceiling p99 us']} µs` : '')
          : '')
    );
  }
  const outDir = path.join(__dirname, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify({ date: new Date().toISOString(), seconds, rounds, rows }, null, 2));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
