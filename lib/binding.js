'use strict';

/**
 * Finds and loads the native addon, in this order:
 *
 * 1. `WS_RS_NATIVE_PATH`, when set (a `.node` file to use instead of any other);
 * 2. `ws-rs.<platform>.node` at the package root: what `npm run build` leaves in a
 *    clone, so development never needs the platform package;
 * 3. the platform package `ws-rs-<platform>` (an optional dependency of the published
 *    package, installed by npm only on its own os/cpu/libc).
 *
 * If none loads, the error says which platform package is missing and how to build
 * from source. The published root package ships this loader and no binary.
 */

const fs = require('fs');
const path = require('path');

/** Platform keys that have a package, as napi-rs names them. */
const PLATFORMS = [
  'linux-x64-gnu',
  'linux-x64-musl',
  'linux-arm64-gnu',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc'
];

/** Whether this Linux process runs on musl rather than glibc. */
function isMusl() {
  if (process.report && typeof process.report.getReport === 'function') {
    const report = process.report.getReport();
    const header = report && report.header;
    if (header && header.glibcVersionRuntime) return false;
    if (report && Array.isArray(report.sharedObjects)) {
      return report.sharedObjects.some((f) => f.includes('musl'));
    }
  }
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    return false;
  }
}

/**
 * The napi-rs platform key of this process: `linux-x64-gnu`, `darwin-arm64`, ...
 *
 * @return {String}
 */
function platformKey() {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/**
 * Loads the addon or throws an Error that says what to install or build.
 *
 * @return {Object} The addon's exports
 */
function load() {
  const key = platformKey();
  const tried = [];
  const attempt = (what) => {
    try {
      return require(what);
    } catch (err) {
      tried.push(`  ${what}: ${err.message.split('\n')[0]}`);
      return null;
    }
  };

  if (process.env.WS_RS_NATIVE_PATH) {
    const binding = attempt(path.resolve(process.env.WS_RS_NATIVE_PATH));
    if (binding) return binding;
  }
  const local = path.join(__dirname, '..', `ws-rs.${key}.node`);
  if (fs.existsSync(local)) {
    const binding = attempt(local);
    if (binding) return binding;
  }
  const pkg = `ws-rs-${key}`;
  const binding = attempt(pkg);
  if (binding) return binding;

  const supported = PLATFORMS.includes(key)
    ? `npm installs it as an optional dependency of ws-rs; it is missing, perhaps ` +
      `because optional dependencies were omitted (--omit=optional) or the ` +
      `lockfile was made on another platform. Install it with \`npm install ${pkg}\`.`
    : `ws-rs publishes no binary for ${key} (it has: ${PLATFORMS.join(', ')}).`;
  throw new Error(
    `ws-rs: no native binary for ${key}. It comes in the package ${pkg}: ${supported}\n` +
      `To build from source instead (needs Rust): clone the repository and run ` +
      `\`npm install\` there, or set WS_RS_NATIVE_PATH to a built .node file.\n` +
      `Tried:\n${tried.join('\n') || '  (nothing found)'}`
  );
}

module.exports = load();
