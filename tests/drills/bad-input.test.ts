/**
 * Drill: bad input files (the fast ones), through the real CLI and a real worker process (as
 * `npm run dev` runs them). Each file gets one clear error (or quarantine for a few bad rows), a
 * non-zero exit when nothing loads, the previous table and version intact, and bounded memory in
 * the CLI and the worker. The wide, big and ambiguous files are in bad-input.slow.test.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badInputSuite, HEADER, rows } from './helpers/bad-input-suite';

const suite = badInputSuite();

test('an empty file: refused as drift (empty-file), exit 1', async () => {
  const { r, json } = await suite.runOn(suite.write('empty.csv', ''), 'empty');
  expect(r.code).toBe(1);
  expect(json).toMatchObject({ outcome: 'failed', driftReport: { kinds: ['empty-file'] } });
  expect(json?.error?.message).toContain('is empty (0 bytes)');
});

test('a header and no rows: refused (no-rows), never replaces the table', async () => {
  const { r, json } = await suite.runOn(suite.write('header-only.csv', `${HEADER}\n`), 'header only');
  expect(r.code).toBe(1);
  expect(json).toMatchObject({ outcome: 'failed', driftReport: { kinds: ['no-rows'] } });
  expect(json?.error?.message).toContain('a header but no data rows');
});

/** 256 KB of pseudo-random bytes, the same on every run (a SHA-256 chain). */
function garbage(): Buffer {
  const blocks: Buffer[] = [];
  let block = crypto.createHash('sha256').update('heal drill: binary garbage').digest();
  for (let n = 0; n < (256 * 1024) / 32; n++) {
    blocks.push(block);
    block = crypto.createHash('sha256').update(block).digest();
  }
  return Buffer.concat(blocks);
}

test('binary garbage: refused with one clear drift (not text in this encoding / not rows), exit 1', async () => {
  const { r, json } = await suite.runOn(suite.write('garbage.csv', garbage()), 'binary garbage');
  expect(r.code).toBe(1);
  expect(json?.outcome).toBe('failed');
  // Which of the two a given byte soup is classified as depends on its bytes; either is a refusal.
  expect(json?.driftReport?.kinds).toHaveLength(1);
  expect(['encoding-change', 'malformed-rows']).toContain(json?.driftReport?.kinds[0]);
});

test('invalid UTF-8 in one row: that row quarantined ("invalid UTF-8"), the rest loads as UTF-8', async () => {
  const lines = rows(1000);
  const bad = Buffer.concat([
    Buffer.from('11,bad '),
    Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
    Buffer.from(' name,13.75,2024-01-12\n'),
  ]);
  const body = Buffer.concat([
    Buffer.from(`${HEADER}\n${lines.slice(0, 10).join('\n')}\n`),
    bad,
    Buffer.from(`${lines.slice(11).join('\n')}\n`),
  ]);
  const { r, json } = await suite.runOn(suite.write('invalid-utf8.csv', body), 'invalid utf-8');
  expect(r.code).toBe(0);
  // Every row is accounted for, and the spec stays UTF-8: the bytes are not latin-1 text (no
  // letters), so the file is not switched to latin-1 (which would garble later UTF-8 accents).
  expect(json).toMatchObject({ outcome: 'succeeded', rowsLoaded: 999, rowsQuarantined: 1, specVersion: 1 });
});

test('a few ragged rows: quarantined within the budget, the rest loads', async () => {
  const lines = rows(1000);
  lines[100] = `${lines[100]},surplus`;
  lines[500] = '501,short';
  const { r, json } = await suite.runOn(
    suite.write('ragged.csv', `${HEADER}\n${lines.join('\n')}\n`),
    'ragged (2 rows)',
  );
  expect(r.code).toBe(0);
  expect(json).toMatchObject({ outcome: 'succeeded', rowsLoaded: 998, rowsQuarantined: 2 });
});

test('a symlink to a file outside the allowed roots: one line, exit 2, nothing started', async () => {
  const link = path.join(suite.home(), 'link.csv');
  fs.symlinkSync(path.join(suite.outside(), 'secret.csv'), link);
  const { r } = await suite.runOn(link, 'symlink outside');
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(`-> ${path.join(suite.outside(), 'secret.csv')}): outside the allowed roots`);
});

test('a path with .. that leaves the allowed roots: one line, exit 2', async () => {
  const sneaky = `${suite.home()}/../${path.basename(suite.outside())}/secret.csv`;
  const { r } = await suite.runOn(sneaky, 'dot-dot');
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain('outside the allowed roots');
});
