/**
 * The gauntlet's datasets: real public ones (vega-datasets) and one seeded synthetic one, and the
 * cases made from them (every chaos kind written over each clean file).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeChaos, type ChaosKind } from '../chaos';
import type { GauntletCase } from './cases';

const VEGA = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data');
export const DEFAULT_DATASETS = [
  'seattle-weather',
  'gapminder-health-income',
  'stocks',
  'la-riots',
  'airports',
  'us-employment',
  'synthetic-customers',
];

/**
 * No vega dataset has booleans, non-ASCII text, "YYYY-MM-DD HH:MM:SS" timestamps and optional
 * columns together, so one seeded, generated dataset covers the kinds that need them.
 */
function syntheticCustomers(rows = 400, seed = 11): string {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const first = [
    'José',
    'Zoë',
    'Ana',
    'Björn',
    'Chloé',
    'Jürgen',
    'Maria',
    'Noël',
    'Olivia',
    'Søren',
    'Tomás',
    'Élodie',
  ];
  const last = ['García', 'Müller', 'Dupont', 'Nuñez', 'Smith', 'Ødegaard', 'Rossi', 'Könnig', 'Martin', 'Weiß'];
  const countries = ['ES', 'DE', 'FR', 'US', 'DK', 'IT'];
  const lines = ['customer_id,full_name,country,birth_date,signupTs,isActive,balance,referrer'];
  for (let i = 1; i <= rows; i++) {
    const d = new Date(Date.UTC(2024, 0, 1) + Math.floor(rand() * 365 * 86400) * 1000);
    const ts = d.toISOString().slice(0, 19).replace('T', ' ');
    const balance = (rand() * 5000 - 500).toFixed(2);
    const referrer = rand() < 0.3 ? '' : `ref-${Math.floor(rand() * 50)}`;
    const birth = new Date(Date.UTC(1950, 0, 1) + Math.floor(rand() * 50 * 365) * 86400000).toISOString().slice(0, 10);
    lines.push(
      [
        i,
        `${pick(first)} ${pick(last)}`,
        pick(countries),
        birth,
        ts,
        rand() < 0.6 ? 'true' : 'false',
        balance,
        referrer,
      ].join(','),
    );
  }
  return lines.join('\n') + '\n';
}

/** Every kind over every dataset, written under `work`; a kind that does not apply leaves `drifted` undefined. */
export async function buildCases(
  work: string,
  datasets: string[],
  kinds: ChaosKind[],
  seed: number,
): Promise<GauntletCase[]> {
  const cases: GauntletCase[] = [];
  for (const ds of datasets) {
    const clean = path.join(work, ds, 'clean.csv');
    fs.mkdirSync(path.dirname(clean), { recursive: true });
    if (ds === 'synthetic-customers') fs.writeFileSync(clean, syntheticCustomers());
    else fs.copyFileSync(path.join(VEGA, `${ds}.csv`), clean);
    for (const kind of kinds) {
      const out = path.join(work, ds, `${kind}.csv`);
      const r = await writeChaos(kind, clean, out, seed);
      cases.push({
        dataset: ds,
        kind,
        clean,
        drifted: r.applicable ? out : undefined,
        expect: r.expect,
        change: r.note,
        ...(r.applicable && kind === 'drop-optional' && r.details.dropped ? { nulledColumn: r.details.dropped } : {}),
        ...(r.applicable && r.details.addedRows ? { extraRows: r.details.addedRows } : {}),
        ...(r.applicable && r.details.widened ? { widened: r.details.widened } : {}),
      });
    }
  }
  return cases;
}
