import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CheckReport } from './report.ts';
import type { TimelineValue } from './replay-kernel.ts';
import type { FileTimeline, FolioTimeline, TimelinePoint } from './timeline.ts';

/**
 * `trollcount check --html report.html`: one self-contained page (inline CSS, JS and SVG; nothing
 * fetched, no fonts): the summary table, the divergences with their folio's recent history, cost
 * tables when the report has them, and a timeline per folio of the kernel's reported values
 * against the model's (kernel traces: the folio's knowledge state; op traces: every scheme's
 * state), diverging points in red. Every piece of text from a trace is escaped.
 */

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

const fmt = (v: number | boolean | undefined): string => (v === undefined ? '' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v));

/** Knowledge states of a kernel trace's folio, and their colours. */
const STATE_COLOUR: Record<string, string> = { unknown: '#a9b1bb', learned: '#7b9fdc', verified: '#3f9c5f', diverged: '#d23939' };

const CSS = `
:root{--fg:#1d2329;--muted:#5d6875;--line:#d8dde3;--bg:#fff;--alt:#f5f7f9;--red:#d23939;--redbg:#fde8e8;--green:#2f7d4a;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}
code,.mono,td.num,.vals{font-family:var(--mono);font-size:12.5px}
.muted{color:var(--muted)}
nav a{margin-right:14px}
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:6px 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--alt);font-weight:600}
td.num{text-align:right}
.verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12.5px;color:#fff}
.v-agree{background:var(--green)}.v-diverge{background:var(--red)}.v-inconclusive{background:#b7791f}
ol.divs{padding-left:22px}
ol.divs li{margin:6px 0;padding:6px 10px;background:var(--redbg);border-left:4px solid var(--red);list-style-position:outside}
.k{color:var(--red);font-weight:700}.m{color:#1f5fbf;font-weight:700}
.hist{color:var(--muted);font-size:12.5px;margin-top:2px}
details.folio{margin:8px 0;border:1px solid var(--line);border-radius:4px}
details.folio>summary{cursor:pointer;padding:5px 10px;background:var(--alt)}
details.folio.has-div>summary{background:var(--redbg)}
details.folio .body{padding:6px 10px}
svg.strip{display:block;width:100%;height:auto;max-width:1100px}
table.tl td{white-space:nowrap}table.tl td.vals{white-space:normal;min-width:14em}
table.tl tr.dv td{background:var(--redbg)}
table.tl tr.dv td.vals .bad{color:var(--red);font-weight:700}
tr.target td{outline:2px solid #1f5fbf}
.legend span{display:inline-block;margin-right:12px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
body.only-div table.tl tr.pt:not(.dv){display:none}
.bad{color:var(--red);font-weight:700}
`;

const SCRIPT = `
(function () {
  var cb = document.getElementById('only-div');
  if (cb) cb.addEventListener('change', function () { document.body.classList.toggle('only-div', cb.checked); });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var el = document.getElementById(id);
    if (!el) return;
    for (var d = el.closest('details'); d; d = d.parentElement ? d.parentElement.closest('details') : null) d.open = true;
    var old = document.querySelectorAll('.target');
    for (var i = 0; i < old.length; i++) old[i].classList.remove('target');
    el.classList.add('target');
    el.scrollIntoView({ block: 'center' });
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
`;

// ---- cost tables (rendered when the report carries them) ----------------------------------------

type CostTree = { readonly [k: string]: number | CostTree };

function isCostTree(x: unknown, depth = 0): x is CostTree {
  if (!x || typeof x !== 'object' || Array.isArray(x) || depth > 4) return false;
  const vals = Object.values(x as object);
  return vals.length > 0 && vals.every((v) => typeof v === 'number' || isCostTree(v, depth + 1));
}

/** The report's cost tables, wherever a producer put them: report.costs, a file's costs or its result's costs. */
function costsOf(report: CheckReport): { title: string; tree: CostTree }[] {
  const out: { title: string; tree: CostTree }[] = [];
  const r = report as unknown as { costs?: unknown };
  if (isCostTree(r.costs)) out.push({ title: 'all traces', tree: r.costs });
  for (const f of report.files) {
    const x = f as unknown as { costs?: unknown; result: { costs?: unknown } };
    const c = isCostTree(x.costs) ? x.costs : isCostTree(x.result.costs) ? x.result.costs : undefined;
    if (c) out.push({ title: basename(f.file), tree: c });
  }
  return out;
}

