#!/usr/bin/env node
// The `heal` command: runs the TypeScript CLI through tsx (no build step needed).
require('tsx/cjs');
const { main } = require('../client/cli.ts');
main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`heal: ${err && err.message ? err.message : String(err)}`);
    process.exit(3);
  },
);
