/** Column-name similarity: case, separators, camel/snake, tokens, edit distance. Pure functions. */

/** Split a column name into lower-case tokens: "netGeneration" / "net_generation" / "Net Generation" -> [net, generation]. */
export function nameTokens(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Canonical form: tokens joined by "_" (so camelCase, snake_case, kebab, spaced and re-cased names meet). */
export function canonicalName(name: string): string {
  return nameTokens(name).join('_');
}

/** snake_case an arbitrary header into a SQL identifier. */
export function toIdentifier(name: string, taken: ReadonlySet<string> = new Set()): string {
  let base = canonicalName(name) || 'column';
  if (/^[0-9]/.test(base)) base = `c_${base}`;
  base = base.slice(0, 60);
  let out = base;
  for (let i = 2; taken.has(out.toLowerCase()); i++) out = `${base}_${i}`;
  return out;
}

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] ?? 0;
      prev[j] = Math.min((prev[j] ?? 0) + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length] ?? 0;
}

/** Weight of a token matched by abbreviation ("qty" ~ "quantity") rather than equality. */
const ABBREVIATION_WEIGHT = 0.8;

/** `short` abbreviates `long`: same first letter, its letters in order within `long`, and at most 60% as long. */
function abbreviates(short: string, long: string): boolean {
  if (short.length < 2 || short.length > long.length * 0.6 || short[0] !== long[0]) return false;
  let i = 0;
  for (const ch of long) if (ch === short[i]) i++;
  return i === short.length;
}

/** Token overlap in [0, 1]: equal tokens count 1, abbreviated ones {@link ABBREVIATION_WEIGHT}, over the tokens of both. */
function tokenOverlap(ta: readonly string[], tb: readonly string[]): number {
  const restB = [...tb];
  let exact = 0;
  const restA: string[] = [];
  for (const t of ta) {
    const j = restB.indexOf(t);
    if (j >= 0) {
      restB.splice(j, 1);
      exact++;
    } else restA.push(t);
  }
  let abbr = 0;
  for (const t of restA) {
    const j = restB.findIndex((u) => abbreviates(t, u) || abbreviates(u, t));
    if (j >= 0) {
      restB.splice(j, 1);
      abbr++;
    }
  }
  const union = ta.length + tb.length - exact - abbr;
  return (exact + ABBREVIATION_WEIGHT * abbr) / (union || 1);
}

/** One name is the initials of the other's tokens: "dob" ~ "date_of_birth". */
function initialism(ta: readonly string[], tb: readonly string[]): boolean {
  const [one, many] = ta.length === 1 ? [ta, tb] : [tb, ta];
  return one.length === 1 && many.length >= 2 && one[0] === many.map((t) => t[0]).join('');
}

/**
 * Similarity of two column names in [0, 1]: 1 when they are the same name re-cased or
 * re-separated, else the best of token overlap (abbreviations count, slightly less than equal
 * tokens), initials, and normalised edit distance.
 */
export function nameSimilarity(a: string, b: string): number {
  const ca = canonicalName(a);
  const cb = canonicalName(b);
  if (ca === cb) return 1;
  const ta = [...new Set(nameTokens(a))];
  const tb = [...new Set(nameTokens(b))];
  const fa = ca.replace(/_/g, '');
  const fb = cb.replace(/_/g, '');
  const edit = 1 - levenshtein(fa, fb) / Math.max(fa.length, fb.length, 1);
  return Math.max(tokenOverlap(ta, tb), initialism(ta, tb) ? ABBREVIATION_WEIGHT : 0, edit);
}