/** rows = keys whose values are flat records of numbers; columns = the union of their keys; deeper levels get a heading each. */
function costTable(title: string, tree: CostTree, level = 0): string {
  const flat = Object.entries(tree).filter((e): e is [string, CostTree] => typeof e[1] === 'object' && Object.values(e[1]).every((v) => typeof v === 'number'));
  const leaves = Object.entries(tree).filter((e): e is [string, number] => typeof e[1] === 'number');
  const deeper = Object.entries(tree).filter(([k, v]) => typeof v === 'object' && !flat.some(([f]) => f === k)) as [string, CostTree][];
  const out: string[] = [`<h${Math.min(3 + level, 6)}>${esc(title)}</h${Math.min(3 + level, 6)}>`];
  if (leaves.length) out.push(`<table class="costs"><tr>${leaves.map(([k]) => `<th>${esc(k)}</th>`).join('')}</tr><tr>${leaves.map(([, v]) => `<td class="num">${esc(v)}</td>`).join('')}</tr></table>`);
  if (flat.length) {
    const cols = [...new Set(flat.flatMap(([, v]) => Object.keys(v)))];
    out.push(
      `<table class="costs"><tr><th></th>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>` +
        flat.map(([row, v]) => `<tr><th>${esc(row)}</th>${cols.map((c) => `<td class="num">${esc(v[c] ?? '')}</td>`).join('')}</tr>`).join('') +
        '</table>',
    );
  }
  for (const [k, v] of deeper) out.push(costTable(k, v, level + 1));
  return out.join('\n');
}

// ---- timelines ------------------------------------------------------------------------------------

const pointId = (fi: number, ti: number, pi: number): string => `p-${fi}-${ti}-${pi}`;
const folioId = (fi: number, ti: number): string => `f-${fi}-${ti}`;

