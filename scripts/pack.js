'use strict';

// `npm run pack:all`: the tarballs a release publishes, in dist/:
//
// - ws-rs-<version>.tgz, the root package (JS, types, loader; never a binary);
// - ws-rs-linux-x64-gnu-<version>.tgz, the one platform package this machine builds,
//   linked against glibc 2.17 with cargo-zigbuild so that it loads on old distributions
//   (the napi-rs convention), and checked with `objdump -T`.
//
// Before packing it checks that every npm/<platform>/package.json and every optional
// dependency of the root carries the root's version. The other platforms are built by
// .github/workflows/ci.yml on their own runners.
//
// Installs what it needs when missing: cargo-zigbuild (cargo install) and zig (the
// `ziglang` package from PyPI).

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const GLIBC_FLOOR = '2.17';
const HOST = 'linux-x64-gnu';
const TRIPLE = 'x86_64-unknown-linux-gnu';
const CARGO_ZIGBUILD_VERSION = '0.24.1';
const ZIGLANG_VERSION = '0.17.1';

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...options });
  if (r.status !== 0) {
    console.error(`pack: \`${cmd} ${args.join(' ')}\` failed`);
    process.exit(r.status === null ? 1 : r.status);
  }
  return r;
}

function succeeds(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore', cwd: root });
  return r.status === 0;
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** Every platform package and optional dependency carries the root's version. */
function checkVersions() {
  const pkg = readJson(path.join(root, 'package.json'));
  const problems = [];
  const platforms = fs.readdirSync(path.join(root, 'npm'));
  for (const platform of platforms) {
    const sub = readJson(path.join(root, 'npm', platform, 'package.json'));
    if (sub.name !== `ws-rs-${platform}`) problems.push(`npm/${platform} is named ${sub.name}`);
    if (sub.version !== pkg.version) problems.push(`${sub.name} is at ${sub.version}, ws-rs at ${pkg.version}`);
    if (pkg.optionalDependencies[sub.name] !== pkg.version) {
      problems.push(`optionalDependencies["${sub.name}"] is ${pkg.optionalDependencies[sub.name]}`);
    }
  }
  for (const dep of Object.keys(pkg.optionalDependencies)) {
    if (!platforms.includes(dep.replace(/^ws-rs-/, ''))) problems.push(`${dep} has no npm/ folder`);
  }
  if (problems.length) {
    console.error(`pack: versions out of step:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  return pkg.version;
}

function ensureZigbuild() {
  if (!succeeds('cargo-zigbuild', ['--version'])) {
    run('cargo', ['install', '--locked', 'cargo-zigbuild', '--version', CARGO_ZIGBUILD_VERSION]);
  }
  if (!succeeds('zig', ['version']) && !succeeds('python3', ['-m', 'ziglang', 'version'])) {
    run('python3', ['-m', 'pip', 'install', '--quiet', `ziglang==${ZIGLANG_VERSION}`]);
  }
}

/** Newest `GLIBC_x.y` symbol version the binary needs. */
function newestGlibc(file) {
  const r = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`pack: objdump -T ${file} failed: ${r.stderr}`);
    process.exit(1);
  }
  const versions = [...new Set(r.stdout.match(/GLIBC_[0-9.]+/g) || [])].map((v) => v.slice(6));
  return versions.sort(compareVersions).pop();
}

/** Orders dotted version numbers numerically (2.9 before 2.17). */
function compareVersions(a, b) {
  return a.localeCompare(b, 'en', { numeric: true });
}

function buildHostBinary() {
  ensureZigbuild();
  run('cargo', [
    'zigbuild',
    '--release',
    '-p',
    'ws-rs',
    '--target',
    `${TRIPLE}.${GLIBC_FLOOR}`,
    '--target-dir',
    path.join('target', 'zig')
  ]);
  const built = path.join(root, 'target', 'zig', TRIPLE, 'release', 'libws_rs.so');
  const newest = newestGlibc(built);
  if (newest === undefined) {
    console.error(`pack: ${built} names no glibc symbol versions`);
    process.exit(1);
  }
  if (compareVersions(newest, GLIBC_FLOOR) > 0) {
    console.error(`pack: the binary needs GLIBC_${newest}, above the ${GLIBC_FLOOR} floor`);
    process.exit(1);
  }
  console.log(`pack: newest glibc symbol in the binary: GLIBC_${newest} (floor ${GLIBC_FLOOR})`);
  fs.copyFileSync(built, path.join(root, 'npm', HOST, `ws-rs.${HOST}.node`));
}

/** `npm pack` without lifecycle scripts (the root's `prepare` would build). */
function pack(dir) {
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dist, dir], {
    cwd: root,
    encoding: 'utf8'
  });
  if (r.status !== 0) {
    console.error(`pack: npm pack ${dir} failed:\n${r.stderr}`);
    process.exit(1);
  }
  const [info] = JSON.parse(r.stdout);
  return info;
}

const version = checkVersions();
buildHostBinary();
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist);

const rootInfo = pack('.');
const binaries = rootInfo.files.filter((f) => f.path.endsWith('.node'));
if (binaries.length) {
  console.error(`pack: the root package would ship ${binaries.map((f) => f.path).join(', ')}`);
  process.exit(1);
}
const hostInfo = pack(`./npm/${HOST}`);
if (!hostInfo.files.some((f) => f.path === `ws-rs.${HOST}.node`)) {
  console.error(`pack: ws-rs-${HOST} has no binary`);
  process.exit(1);
}
for (const info of [rootInfo, hostInfo]) {
  console.log(`pack: dist/${info.filename} (${info.files.length} files, ${info.size} bytes) v${version}`);
}
