#!/usr/bin/env node
// The `heal` command. Runs the prebuilt CLI (dist/heal.cjs, `npm run build`) when it is newer than
// every source file, else the TypeScript sources through tsx (no build step needed).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const built = path.join(root, 'dist', 'heal.cjs');

// Every product folder (the layer list owns them): a change anywhere the CLI can reach makes the build stale.
const { PRODUCT } = require('../eslint.layers.cjs');

function newestSource() {
  let newest = 0;
  const walk = (p) => {
    const st = fs.statSync(p);
    if (!st.isDirectory()) {
      if (p.endsWith('.ts')) newest = Math.max(newest, st.mtimeMs);
      return;
    }
    for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  for (const d of PRODUCT) walk(path.join(root, d));
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
