/**
 * The dashboard page: one HTML document, CSS and charts inline, nothing fetched from anywhere but
 * its own server (the live page refreshes its main section from `/api/view`). Every value from data
 * or errors goes through {@link esc}; links are only built for http(s) URLs.
 *
 * Numbers carry `data-metric="<path in heal metrics --json>"` and `data-value="<raw JSON value>"`,
 * so what the page shows can be checked against `heal metrics --json`.
 */
import { formatDuration } from '../../common/duration';
import { workflowUrl } from '../../common/ids';
import type { EpisodeView, HealMetrics } from '../../core/metrics-model';
import { esc, mttrChart, OUTCOME_COLORS, outcomeLegend, outcomesChart } from './svg-charts';

export interface PageLinks {
  /** Base URL of the Temporal Web UI. */
  uiUrl: string;
  namespace: string;
}

export interface PageOptions extends PageLinks {
  /** Live page: refresh from `/api/view` every `refreshSeconds`. Static page: no script at all. */
  live: boolean;
  /** @default 5 */
  refreshSeconds?: number;
  /** Nonce of the page's one inline script (live page; must match the CSP header). */
  nonce?: string;
  /** Shown in the header (the state directory). */
  home?: string;
}

const nf = new Intl.NumberFormat('en-US');

/** An anchor for an http(s) URL; anything else is shown as text. */
function a(url: string | null | undefined, text: string): string {
  if (!url) return '';
  if (!/^https?:\/\//i.test(url)) return `<span class="muted">${esc(text)}</span>`;
  return `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(text)}</a>`;
}

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
const dur = (v: number | null) => (v === null ? '—' : formatDuration(v));
const num = (v: number | null) => (v === null ? '—' : nf.format(v));
const usd = (v: number) => (v === 0 ? '$0' : v < 0.01 ? `$${v.toPrecision(3)}` : `$${v.toFixed(2)}`);
const when = (iso: string) => (iso ? `${iso.replace('T', ' ').slice(0, 16)}` : '—');

/** One number, tagged with its path in the metrics JSON. */
function stat(path: string, value: number | null, shown: string): string {
  return `<span data-metric="${esc(path)}" data-value="${esc(JSON.stringify(value))}">${esc(shown)}</span>`;
}

function tile(label: string, path: string, value: number | null, shown: string, sub = ''): string {
  return `<div class="tile"><div class="label">${esc(label)}</div><div class="big">${stat(path, value, shown)}</div>${sub ? `<div class="sub">${sub}</div>` : ''}</div>`;
}

function badge(outcome: string): string {
  const color = OUTCOME_COLORS[outcome] ?? '#8a8f98';
  return `<span class="badge" style="background:${color}">${esc(outcome)}</span>`;
}

function notificationsCell(e: EpisodeView): string {
  if (!e.notifications.length) return '<span class="muted">—</span>';
  return e.notifications
    .map(
      (n) =>
        `<div class="note ${n.status === 'failed' ? 'bad' : ''}">${esc(`${n.outcome}: ${n.status}`)}${n.error ? `<div class="err">${esc(n.error)}</div>` : ''}</div>`,
    )
    .join('');
}

function episodesTable(m: HealMetrics, links: PageLinks): string {
  if (!m.recentEpisodes.length) return '<p class="muted">No healing episode yet.</p>';
  const ui = (id: string, runId?: string | null) => workflowUrl(links.uiUrl, links.namespace, id, runId);
  const rows = m.recentEpisodes
    .map(
      (e) => `<tr data-episode="${esc(e.episodeId)}">
<td class="nowrap">${esc(when(e.at))}</td>
<td>${esc(e.pipeline)}</td>
<td>${badge(e.outcome)}</td>
<td>${e.driftKinds.length ? `<div class="kinds">${esc(e.driftKinds.join(', '))}</div>` : ''}${e.driftSummary ? `<div class="muted small">${esc(e.driftSummary)}</div>` : ''}</td>
<td class="small">${e.fix.length ? e.fix.map((f) => `<div>${esc(f)}</div>`).join('') : '<span class="muted">—</span>'}${e.error ? `<div class="err">${esc(e.error)}</div>` : ''}</td>
<td class="num">${esc(e.attempts)}</td>
<td>${esc(e.doctor ?? '—')}</td>
<td class="num">${esc(dur(e.mttrMs))}</td>
<td class="num">${e.specVersion === null ? '—' : `v${esc(e.specVersion)}`}</td>
<td class="small">${notificationsCell(e)}</td>
<td class="nowrap small">${a(ui(e.episodeId), 'episode')} · ${a(ui(e.runWorkflowId, e.temporalRunId), 'run')}${e.prUrl ? ` · ${a(e.prUrl, 'PR')}` : ''}</td>
</tr>`,
    )
    .join('');
  return `<table class="grid-table" id="episodes"><thead><tr><th>when (UTC)</th><th>pipeline</th><th>outcome</th><th>drift</th><th>fix / why</th><th>attempts</th><th>doctor</th><th>MTTR</th><th>spec</th><th>alerts</th><th>links</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function pipelinesTable(m: HealMetrics): string {
  if (!m.pipelines.length)
    return '<p class="muted">No pipeline yet: <code>heal init &lt;name&gt; --source &lt;file&gt;</code>.</p>';
  const rows = m.pipelines
    .map(
      (p) => `<tr data-pipeline="${esc(p.pipeline)}">
<td><b>${esc(p.pipeline)}</b></td>
<td class="num" data-version="${esc(p.specVersion ?? '')}">${p.specVersion === null ? '—' : `v${esc(p.specVersion)}`}</td>
<td>${esc(p.table ?? '—')}</td>
<td>${esc(p.mode ?? '—')}</td>
<td>${esc(p.schedule ?? '—')}</td>
<td class="num">${esc(p.runs)}</td>
<td class="nowrap">${p.lastRunAt ? esc(when(p.lastRunAt)) : '—'} ${p.lastOutcome ? badge(p.lastOutcome) : ''}</td>
<td class="small muted">${esc(p.source ?? '')}${p.error ? `<div class="err">${esc(p.error)}</div>` : ''}</td>
</tr>`,
    )
    .join('');
  return `<table class="grid-table" id="pipelines"><thead><tr><th>pipeline</th><th>version</th><th>table</th><th>mode</th><th>schedule</th><th>runs</th><th>last run (UTC)</th><th>source</th></tr></thead><tbody>${rows}</tbody></table>
<p class="muted small">Schedules live in Temporal (<code>heal schedule list</code>); this page reads only the state directory and shows a schedule when one is recorded there.</p>`;
}

function alertFailures(m: HealMetrics): string {
  if (!m.alertFailures.length) return '';
  const rows = m.alertFailures
    .map(
      (f) =>
        `<tr><td class="nowrap">${esc(when(f.at))}</td><td>${esc(f.pipeline)}</td><td>${esc(f.outcome)}</td><td>${esc(f.status)}</td><td class="num">${esc(f.httpStatus ?? '—')}</td><td class="num">${esc(f.attempts)}</td><td class="err">${esc(f.error ?? f.detail ?? '')}</td></tr>`,
    )
    .join('');
  return `<section><h2>Alerts that did not go out</h2><table class="grid-table" id="alert-failures"><thead><tr><th>when (UTC)</th><th>pipeline</th><th>outcome</th><th>status</th><th>HTTP</th><th>attempts</th><th>error</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** The main section (what the live page replaces on each refresh). */
export function renderMain(m: HealMetrics, links: PageLinks): string {
  const e = m.episodes;
  const kinds = Object.entries(m.drifts.byKind)
    .sort((x, y) => y[1] - x[1])
    .map(([k, n]) => `${esc(k)} ${stat(`drifts.byKind.${k}`, n, String(n))}`)
    .join(' · ');
  const tiles = [
    tile(
      'Runs',
      'runs.total',
      m.runs.total,
      num(m.runs.total),
      `${stat('runs.succeeded', m.runs.succeeded, num(m.runs.succeeded))} ok · ${stat('runs.healed', m.runs.healed, num(m.runs.healed))} healed · ${stat('runs.partial', m.runs.partial, num(m.runs.partial))} partial · ${stat('runs.failed', m.runs.failed, num(m.runs.failed))} failed`,
    ),
    tile('Drifts', 'drifts.total', m.drifts.total, num(m.drifts.total), kinds || 'none'),
    tile(
      'Episodes',
      'episodes.total',
      e.total,
      num(e.total),
      `${stat('episodes.healed', e.healed, num(e.healed))} healed · ${stat('episodes.failed', e.failed, num(e.failed))} failed · ${stat('episodes.rolled-back', e['rolled-back'], num(e['rolled-back']))} rolled back · ${stat('episodes.rejected', e.rejected, num(e.rejected))} rejected · ${stat('episodes.awaiting', e.awaiting, num(e.awaiting))} awaiting`,
    ),
    tile('Healing success', 'episodes.successRate', e.successRate, pct(e.successRate), 'healed ÷ finished episodes'),
    tile(
      'MTTR p50',
      'mttr.p50Ms',
      m.mttr.p50Ms,
      dur(m.mttr.p50Ms),
      `${stat('mttr.count', m.mttr.count, num(m.mttr.count))} healed · drift → healed table`,
    ),
    tile(
      'MTTR p95',
      'mttr.p95Ms',
      m.mttr.p95Ms,
      dur(m.mttr.p95Ms),
      `max ${stat('mttr.maxMs', m.mttr.maxMs, dur(m.mttr.maxMs))}`,
    ),
    tile(
      'Attempts / episode',
      'attempts.mean',
      m.attempts.mean,
      m.attempts.mean === null ? '—' : m.attempts.mean.toFixed(2),
      `max ${stat('attempts.max', m.attempts.max, num(m.attempts.max))}`,
    ),
    tile(
      'Fixed by the rules doctor',
      'doctors.rules',
      m.doctors['rules'] ?? 0,
      num(m.doctors['rules'] ?? 0),
      `${stat('doctors.memory', m.doctors['memory'] ?? 0, num(m.doctors['memory'] ?? 0))} memory · ${stat('doctors.llm', m.doctors['llm'] ?? 0, num(m.doctors['llm'] ?? 0))} LLM · ${stat('doctors.none', m.doctors['none'] ?? 0, num(m.doctors['none'] ?? 0))} none`,
    ),
    tile(
      'LLM tokens',
      'llm.totalTokens',
      m.llm.totalTokens,
      num(m.llm.totalTokens),
      `est. ${stat('llm.estimatedCostUsd', m.llm.estimatedCostUsd, usd(m.llm.estimatedCostUsd))}${m.llm.unpricedModels.length ? ` (+ unpriced: ${esc(m.llm.unpricedModels.join(', '))})` : ''}`,
    ),
    tile(
      'Rows quarantined',
      'rows.quarantined',
      m.rows.quarantined,
      num(m.rows.quarantined),
      `of ${stat('rows.loaded', m.rows.loaded, num(m.rows.loaded))} loaded`,
    ),
    tile(
      'Alerts',
      'notifications.sent',
      m.notifications.sent,
      `${num(m.notifications.sent)} sent`,
      `${stat('notifications.grouped', m.notifications.grouped, num(m.notifications.grouped))} grouped · <span class="${m.notifications.failed ? 'bad' : ''}">${stat('notifications.failed', m.notifications.failed, num(m.notifications.failed))} failed</span> · ${stat('notifications.disabled', m.notifications.disabled, num(m.notifications.disabled))} off`,
    ),
  ].join('');
  return `<section class="tiles">${tiles}</section>
<section class="charts">
<figure><figcaption>MTTR over time</figcaption>${mttrChart(m.mttrSeries)}</figure>
<figure><figcaption>Outcomes per day</figcaption>${outcomesChart(m.daily)}${outcomeLegend()}</figure>
</section>
<section><h2>Recent episodes</h2>${episodesTable(m, links)}</section>
${alertFailures(m)}
<section><h2>Pipelines</h2>${pipelinesTable(m)}</section>
<p class="muted small" id="generated">figures computed at ${esc(m.generatedAt)}</p>`;
}

const CSS = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2430;--muted:#6b7480;--line:#e3e6eb;--accent:#2f7fd8;--bad:#d64545}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:baseline;gap:16px;padding:16px 24px;background:#1d2430;color:#fff}
header h1{margin:0;font-size:20px}header .muted{color:#aab3bf}#status.err{color:#ffb4b4}
main{padding:16px 24px;max-width:1500px;margin:0 auto}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.tile .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile .big{font-size:26px;font-weight:650;margin:2px 0}.tile .sub{color:var(--muted);font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px;margin-top:12px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
figcaption{font-weight:600;margin-bottom:4px}.chart{width:100%;height:auto;display:block}
.chart .grid{stroke:#eef0f3}.chart .axis{stroke:#b9c0c9}.chart .tick{fill:#6b7480;font-size:11px}
.chart .line{stroke:var(--accent);stroke-width:2}.chart .pt{fill:var(--accent);stroke:#fff;stroke-width:1.5}
.chart .empty{fill:#9aa2ad;font-size:14px}
.legend{display:flex;gap:12px;flex-wrap:wrap;font-size:12px;color:var(--muted);margin-top:4px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
h2{font-size:16px;margin:20px 0 8px}
.grid-table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
.grid-table th,.grid-table td{padding:7px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.grid-table th{background:#f0f2f5;font-size:12px;color:var(--muted);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}.nowrap{white-space:nowrap}.small{font-size:12px}.muted{color:var(--muted)}
.badge{display:inline-block;color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
.err{color:var(--bad);font-size:12px;white-space:pre-wrap;word-break:break-word}.bad{color:var(--bad);font-weight:600}
.kinds{font-weight:600}a{color:var(--accent)}code{background:#eef0f3;padding:0 4px;border-radius:3px}
`;

/** The whole page. The static page has no script; the live one has one (nonce'd) that refreshes. */
export function renderPage(m: HealMetrics, opts: PageOptions): string {
  const refresh = Math.max(1, Math.round(opts.refreshSeconds ?? 5));
  const script = opts.live
    ? `<script nonce="${esc(opts.nonce ?? '')}">(function(){var s=document.getElementById('status');var busy=false;function tick(){if(busy)return;busy=true;fetch('/api/view',{cache:'no-store'}).then(function(r){if(!r.ok)throw new Error('HTTP '+r.status);return r.json();}).then(function(d){document.getElementById('main').innerHTML=d.html;s.textContent='live · updated '+d.generatedAt;s.className='muted';}).catch(function(e){s.textContent='refresh failed: '+e.message;s.className='err';}).then(function(){busy=false;});}setInterval(tick,${refresh * 1000});})();</script>`
    : '';
  const csp = opts.live
    ? `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${opts.nonce ?? ''}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'`
    : `default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>heal — healing dashboard</title>
<style>${CSS}</style></head>
<body>
<header><h1>heal</h1><span class="muted">self-healing pipelines${opts.home ? ` · ${esc(opts.home)}` : ''}</span><span id="status" class="muted">${opts.live ? `live · refreshes every ${refresh}s` : `static snapshot · ${esc(m.generatedAt)}`}</span></header>
<main id="main">${renderMain(m, opts)}</main>
${script}
</body></html>
`;
}
