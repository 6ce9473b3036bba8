'use strict';

// `npm test`: the Rust tests (protocol core and the rest of the workspace), then every
// node:test file in __test__/. Builds the addon first if `npm install` has not.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
}

if (!fs.readdirSync(root).some((f) => /^ws-rs\..+\.node$/.test(f))) run('npm', ['run', 'build']);

run('cargo', ['test', '--workspace']);

const files = fs
  .readdirSync(path.join(root, '__test__'))
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => path.join('__test__', f));

run(process.execPath, ['--test', '--test-concurrency=1', ...files]);
