'use strict';

// `npm run test:install`: installs ws-rs the way a user does and uses it.
//
// In a fresh temporary project, with no Rust toolchain reachable (every PATH entry that
// holds cargo or rustc is dropped, CARGO_HOME/RUSTUP_HOME point nowhere), it
// `npm install`s the tarballs of `npm run pack:all` (root + linux-x64-gnu), then:
//
// 1. runs an echo server and client through `require('ws-rs')`, loads the adapters'
//    entry points, and checks the binary came from the platform package and the root
//    package holds none;
// 2. compiles a TypeScript file against the installed types with `tsc --strict`;
// 3. in a second project with the root package alone (optional dependencies omitted),
//    checks that `require('ws-rs')` fails with a message naming the missing package.
//
// Packs first when dist/ has no tarballs. Run by CI after `npm test`.

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const HOST = 'linux-x64-gnu';
const rootTarball = path.join(dist, `ws-rs-${pkg.version}.tgz`);
const hostTarball = path.join(dist, `ws-rs-${HOST}-${pkg.version}.tgz`);

function fail(message) {
  console.error(`install-test: FAILED: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(rootTarball) || !fs.existsSync(hostTarball)) {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'pack.js')], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) fail('npm run pack:all failed');
}

// The environment of a user without Rust.
const hasRust = (dir) => ['cargo', 'rustc'].some((bin) => fs.existsSync(path.join(dir, bin)));
const env = {
  ...process.env,
  PATH: process.env.PATH.split(path.delimiter)
    .filter((dir) => dir && !hasRust(dir))
    .join(path.delimiter),
  CARGO_HOME: '/nonexistent',
  RUSTUP_HOME: '/nonexistent',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false'
};
for (const key of Object.keys(env)) if (key.startsWith('npm_lifecycle') || key === 'INIT_CWD') delete env[key];
for (const bin of ['cargo', 'rustc']) {
  if (spawnSync(bin, ['--version'], { env }).status === 0) fail(`${bin} is still on PATH`);
}

/** Runs a command in `cwd` as the user would; returns its output or fails. */
function sh(cwd, cmd, args, expectFailure = false) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
  const out = `${r.stdout || ''}${r.stderr || ''}`;
  if (!expectFailure && r.status !== 0) fail(`\`${cmd} ${args.join(' ')}\` in ${cwd}:\n${out}`);
  if (expectFailure && r.status === 0) fail(`\`${cmd} ${args.join(' ')}\` should have failed:\n${out}`);
  return out;
}

function project(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ws-rs-${name}-`));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `try-${name}`, private: true }));
  return dir;
}

const devVersion = (name) =>
  JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;

const ECHO = `'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const WebSocket = require('ws-rs');
const { WebSocketServer } = require('ws-rs');

const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
assert.deepStrictEqual(loaded.map((f) => path.relative(__dirname, f)), [
  path.join('node_modules', 'ws-rs-${HOST}', 'ws-rs.${HOST}.node')
]);
// The adapters' entry points ship too.
assert.strictEqual(typeof require('ws-rs/faye').Client, 'function');
assert.strictEqual(typeof require('ws-rs/nodejs-websocket').createServer, 'function');
assert.strictEqual(typeof require('ws-rs/fibjs').upgrade, 'function');
const shipped = fs.readdirSync(path.join(__dirname, 'node_modules', 'ws-rs'), { recursive: true });
assert.deepStrictEqual(shipped.filter((f) => String(f).endsWith('.node')), []);

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => {
  const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
  const got = [];
  ws.on('open', () => {
    ws.send('hello');
    ws.send(Buffer.from([1, 2, 3]));
  });
  ws.on('message', (data, isBinary) => {
    got.push(isBinary ? [...data] : data.toString());
    if (got.length === 2) ws.close(1000, 'done');
  });
  ws.on('close', (code, reason) => {
    assert.deepStrictEqual(got, ['hello', [1, 2, 3]]);
    assert.strictEqual(code, 1000);
    assert.strictEqual(reason.toString(), 'done');
    wss.close(() => console.log('echo ok'));
  });
});
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
`;

const TYPED = `import WebSocket, { WebSocketServer, RawData } from 'ws-rs';
import type { IncomingMessage } from 'http';

const wss: WebSocketServer = new WebSocketServer({ port: 0, maxPayload: 1 << 20 });
wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
  const ip: string | undefined = req.socket.remoteAddress;
  ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  ws.send(\`hello \${ip}\`);
});
const client = new WebSocket('ws://127.0.0.1:1', { perMessageDeflate: false });
const state: number = client.readyState;
client.on('close', (code: number, reason: Buffer) => console.log(state, code, reason.toString()));
`;

// 1 and 2: root + platform package, echo and types.
const app = project('install');
sh(app, 'npm', [
  'install',
  rootTarball,
  hostTarball,
  `typescript@${devVersion('typescript')}`,
  `@types/node@${devVersion('@types/node')}`
]);
fs.writeFileSync(path.join(app, 'echo.js'), ECHO);
const echo = sh(app, process.execPath, ['echo.js']);
if (!echo.includes('echo ok')) fail(`echo.js printed:\n${echo}`);
console.log('install-test: echo through the installed package: ok');

fs.writeFileSync(path.join(app, 'typed.ts'), TYPED);
fs.writeFileSync(
  path.join(app, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'commonjs', target: 'es2020', esModuleInterop: true },
    files: ['typed.ts']
  })
);
sh(app, process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app]);
console.log('install-test: TypeScript against the installed types: ok');

// 3: the root package alone says what is missing.
const bare = project('no-binary');
sh(bare, 'npm', ['install', '--omit=optional', rootTarball]);
const out = sh(bare, process.execPath, ['-e', "require('ws-rs')"], true);
if (!out.includes(`ws-rs-${HOST}`) || !out.includes('build from source')) {
  fail(`the missing-binary error does not say what to install:\n${out}`);
}
console.log('install-test: without the platform package, the error names it: ok');

for (const dir of [app, bare]) fs.rmSync(dir, { recursive: true, force: true });
console.log('install-test: passed');