/** A stable colour per distinct scheme state string (op traces). */
function stateHue(s: string): string {
  if (s === 'freed') return '#c7ccd2';
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360},45%,${62 + (h % 7) * 3}%)`;
}

const W = 1000;
const LABEL = 120;

/** The SVG strip of one folio: lanes of states over trace lines, ticks per point, red where it diverged. */
function strip(tl: FileTimeline, f: FolioTimeline, fi: number, ti: number, range: [number, number]): string {
  const [lo, hi] = range;
  // a right margin, so that the last event's band stays visible
  const x = (line: number): number => LABEL + ((line - lo) / Math.max(1, hi - lo)) * (W - LABEL - 30);
  const lanes: { name: string; state: (p: TimelinePoint) => string; colour: (s: string) => string }[] =
    tl.kind === 'kernel'
      ? [{ name: 'knowledge', state: shownState, colour: (s) => STATE_COLOUR[s] ?? '#999' }]
      : tl.schemes.map((s) => ({ name: s, state: (p: TimelinePoint) => p.states?.[s] ?? '', colour: stateHue }));
  const laneH = 14;
  const top = 4;
  const tickY = top + lanes.length * (laneH + 3) + 2;
  const h = tickY + 22;
  const parts: string[] = [`<svg class="strip" viewBox="0 0 ${W} ${h}" role="img" aria-label="timeline of folio ${esc(f.folio)}">`];
  lanes.forEach((lane, li) => {
    const y = top + li * (laneH + 3);
    parts.push(`<text x="4" y="${y + 11}" font-size="11" fill="#5d6875">${esc(lane.name)}</text>`);
    f.points.forEach((p, pi) => {
      const x0 = x(p.line);
      const x1 = pi + 1 < f.points.length ? x(f.points[pi + 1].line) : x0 + 14;
      const s = lane.state(p);
      parts.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(1.5, x1 - x0).toFixed(1)}" height="${laneH}" fill="${lane.colour(s)}"><title>line ${p.line}: ${esc(s)}</title></rect>`);
    });
  });
  parts.push(`<line x1="${LABEL}" y1="${tickY + 8}" x2="${W - 16}" y2="${tickY + 8}" stroke="#c5ccd3"/>`);
  parts.push(`<text x="4" y="${tickY + 12}" font-size="11" fill="#5d6875">events</text>`);
  f.points.forEach((p, pi) => {
    const cx = x(p.line).toFixed(1);
    const tip = `line ${p.line} ${p.fn}: ${p.values.map((v) => `${v.field} kernel ${fmt(v.kernel)}${v.model === undefined ? ' (learned)' : ` model ${fmt(v.model)}`}`).join('; ')}`;
    const link = `<a href="#${pointId(fi, ti, pi)}">`;
    if (p.diverged) parts.push(`${link}<circle cx="${cx}" cy="${tickY + 8}" r="6" fill="#d23939" stroke="#7a1010"><title>DIVERGED ${esc(tip)}</title></circle></a>`);
    else parts.push(`${link}<rect x="${(Number(cx) - 1).toFixed(1)}" y="${tickY + 2}" width="2" height="12" fill="#56626f"><title>${esc(tip)}</title></rect></a>`);
  });
  parts.push(`<text x="${LABEL}" y="${h - 1}" font-size="10" fill="#5d6875">line ${lo}</text><text x="${W - 30}" y="${h - 1}" font-size="10" fill="#5d6875" text-anchor="end">line ${hi}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

/** The refcount check is an inequality: the kernel's refcount against the references the model's mappings hold. */
const REFCOUNT_FIELD = 'refcount>=mapping refs';

function valueCells(values: readonly TimelineValue[], page: number): [string, string] {
  const label = (v: TimelineValue): string => (v.field === REFCOUNT_FIELD ? 'refcount' : esc(v.field)) + (v.page !== page && v.field !== 'folio._mapcount' && v.field !== REFCOUNT_FIELD ? `<sub>p${v.page}</sub>` : '');
  const op = (v: TimelineValue): string => (v.field === REFCOUNT_FIELD ? '&ge;' : '=');
  const kernel = values.map((v) => `<span class="${v.diverged ? 'bad' : ''}">${label(v)}=${esc(fmt(v.kernel))}</span>`).join(' ');
  const model = values
    .map((v) => (v.model === undefined ? `<span class="muted">${label(v)} learned</span>` : `<span class="${v.diverged ? 'bad' : ''}">${label(v)}${op(v)}${esc(fmt(v.model))}</span>`))
    .join(' ');
  return [kernel, model];
}

/** Kernel traces: the knowledge shown for a point; a divergence shows as diverged (the replay then re-seeds the model). */
const shownState = (p: TimelinePoint): string => (p.diverged ? 'diverged' : p.state ?? 'unknown');

function folioBlock(report: CheckReport, tl: FileTimeline, f: FolioTimeline, fi: number, ti: number, range: [number, number]): string {
  const generation = report.files[fi]?.generation;
  const exact = generation === '6.1' ? 'legacy-6.1' : 'large-6.12';
  const head =
    tl.kind === 'kernel'
      ? '<tr><th>line</th><th>kcall</th><th>page</th><th>kernel reported</th><th>model predicted (' + exact + ')</th><th>knowledge</th></tr>'
      : `<tr><th>line</th><th>op / obs</th><th>outcome</th>${tl.schemes.map((s) => `<th>${esc(s)}</th>`).join('')}<th>kernel reported</th><th>model predicted</th><th>violations</th></tr>`;
  const rows = f.points.map((p, pi) => {
    const [k, m] = valueCells(p.values, p.page);
    const cls = `pt${p.diverged ? ' dv' : ''}`;
    if (tl.kind === 'kernel') {
      const st = shownState(p);
      const after = p.diverged ? ` <span class="bad">DIVERGED</span> <span class="muted">(model re-seeded: ${esc(p.state ?? 'unknown')})</span>` : esc(st);
      return `<tr id="${pointId(fi, ti, pi)}" class="${cls}"><td class="num">${p.line}</td><td class="mono">${esc(p.fn)}</td><td class="num">${p.page}</td><td class="vals">${k}</td><td class="vals">${m}</td><td><span class="sw" style="background:${STATE_COLOUR[st] ?? '#999'}"></span>${after}</td></tr>`;
    }
    const states = tl.schemes.map((s) => `<td class="mono">${esc(p.states?.[s] ?? '')}</td>`).join('');
    return `<tr id="${pointId(fi, ti, pi)}" class="${cls}"><td class="num">${p.line}</td><td class="mono">${esc(p.fn)}</td><td>${esc(p.outcome ?? '')}</td>${states}<td class="vals">${k}</td><td class="vals">${m}</td><td class="bad">${(p.violations ?? []).map(esc).join('<br>')}</td></tr>`;
  });
  const shown = f.points.length < f.events ? ` (${f.points.length} shown)` : '';
  const div = f.divergences ? ` · <span class="bad">${f.divergences} diverging</span>` : '';
  // open: every diverging folio; in a trace that agrees, its most active one
  const open = f.divergences > 0 || (ti === 0 && !tl.folios.some((x) => x.divergences > 0));
  return `<details class="folio${f.divergences ? ' has-div' : ''}" id="${folioId(fi, ti)}"${open ? ' open' : ''}>
<summary><b class="mono">folio ${esc(f.folio)}</b> · ${f.nr} page${f.nr === 1 ? '' : 's'} · ${f.events} events${shown} · lines ${f.firstLine}–${f.lastLine}${div}</summary>
<div class="body">${strip(tl, f, fi, ti, range)}
<table class="tl">${head}${rows.join('\n')}</table></div></details>`;
}

function timelineSection(report: CheckReport, timelines: readonly FileTimeline[]): string {
  const out: string[] = [];
  timelines.forEach((tl) => {
    const fi = report.files.findIndex((f) => f.file === tl.file);
    if (fi < 0) return;
    const lines = tl.folios.flatMap((f) => [f.firstLine, f.lastLine]);
    const range: [number, number] = lines.length ? [Math.min(...lines), Math.max(...lines)] : [0, 1];
    out.push(`<h3 id="tl-${fi}"><code>${esc(tl.file)}</code></h3>`);
    out.push(
      `<p class="muted">${tl.kind === 'kernel' ? 'kernel rmap trace' : 'op trace'}: ${tl.folios.length} of ${tl.foliosSeen} folios shown (diverging first, then the most active)${tl.pointsDropped ? `; ${tl.pointsDropped} points of quieter stretches left out` : ''}.</p>`,
    );
    if (!tl.folios.length) out.push('<p class="muted">No checked values.</p>');
    tl.folios.forEach((f, ti) => out.push(folioBlock(report, tl, f, fi, ti, range)));
  });
  return out.join('\n');
}

// ---- divergences ----------------------------------------------------------------------------------

/** The timeline row of a divergence, when its folio was kept. */
function anchorOf(timelines: readonly FileTimeline[], report: CheckReport, file: string, line: number, folio?: string): string | undefined {
  const fi = report.files.findIndex((f) => f.file === file);
  const tl = timelines.find((t) => t.file === file);
  if (!tl || fi < 0) return undefined;
  for (let ti = 0; ti < tl.folios.length; ti++) {
    const f = tl.folios[ti];
    if (folio !== undefined && f.folio !== folio) continue;
    const pi = f.points.findIndex((p) => p.line === line && p.diverged);
    if (pi >= 0) return pointId(fi, ti, pi);
  }
  return undefined;
}

function divergenceList(report: CheckReport, timelines: readonly FileTimeline[]): string {
  const items: string[] = [];
  let total = 0;
  for (const f of report.files) {
    if (f.kind === 'kernel') {
      total += f.result.divergenceCount;
      for (const d of f.result.divergences) {
        const a = anchorOf(timelines, report, f.file, d.line, d.folio);
        items.push(
          `<li><code>${esc(d.file)}:${d.line}</code>: <code>${esc(d.fn)}</code>: folio <code>${esc(d.folio)}</code> page ${d.page}: <b>${esc(d.field)}</b>: kernel <span class="k">${esc(fmt(d.kernel))}</span>, model <span class="m">${esc(fmt(d.model))}</span>` +
            (a ? ` · <a href="#${a}">timeline</a>` : '') +
            `<div class="hist">recent history of the folio: ${d.history.map((h) => `${h.line} ${esc(h.fn)}`).join(', ') || 'none'}</div></li>`,
        );
      }
      if (f.result.divergenceCount > f.result.divergences.length) items.push(`<li class="muted">${esc(basename(f.file))}: ${f.result.divergenceCount - f.result.divergences.length} more not kept</li>`);
    } else {
      total += f.result.divergences.length + f.result.violations.length;
      for (const v of f.result.violations) {
        const a = anchorOf(timelines, report, f.file, v.at.line, v.folio === undefined ? undefined : '0x' + v.folio.toString(16));
        items.push(`<li><code>${esc(v.at.file)}:${v.at.line}</code>: <b>${esc(v.property)}</b>${v.scheme ? ` [${esc(v.scheme)}]` : ''}: ${esc(v.detail)}${a ? ` · <a href="#${a}">timeline</a>` : ''}</li>`);
      }
      for (const d of f.result.divergences) {
        const a = anchorOf(timelines, report, f.file, d.at.line);
        items.push(
          `<li><code>${esc(d.at.file)}:${d.at.line}</code>: pid ${d.pid} va <code>${esc(d.va)}</code>: <b>${esc(d.field)}</b>: kernel <span class="k">${esc(fmt(d.kernel))}</span>, model (${esc(d.scheme)}) <span class="m">${esc(fmt(d.model))}</span>${a ? ` · <a href="#${a}">timeline</a>` : ''}</li>`,
        );
      }
    }
  }
  if (!items.length) return '<p>None: the kernel agrees with the model on every checked value.</p>';
  return `<p>${total} in all.</p><ol class="divs">${items.join('\n')}</ol>`;
}

// ---- page -------------------------------------------------------------------------------------------

function summaryTable(report: CheckReport): string {
  const rows = report.files.map(
    (f, fi) =>
      `<tr><td><a href="#tl-${fi}"><code>${esc(basename(f.file))}</code></a></td><td>${esc(f.generation)}</td><td>${esc(f.kind)}</td><td class="num">${f.summary.events}</td><td class="num">${f.summary.verified}</td><td class="num">${f.summary.learned}</td><td class="num">${f.summary.inferred}</td><td class="num${f.summary.divergences ? ' bad' : ''}">${f.summary.divergences}</td><td><span class="verdict v-${esc(f.verdict)}">${esc(f.verdict)}</span></td></tr>`,
  );
  return `<table class="summary"><tr><th>trace</th><th>gen</th><th>kind</th><th>events</th><th>verified</th><th>learned</th><th>inferred</th><th>divergences</th><th>verdict</th></tr>${rows.join('\n')}</table>
<p class="muted">verified: kernel-reported values that matched the model's prediction; learned: values adopted on first sight (state the trace could not show being built); inferred: hidden steps the replay deduced (fork dups, inline PMD splits, ...).</p>`;
}

