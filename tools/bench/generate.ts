/**
 * Seeded, realistic CSV for the benchmark: ids, names, emails, countries, dates, timestamps,
 * amounts, categories and a flag. The same seed and row count always give the same bytes (a
 * mulberry32 PRNG, no clock), so a cached file can be reused and two machines bench the same data.
 * Written in chunks: no file is ever held whole in memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Columns of the bench file, in order. */
export const BENCH_COLUMNS = [
  'id',
  'name',
  'email',
  'country',
  'signup_date',
  'last_login',
  'amount',
  'category',
  'active',
] as const;

const FIRST = [
  'Ada',
  'Alan',
  'Grace',
  'Linus',
  'Margaret',
  'Ken',
  'Barbara',
  'Dennis',
  'Frances',
  'Edsger',
  'Radia',
  'Tim',
  'Hedy',
  'John',
  'Sophie',
  'Guido',
  'Anita',
  'Bjarne',
  'Katherine',
  'Niklaus',
  'Mary',
  'Donald',
  'Shafi',
  'Leslie',
  'José',
  'Zoë',
  'Håkon',
  'Chloé',
  'Yukihiro',
  'Ingrid',
];
const LAST = [
  'Lovelace',
  'Turing',
  'Hopper',
  'Torvalds',
  'Hamilton',
  'Thompson',
  'Liskov',
  'Ritchie',
  'Allen',
  'Dijkstra',
  'Perlman',
  'Berners-Lee',
  'Lamarr',
  'McCarthy',
  'Wilson',
  'van Rossum',
  'Borg',
  'Stroustrup',
  'Johnson',
  'Wirth',
  'Shelley',
  'Knuth',
  'Goldwasser',
  'Lamport',
  'García',
  'Müller',
  'Lie',
  "O'Neil",
  'Matsumoto',
  'Daubechies',
];
const DOMAINS = ['example.com', 'mail.test', 'corp.example', 'post.example.org', 'inbox.test'];
const COUNTRIES = ['US', 'GB', 'FR', 'DE', 'JP', 'BR', 'IN', 'NO', 'ES', 'CA', 'AU', 'NL'];
const CATEGORIES = ['books', 'games', 'garden', 'grocery', 'health', 'home', 'music', 'office', 'outdoor', 'toys'];

/** mulberry32: a small, fast, seeded 32-bit PRNG (same as tools/chaos.ts). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
const DAY_MS = 86_400_000;
const START_2015 = Date.UTC(2015, 0, 1);

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function isoDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function isoTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${isoDate(ms)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** The header line (with its newline). */
export function benchHeader(): string {
  return `${BENCH_COLUMNS.join(',')}\n`;
}

/**
 * Rows `[start, start + count)` of the file for `seed`, as CSV lines. Each row is drawn from its
 * own PRNG stream (seed mixed with the row id), so any slice can be made on its own: the
 * partitions of the fan-out bench are slices of the same data set.
 */
export function benchRows(seed: number, start: number, count: number): string {
  const out: string[] = [];
  for (let i = start; i < start + count; i++) {
    const rnd = mulberry32((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const first = pick(FIRST);
    const last = pick(LAST);
    const email = `${first}.${last}${Math.floor(rnd() * 1000)}@${pick(DOMAINS)}`
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9.@-]/g, '');
    const signup = START_2015 + Math.floor(rnd() * 3650) * DAY_MS;
    // ~3% never logged in (an empty, optional value).
    const login = rnd() < 0.03 ? '' : isoTimestamp(signup + Math.floor(rnd() * 400 * DAY_MS));
    // Amounts: log-normal-ish, cents.
    const amount = (Math.exp(rnd() * 4 + rnd() * 2) + rnd() * 10).toFixed(2);
    const row = [
      String(i + 1),
      csvField(`${first} ${last}`),
      email,
      pick(COUNTRIES),
      isoDate(signup),
      login,
      amount,
      pick(CATEGORIES),
      rnd() < 0.7 ? 'true' : 'false',
    ];
    out.push(row.join(','));
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

const CHUNK_ROWS = 50_000;

/** Write `rows` rows for `seed` (header included) to `file`, in chunks; written to a temp name, then renamed. */
export async function writeBenchCsv(file: string, rows: number, seed: number, start = 0): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.write(benchHeader());
    for (let i = 0; i < rows; i += CHUNK_ROWS) {
      await fh.write(benchRows(seed, start + i, Math.min(CHUNK_ROWS, rows - i)));
    }
  } finally {
    await fh.close();
  }
  fs.renameSync(tmp, file);
}

/** The cached bench file for (rows, seed) under `dir`, generated on first use. */
export async function benchFile(dir: string, rows: number, seed: number): Promise<string> {
  const file = path.join(dir, `bench-${rows}-s${seed}.csv`);
  if (!fs.existsSync(file)) await writeBenchCsv(file, rows, seed);
  return file;
}

/**
 * Replace the header line of `src` with `header` into `dst`, streaming the rest unchanged (how the
 * bench applies a header drift found by `writeChaos` on a small sample to a file of any size).
 */
export async function withHeader(src: string, dst: string, header: string): Promise<void> {
  const fd = fs.openSync(src, 'r');
  let headerBytes: number;
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(0x0a);
    if (nl < 0) throw new Error(`${src}: no header line`);
    headerBytes = nl + 1;
  } finally {
    fs.closeSync(fd);
  }
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  const tmp = `${dst}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${header.replace(/\r?\n$/, '')}\n`);
  await new Promise<void>((resolve, reject) => {
    const r = fs.createReadStream(src, { start: headerBytes });
    const w = fs.createWriteStream(tmp, { flags: 'a' });
    r.on('error', reject);
    w.on('error', reject);
    w.on('finish', () => resolve());
    r.pipe(w);
  });
  fs.renameSync(tmp, dst);
}
