import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BENCH_COLUMNS,
  benchFile,
  benchHeader,
  benchRows,
  withHeader,
  writeBenchCsv,
} from '../../tools/bench/generate';
import { tempDir } from '../helpers/fixtures';

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('bench generator', () => {
  it('writes the same bytes for the same seed, and different bytes for another seed', async () => {
    const dir = tempDir('heal-bench-gen-');
    await writeBenchCsv(path.join(dir, 'a.csv'), 1234, 7);
    await writeBenchCsv(path.join(dir, 'b.csv'), 1234, 7);
    await writeBenchCsv(path.join(dir, 'c.csv'), 1234, 8);
    expect(sha(path.join(dir, 'a.csv'))).toBe(sha(path.join(dir, 'b.csv')));
    expect(sha(path.join(dir, 'a.csv'))).not.toBe(sha(path.join(dir, 'c.csv')));
  });

  it('writes a header and one line per row, with every column filled as documented', async () => {
    const dir = tempDir('heal-bench-gen-');
    const file = path.join(dir, 'x.csv');
    await writeBenchCsv(file, 60_000, 42); // more than one chunk
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toBe(BENCH_COLUMNS.join(','));
    expect(lines.at(-1)).toBe('');
    expect(lines.length - 2).toBe(60_000);
    const row = (lines[1] ?? '').split(',');
    expect(row).toHaveLength(BENCH_COLUMNS.length);
    expect(row[0]).toBe('1');
    expect(row[2]).toMatch(/^[a-z0-9.-]+@[a-z.]+$/);
    expect(row[4]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(row[6]).toMatch(/^\d+\.\d{2}$/);
    expect(['true', 'false']).toContain(row[8]);
    expect(lines[60_000]?.startsWith('60000,')).toBe(true);
  });

  it('makes any slice on its own: rows [a, b) equal the same rows of a whole file', () => {
    const whole = benchRows(3, 0, 50);
    const parts = benchRows(3, 0, 20) + benchRows(3, 20, 30);
    expect(parts).toBe(whole);
  });

  it('caches a file by rows and seed, and swaps a header by streaming', async () => {
    const dir = tempDir('heal-bench-gen-');
    const f = await benchFile(dir, 500, 11);
    const mtime = fs.statSync(f).mtimeMs;
    expect(await benchFile(dir, 500, 11)).toBe(f);
    expect(fs.statSync(f).mtimeMs).toBe(mtime);
    const drifted = path.join(dir, 'drifted.csv');
    await withHeader(f, drifted, benchHeader().replace('amount', 'amount_usd'));
    const a = fs.readFileSync(f, 'utf8');
    const b = fs.readFileSync(drifted, 'utf8');
    expect(b.split('\n')[0]).toBe(BENCH_COLUMNS.join(',').replace('amount', 'amount_usd'));
    expect(b.slice(b.indexOf('\n'))).toBe(a.slice(a.indexOf('\n')));
  });
});
