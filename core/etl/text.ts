/**
 * What a CSV file's bytes and first lines say before DuckDB reads it: which encoding it is really
 * in (a UTF-8 file with a few corrupt lines is not a latin-1 file), and on which line its header is
 * (lines of preamble above it: "Report generated …", "Source: …", blank lines). Plain file reads,
 * no DuckDB: cheap enough to run on every load.
 */
import * as fs from 'node:fs';
import type { CsvOptions } from '../../common/spec';

/** What the bytes of a file say about its encoding (see {@link scanEncoding}). */
export interface EncodingScan {
  /** Valid UTF-8 multi-byte sequences: text written as UTF-8 ("é" as C3 A9). */
  multibyte: number;
  /** Bytes that start no valid UTF-8 sequence. */
  invalid: number;
  /** Of those, bytes that read as a latin-1 letter (À…ÿ, not × ÷) next to an ASCII letter: text written as latin-1. */
  letters: number;
  /** Lines holding invalid bytes. */
  invalidLines: number;
  /** False when the scan stopped early (its `until` held): the counts cover the file up to there. */
  complete: boolean;
}

const CHUNK = 1 << 20;

const isAsciiLetter = (b: number) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isLatinLetter = (b: number) => b >= 0xc0 && b !== 0xd7 && b !== 0xf7;
/**
 * A neighbour that makes a latin-1 letter plausible: an ASCII letter ("Zürich", "Ødegaard").
 * Non-ASCII bytes side by side ("ÿþÃ(") are not taken for words: in latin-1 text they are rare,
 * in corrupt bytes common.
 */
const lettery = (b: number | undefined) => b !== undefined && isAsciiLetter(b);

/**
 * Scan a file's bytes as UTF-8: valid multi-byte sequences, invalid bytes (and whether they read
 * as latin-1 letters), lines holding them. `until` is asked after each MiB: the scan stops as soon
 * as the answer is known (a file with both valid multi-byte sequences and invalid bytes is UTF-8
 * with corrupt lines, whatever the rest holds).
 */
export function scanEncoding(file: string, until?: (s: EncodingScan) => boolean): EncodingScan {
  const s: EncodingScan = { multibyte: 0, invalid: 0, letters: 0, invalidLines: 0, complete: true };
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let need = 0; // continuation bytes still expected
    let lo = 0x80;
    let hi = 0xbf;
    let lead = -1; // lead byte of the sequence in progress
    let prev: number | undefined; // byte before `lead` (or before a pending invalid byte)
    let pending = -1; // an invalid byte whose next byte is not read yet
    let lineBad = false;
    const invalid = (b: number, before: number | undefined, after: number | undefined) => {
      s.invalid++;
      lineBad = true;
      if (isLatinLetter(b) && (lettery(before) || lettery(after))) s.letters++;
    };
    let last: number | undefined;
    for (let n = fs.readSync(fd, buf, 0, CHUNK, null); n > 0; n = fs.readSync(fd, buf, 0, CHUNK, null)) {
      for (let i = 0; i < n; i++) {
        const b = buf[i] as number;
        if (pending >= 0) {
          invalid(pending, prev, b);
          pending = -1;
        }
        if (need > 0) {
          if (b >= lo && b <= hi) {
            need--;
            lo = 0x80;
            hi = 0xbf;
            if (need === 0) s.multibyte++;
            last = b;
            continue;
          }
          // A broken sequence: its lead byte is the invalid one (latin-1 "é" followed by "t").
          invalid(lead, prev, b);
          need = 0;
        }
        if (b < 0x80) {
          if (b === 0x0a) {
            if (lineBad) s.invalidLines++;
            lineBad = false;
          }
        } else if (b >= 0xc2 && b <= 0xdf) [need, lo, hi, lead, prev] = [1, 0x80, 0xbf, b, last];
        else if (b >= 0xe0 && b <= 0xef)
          [need, lo, hi, lead, prev] = [2, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf, b, last];
        else if (b >= 0xf0 && b <= 0xf4)
          [need, lo, hi, lead, prev] = [3, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf, b, last];
        else [pending, prev] = [b, last];
        last = b;
      }
      if (until?.(s)) {
        s.complete = false;
        break;
      }
    }
    if (pending >= 0) invalid(pending, prev, undefined);
    if (need > 0) invalid(lead, prev, undefined);
    if (lineBad) s.invalidLines++;
  } finally {
    fs.closeSync(fd);
  }
  return s;
}

