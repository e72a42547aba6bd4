#!/usr/bin/env node
// The `heal` command. Runs the prebuilt CLI (dist/heal.cjs, `npm run build`) when it is newer than
// every source file, else the TypeScript sources through tsx (no build step needed).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const built = path.join(root, 'dist', 'heal.cjs');

function newestSource() {
  let newest = fs.statSync(path.join(root, 'worker.ts')).mtimeMs;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  for (const d of ['common', 'lib', 'activities', 'workflows', 'client']) walk(path.join(root, d));
  return newest;
}

function load() {
  try {
    if (fs.statSync(built).mtimeMs > newestSource()) return require(built);
  } catch {
    // no build: use the sources
  }
  require('tsx/cjs');
  return require('../client/cli.ts');
}

load()
  .main(process.argv)
  .then(
    (code) => process.exit(code),
    (err) => {
      console.error(`heal: ${err && err.message ? err.message : String(err)}`);
      process.exit(3);
    },
  );
