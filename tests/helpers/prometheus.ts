/** Parse Prometheus text exposition (0.0.4) strictly, for tests. */

/** A strict reader of the text format: HELP/TYPE comments, then `name{labels} value` lines. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$/.exec(line);
    if (t) {
      typed.add(t[1]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const s =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf)$/.exec(
        line,
      );
    if (!s) throw new Error(`not a Prometheus sample line: ${line}`);
    const base = s[1]!.replace(/_(sum|count)$/, '');
    if (!typed.has(s[1]!) && !typed.has(base)) throw new Error(`sample before its TYPE: ${line}`);
    out.set(`${s[1]}${s[2] ?? ''}`, Number(s[3]));
  }
  return out;
}