/**
 * The file is really in a one-byte encoding (latin-1): not one valid UTF-8 multi-byte sequence,
 * and its other bytes read as letters. A file with valid multi-byte sequences is UTF-8 whatever
 * else it holds (its invalid lines are corrupt, not latin-1); random bytes are corruption too.
 */
export function looksLatin1(s: EncodingScan): boolean {
  return s.multibyte === 0 && s.invalid > 0 && s.letters >= 0.8 * s.invalid;
}

/** The file is valid UTF-8 and has non-ASCII text: read as latin-1, its accents would be mojibake ("Ã©"). */
export function looksUtf8(s: EncodingScan): boolean {
  return s.invalid === 0 && s.multibyte > 0;
}

/** Lines and bytes looked at for a header below a preamble. */
const HEADER_SEARCH_LINES = 50;
const HEADER_SEARCH_BYTES = 64 * 1024;

/** Fields of one line, split outside quotes, trimmed and unquoted. */
function fieldsOf(line: string, delimiter: string, quote: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote && ch === quote) quoted = !quoted;
    else if (!quoted && line.startsWith(delimiter, i)) {
      out.push(field.trim());
      field = '';
      i += delimiter.length - 1;
    } else field += ch;
  }
  out.push(field.trim());
  return out;
}

/** Where a file's header is when lines of preamble sit above it (see {@link findHeaderLine}). */
export interface HeaderLine {
  /** The header's line, 1-based: `skipRows` is one less. */
  line: number;
  /** The lines above it that are not blank (clipped by the caller), for the report. */
  preamble: string[];
}

/**
 * The line holding the expected header when it is not the one the spec reads (`skipRows` + 1):
 * the first of the file's first 50 lines (64 KiB) whose fields, split with the spec's delimiter
 * and quote, hold at least half the expected column names (two at least; the one of a
 * one-column source) — more than the line the spec reads as its header does. Undefined when that
 * line already holds them, when no line does, or for UTF-16.
 */
export function findHeaderLine(
  file: string,
  csv: Pick<CsvOptions, 'delimiter' | 'quote' | 'skipRows' | 'encoding'>,
  expected: readonly string[],
): HeaderLine | undefined {
  if (csv.encoding === 'utf-16' || !expected.length) return undefined;
  const fd = fs.openSync(file, 'r');
  let buf = Buffer.alloc(HEADER_SEARCH_BYTES);
  try {
    buf = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } finally {
    fs.closeSync(fd);
  }
  const text = buf.toString(csv.encoding === 'latin-1' ? 'latin1' : 'utf8').replace(/^\uFEFF/, '');
  const lines = text.split(/\r\n|\n|\r/).slice(0, HEADER_SEARCH_LINES);
  // The last line may be cut by the byte limit: only whole lines count.
  if (buf.length === HEADER_SEARCH_BYTES) lines.pop();
  const names = new Set(expected);
  const score = (line: string) => new Set(fieldsOf(line, csv.delimiter, csv.quote).filter((f) => names.has(f))).size;
  const need = expected.length === 1 ? 1 : Math.max(2, Math.ceil(expected.length / 2));
  const current = lines[csv.skipRows] === undefined ? 0 : score(lines[csv.skipRows] as string);
  if (current >= need) return undefined;
  const at = lines.findIndex((l) => score(l) >= need && score(l) > current);
  if (at < 0 || at === csv.skipRows) return undefined;
  return { line: at + 1, preamble: lines.slice(0, at).filter((l) => l.trim() !== '') };
}