export function renderHtmlReport(report: CheckReport, timelines: readonly FileTimeline[]): string {
  const costs = costsOf(report);
  const legend = Object.entries(STATE_COLOUR)
    .map(([s, c]) => `<span><span class="sw" style="background:${c}"></span>${s}</span>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trollcount check: ${esc(report.verdict)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>trollcount check <span class="verdict v-${esc(report.verdict)}">${esc(report.verdict)}</span></h1>
<div class="muted">${report.files.length} trace${report.files.length === 1 ? '' : 's'} replayed against the exact folio mapcount accounting of their kernel generation.</div>
<nav><a href="#summary">summary</a><a href="#divergences">divergences</a>${costs.length ? '<a href="#costs">costs</a>' : ''}<a href="#timelines">timelines</a></nav>
</header>
<section id="summary"><h2>Summary</h2>${summaryTable(report)}</section>
<section id="divergences"><h2>Divergences</h2>${divergenceList(report, timelines)}</section>
${costs.length ? `<section id="costs"><h2>Costs</h2>${costs.map((c) => costTable(c.title, c.tree)).join('\n')}</section>` : ''}
<section id="timelines"><h2>Timelines per folio</h2>
<p class="legend">Kernel traces, knowledge of the folio after each event: ${legend}<span><span class="sw" style="background:#d23939;border-radius:50%"></span>diverging event</span></p>
<p class="muted">Each row is an event that reported values of the folio: what the kernel reported beside what the model predicted (red where they differ). Op traces show every scheme's state of the folio after each op.</p>
<p><label><input type="checkbox" id="only-div"> show only diverging rows</label></p>
${timelines.length ? timelineSection(report, timelines) : '<p class="muted">No timelines were collected.</p>'}
</section>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

export function writeHtmlReport(path: string, report: CheckReport, timelines: readonly FileTimeline[]): void {
  writeFileSync(path, renderHtmlReport(report, timelines));
}
