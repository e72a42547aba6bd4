/**
 * Charts as inline SVG strings: no library, no CDN, nothing fetched. Every value taken from data is
 * HTML-escaped ({@link esc}); numbers are formatted by us. Each mark carries `data-*` attributes
 * (the value it draws) so tests and people can read what a chart says.
 */
import { formatDuration } from '../../common/duration';
import type { DailyPoint, HealMetrics } from '../../core/metrics-model';

/** Escape text for HTML content and double- or single-quoted attributes. */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Colours of the outcomes (charts, badges, legend). */
export const OUTCOME_COLORS: Record<string, string> = {
  succeeded: '#3a9d5d',
  healed: '#2f7fd8',
  failed: '#d64545',
  'rolled-back': '#8e5bd6',
  rejected: '#8a8f98',
  'awaiting-approval': '#e0a030',
};

const STACK: (keyof DailyPoint & string)[] = ['succeeded', 'healed', 'failed', 'rolled-back', 'rejected'];

const W = 600;
const H = 230;
const M = { top: 16, right: 16, bottom: 34, left: 56 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** A round upper bound for an axis: 1, 2, 5 × 10^k. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

function frame(title: string, id: string, body: string, yLabels: [number, string][]): string {
  const grid = yLabels
    .map(([v, label]) => {
      const y = M.top + PH - v * PH;
      return `<line x1="${M.left}" x2="${M.left + PW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" class="grid"/><text x="${M.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" class="tick">${esc(label)}</text>`;
    })
    .join('');
  return (
    `<svg id="${esc(id)}" class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${esc(title)}</title>${grid}` +
    `<line x1="${M.left}" x2="${M.left + PW}" y1="${M.top + PH}" y2="${M.top + PH}" class="axis"/>` +
    body +
    `</svg>`
  );
}

function empty(title: string, id: string, text: string): string {
  return frame(
    title,
    id,
    `<text x="${M.left + PW / 2}" y="${M.top + PH / 2}" text-anchor="middle" class="empty">${esc(text)}</text>`,
    [],
  );
}

/** MTTR of every healed episode over time: points (one per episode) joined by a line. */
export function mttrChart(series: HealMetrics['mttrSeries']): string {
  const title = 'MTTR over time (drift detected → healed table committed)';
  const pts = series.filter((p) => Number.isFinite(Date.parse(p.at)));
  if (!pts.length) return empty(title, 'chart-mttr', 'no healed episode yet');
  const times = pts.map((p) => Date.parse(p.at));
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const yMax = niceMax(Math.max(...pts.map((p) => p.mttrMs)));
  const x = (t: number) => M.left + (t1 === t0 ? PW / 2 : ((t - t0) / (t1 - t0)) * PW);
  const y = (ms: number) => M.top + PH - (ms / yMax) * PH;
  const sorted = pts.map((p, i) => ({ p, t: times[i] ?? t0 })).sort((a, b) => a.t - b.t);
  const line =
    sorted.length > 1
      ? `<polyline class="line" fill="none" points="${sorted.map(({ p, t }) => `${x(t).toFixed(1)},${y(p.mttrMs).toFixed(1)}`).join(' ')}"/>`
      : '';
  const dots = sorted
    .map(
      ({ p, t }) =>
        `<circle class="pt" cx="${x(t).toFixed(1)}" cy="${y(p.mttrMs).toFixed(1)}" r="4.5" data-mttr-ms="${p.mttrMs}" data-episode="${esc(p.episodeId)}" data-at="${esc(p.at)}">` +
        `<title>${esc(`${p.pipeline} · ${formatDuration(p.mttrMs)} · ${p.at.replace('T', ' ').slice(0, 16)} UTC · ${p.episodeId}`)}</title></circle>`,
    )
    .join('');
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const xLabels =
    `<text x="${M.left}" y="${H - 10}" class="tick">${esc(day(t0))}</text>` +
    (t1 !== t0 ? `<text x="${M.left + PW}" y="${H - 10}" text-anchor="end" class="tick">${esc(day(t1))}</text>` : '');
  return frame(title, 'chart-mttr', line + dots + xLabels, [
    [0, '0'],
    [0.5, formatDuration(yMax / 2)],
    [1, formatDuration(yMax)],
  ]);
}

/** Runs per day, stacked by outcome (succeeded, healed, failed, rolled back, rejected). */
export function outcomesChart(daily: DailyPoint[]): string {
  const title = 'Outcomes per day (UTC)';
  if (!daily.length) return empty(title, 'chart-outcomes', 'no run recorded yet');
  const yMax = niceMax(Math.max(...daily.map((d) => d.runs)));
  const slot = PW / daily.length;
  const bw = Math.max(2, Math.min(48, slot * 0.7));
  const every = Math.max(1, Math.ceil(daily.length / 8));
  const bars = daily
    .map((d, i) => {
      const cx = M.left + slot * i + slot / 2;
      let acc = 0;
      const rects = STACK.map((k) => {
        const n = d[k] as number;
        if (!n) return '';
        const h = (n / yMax) * PH;
        const yTop = M.top + PH - ((acc + n) / yMax) * PH;
        acc += n;
        return (
          `<rect class="bar" x="${(cx - bw / 2).toFixed(1)}" y="${yTop.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${OUTCOME_COLORS[k]}" data-date="${esc(d.date)}" data-outcome="${esc(k)}" data-count="${n}">` +
          `<title>${esc(`${d.date}: ${n} ${k}`)}</title></rect>`
        );
      }).join('');
      const label =
        i % every === 0 || i === daily.length - 1
          ? `<text x="${cx.toFixed(1)}" y="${H - 10}" text-anchor="middle" class="tick">${esc(d.date.slice(5))}</text>`
          : '';
      return `<g class="day" data-date="${esc(d.date)}" data-runs="${d.runs}">${rects}${label}</g>`;
    })
    .join('');
  // Counts: only whole-number ticks.
  const ticks: [number, string][] = [
    [0, '0'],
    [1, fmt(yMax)],
  ];
  if (Number.isInteger(yMax / 2)) ticks.splice(1, 0, [0.5, fmt(yMax / 2)]);
  return frame(title, 'chart-outcomes', bars, ticks);
}

/** The legend of {@link outcomesChart}. */
export function outcomeLegend(): string {
  return `<div class="legend">${STACK.map((k) => `<span><i style="background:${OUTCOME_COLORS[k]}"></i>${esc(k)}</span>`).join('')}</div>`;
}
