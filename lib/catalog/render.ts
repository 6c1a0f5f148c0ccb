/**
 * The catalog as `lake status` prints it: one line per dataset, or one dataset's days as a
 * calendar (a row per month, a cell per day, coloured by state) followed by its problems.
 * Without a colour terminal (NO_COLOR, a pipe) each cell is the state's letter.
 */
import { addDays } from '../time/days.ts';
import { PARTITION_STATES, type Catalog, type DatasetStatus, type PartitionState } from './build.ts';

const STYLE: Record<PartitionState, { letter: string; ansi: string }> = {
  published: { letter: 'P', ansi: '32' },
  stale: { letter: 'S', ansi: '33' },
  failed: { letter: 'F', ansi: '31' },
  running: { letter: 'R', ansi: '36' },
  missing: { letter: 'M', ansi: '35' },
};

const cell = (state: PartitionState | undefined, color: boolean): string => {
  if (!state) return color ? '\x1b[2m·\x1b[0m' : '.';
  const s = STYLE[state];
  return color ? `\x1b[${s.ansi}m■\x1b[0m` : s.letter;
};

/** `9 from summaries, 1 from newer commits` — how the build came by the tables' state. */
function sourcesText(s: Catalog['stats']['sources']): string {
  const parts = [s.summary ? `${s.summary} from summaries` : '', s.changes ? `${s.changes} from newer commits` : '', s.full ? `${s.full} read in full` : ''].filter(Boolean);
  return parts.join(', ') || 'none';
}

export function renderSummary(catalog: Catalog, color: boolean): string {
  const rows = catalog.datasets.map((d) => {
    const verdict = d.freshness.verdict === 'late' ? `LATE: ${d.freshness.detail}` : d.freshness.verdict === 'fresh' ? 'fresh' : `? ${d.freshness.detail}`;
    const paint = (text: string): string => (color && d.freshness.verdict === 'late' ? `\x1b[31m${text}\x1b[0m` : text);
    return [d.name, d.lastPublished ?? '-', String(d.counts.missing), String(d.counts.failed), String(d.counts.stale), String(d.counts.running), paint(verdict)];
  });
  const header = ['dataset', 'last published', 'missing', 'failed', 'stale', 'running', 'freshness'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 6 ? 0 : (r[i] ?? '').length))));
  const line = (r: string[]): string => r.map((v, i) => (i === 0 || i === 1 || i === 6 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  const window = catalog.datasets[0]?.window;
  return [
    `window ${window?.from ?? '?'} .. ${window?.to ?? '?'} (problems counted in it)`,
    line(header),
    ...rows.map(line),
    `(${Math.round(catalog.stats.ms)} ms; ${catalog.stats.manifestsRead} manifests read; tables ${sourcesText(catalog.stats.sources)}${catalog.stats.runsKnown ? '' : '; Temporal unreachable: running and failed unknown'})`,
  ].join('\n');
}

export function renderDataset(d: DatasetStatus, color: boolean): string {
  const byDay = new Map(d.partitions.map((p) => [p.day, p]));
  const out: string[] = [`${d.name} — ${d.description}`, `expected: ${d.freshness.expectation}; ${d.freshness.verdict}: ${d.freshness.detail}`, ''];
  out.push(`         ${Array.from({ length: 31 }, (_, i) => String(i + 1).padStart(2, ' ').slice(-1)).join('')}`);
  let month = '';
  let row = '';
  for (let day = `${d.window.from.slice(0, 7)}-01`; day <= d.window.to; day = addDays(day, 1)) {
    if (day.slice(0, 7) !== month) {
      if (month) out.push(row);
      month = day.slice(0, 7);
      row = `${month}  `;
    }
    row += day < d.window.from ? ' ' : cell(byDay.get(day)?.state, color);
  }
  if (month) out.push(row);
  out.push(`legend: ${PARTITION_STATES.map((s) => `${cell(s, color)} ${s}`).join('  ')}  ${cell(undefined, color)} not due`);
  out.push(`counts: ${PARTITION_STATES.map((s) => `${s} ${d.counts[s]}`).join(', ')}`);
  const partial = d.partitions.filter((p) => p.hours !== undefined && p.hours < 24);
  if (partial.length > 0) {
    // Not a problem by itself: an hour without events writes nothing. Shown for the eye.
    out.push(`days with fewer than 24 hours landed: ${partial.map((p) => `${p.day} (${p.hours})`).slice(0, 10).join(', ')}${partial.length > 10 ? `, … ${partial.length - 10} more` : ''}`);
  }
  const problems = d.partitions.filter((p) => p.state !== 'published');
  if (problems.length > 0) {
    out.push('', 'problems:');
    for (const p of problems) out.push(`  ${p.day}  ${p.state.padEnd(8)} ${p.reason ?? ''}${p.workflowId && p.state === 'failed' ? ` [${p.workflowId}]` : ''}`);
  }
  return out.join('\n');
}
