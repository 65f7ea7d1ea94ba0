/**
 * The licensing section of bench/RESULTS.md. It lives between two markers, so that the licensing bench
 * can replace just its part and the delivery bench (which rewrites the whole file) can carry it over.
 */

import type { ScriptedWrkResult } from './licensing-load.ts';
import { median, type WrkOptions } from './load.ts';
import {
  formatMiB,
  formatRate,
  type Machine,
  machineTable,
  type Row,
  rawTable,
  resultsTable,
} from './report.ts';

export const LICENSING_START = '<!-- licensing:start -->';
export const LICENSING_END = '<!-- licensing:end -->';

/** The licensing section of `text`, markers included, or null. */
export function licensingSection(text: string): string | null {
  const start = text.indexOf(LICENSING_START);
  const end = text.indexOf(LICENSING_END, start);
  if (start < 0 || end < 0) return null;
  return text.slice(start, end + LICENSING_END.length);
}

/** `text` with its licensing section replaced by `section` (markers included), or with it appended. */
export function spliceLicensingSection(text: string, section: string): string {
  const current = licensingSection(text);
  if (current !== null) return text.replace(current, () => section);
  return `${text.trimEnd()}\n\n${section}\n`;
}

/** For the delivery bench: its freshly rendered file, with the licensing section of the old file kept. */
export function keepLicensingSection(markdown: string, previous: string | null): string {
  const section = previous === null ? null : licensingSection(previous);
  return section === null ? markdown : spliceLicensingSection(markdown, section);
}

export type LicensingKey = 'bare' | 'validate' | 'edd' | 'validate-small' | 'validate-large' | 'healthz';

export interface LicensingRun extends ScriptedWrkResult {
  cpuPercent: number;
  cpuMicrosPerRequest: number;
}

export interface LicensingTarget {
  key: LicensingKey;
  name: string;
  /** Licenses in the server's database; null for the baseline. */
  licenses: number | null;
  runs: LicensingRun[];
}

export interface SeededSummary {
  size: number;
  sampled: number;
  seedSeconds: number;
  bytes: number;
}

export interface LicensingMeasurements {
  machine: Machine;
  elapsedSeconds: number;
  wrk: WrkOptions;
  warmupSeconds: number;
  rounds: number;
  targets: LicensingTarget[];
  /** Why the check_license row was not measured, or null when it was. */
  eddSkipped: string | null;
  seed: { databases: SeededSummary[]; seconds: number; rowsPerSecond: number };
  sizes: { small: number; main: number; large: number };
  bodyBytes: { validate: number; edd: number | null };
}

function rps(t: LicensingTarget | undefined): number {
  return t && t.runs.length > 0 ? median(t.runs.map((r) => r.requestsPerSecond)) : Number.NaN;
}

function p99(t: LicensingTarget | undefined): number {
  return t && t.runs.length > 0 ? median(t.runs.map((r) => r.p99ms)) : Number.NaN;
}

function p50(t: LicensingTarget | undefined): number {
  return t && t.runs.length > 0 ? median(t.runs.map((r) => r.p50ms)) : Number.NaN;
}

function cpuPerRequest(t: LicensingTarget | undefined): number {
  return t && t.runs.length > 0 ? median(t.runs.map((r) => r.cpuMicrosPerRequest)) : Number.NaN;
}

function ms(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)} ms` : 'n/a';
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function licensingRows(m: LicensingMeasurements): Row[] {
  const byKey = (key: LicensingKey): LicensingTarget | undefined => m.targets.find((t) => t.key === key);
  const [bare, validate, edd, small, large] = (
    ['bare', 'validate', 'edd', 'validate-small', 'validate-large'] as const
  ).map(byKey);
  const c = m.wrk.connections;
  const { main } = m.sizes;
  const eddRows: Row[] = m.eddSkipped
    ? [
        {
          id: 'L2',
          what: `EDD \`check_license\` (\`POST /\` form), ${count(main)} licenses, vs bare node:http, req/s`,
          cloudsecure: 'skipped',
          baseline: formatRate(rps(bare)),
          ratio: Number.NaN,
          target: '≥ 0.35',
          pass: null,
        },
      ]
    : [
        {
          id: 'L2',
          what: `EDD \`check_license\` (\`POST /\` form), ${count(main)} licenses, vs bare node:http, req/s`,
          cloudsecure: formatRate(rps(edd)),
          baseline: formatRate(rps(bare)),
          ratio: rps(edd) / rps(bare),
          target: '≥ 0.35',
          pass: rps(edd) / rps(bare) >= 0.35,
        },
        {
          id: 'L2p',
          what: `EDD \`check_license\` p99 latency at ${c} connections`,
          cloudsecure: ms(p99(edd)),
          baseline: ms(p99(bare)),
          ratio: Number.NaN,
          target: 'report',
          pass: null,
        },
      ];
  return [
    {
      id: 'L1',
      what: `\`POST /api/v1/licenses/validate\`, ${count(main)} licenses, vs bare node:http JSON, req/s`,
      cloudsecure: formatRate(rps(validate)),
      baseline: formatRate(rps(bare)),
      ratio: rps(validate) / rps(bare),
      target: '≥ 0.35',
      pass: rps(validate) / rps(bare) >= 0.35,
    },
    {
      id: 'L1p',
      what: `\`validate\` p99 latency at ${c} connections`,
      cloudsecure: ms(p99(validate)),
      baseline: ms(p99(bare)),
      ratio: Number.NaN,
      target: 'report',
      pass: null,
    },
    ...eddRows,
    {
      id: 'L3',
      what: `\`validate\` with ${count(m.sizes.large)} licenses vs with ${count(m.sizes.small)}, req/s`,
      cloudsecure: formatRate(rps(large)),
      baseline: formatRate(rps(small)),
      ratio: rps(large) / rps(small),
      target: '≥ 0.80',
      pass: rps(large) / rps(small) >= 0.8,
    },
  ];
}

export function renderLicensingSection(m: LicensingMeasurements): { section: string; rows: Row[] } {
  const rows = licensingRows(m);
  const bare = m.targets.find((t) => t.key === 'bare');
  const summary = rawTable(
    [
      'Target',
      'licenses',
      'median req/s',
      'p50',
      'p99',
      'server CPU per request',
      'CPU ratio to bare',
      'socket errors',
      'wrong answers',
    ],
    m.targets.map((t) => [
      t.name,
      t.licenses === null ? '—' : count(t.licenses),
      formatRate(rps(t)),
      ms(p50(t)),
      ms(p99(t)),
      `${cpuPerRequest(t).toFixed(0)} µs`,
      (cpuPerRequest(bare) / cpuPerRequest(t)).toFixed(3),
      String(t.runs.reduce((sum, r) => sum + r.socketErrors, 0)),
      String(t.runs.reduce((sum, r) => sum + r.wrong + r.bad, 0)),
    ]),
  );
  const runs = rawTable(
    ['Target', 'Round', 'req/s', 'requests', 'p50 ms', 'p99 ms', 'server CPU', 'CPU µs/request'],
    m.targets.flatMap((t) =>
      t.runs.map((r, i) => [
        t.name,
        String(i + 1),
        formatRate(r.requestsPerSecond),
        formatRate(r.requests),
        r.p50ms.toFixed(2),
        r.p99ms.toFixed(2),
        `${r.cpuPercent.toFixed(0)}%`,
        r.cpuMicrosPerRequest.toFixed(0),
      ]),
    ),
  );
  const seeding = rawTable(
    ['Database', 'keys wrk rotates over (activated)', 'bulk write', 'SQLite file'],
    m.seed.databases.map((d) => [
      `${count(d.size)} licenses`,
      count(d.sampled),
      `${d.seedSeconds.toFixed(1)} s`,
      formatMiB(d.bytes),
    ]),
  );
  const { wrk } = m;
  const busy =
    m.machine.load1Before > m.machine.nproc / 2
      ? `\n> **Busy machine:** the 1-minute load average was ${m.machine.load1Before.toFixed(2)} on ${m.machine.nproc} cores before the run;\n> other processes competed for the CPU, so treat these numbers as rough (the CPU ratio below is steadier).\n`
      : '';
  const section = `${LICENSING_START}

## Licensing

Written by \`npm run bench:licensing\` (bench/licensing.ts) on ${m.machine.date}; the run took
${m.elapsedSeconds.toFixed(0)} s, of which ${m.seed.seconds.toFixed(0)} s preparing the databases. As above, every ratio compares numbers
measured in this same run.
${busy}
${resultsTable(rows)}
${m.eddSkipped ? `\nL2 was skipped: ${m.eddSkipped}\n` : ''}
### Method (licensing)

- **Servers.** Three CloudSecure servers (\`node bin/cloudsecure.mjs serve\`, SQLite, \`CLOUDSECURE_LOG_LEVEL=warn\`,
  one master key) run at once, on databases holding ${count(m.sizes.small)}, ${count(m.sizes.main)} and ${count(m.sizes.large)}
  licenses of one licensed product. The baseline (bench/lib/licensing-bare.ts) is a bare \`node:http\` server
  that reads the request body and answers 200 with the exact bytes CloudSecure answered to the same kind of
  request (${m.bodyBytes.validate} bytes for \`validate\`${m.bodyBytes.edd === null ? '' : `, ${m.bodyBytes.edd} for \`check_license\``}), with no parsing, lookup or signature.
- **Data.** One license goes through the real order path and is activated through the service; the rest
  are bulk copies of its row (${formatRate(m.seed.rowsPerSecond)} rows/s), each with its own key hashed the server's
  way (HMAC-SHA256 with the master-derived lookup key). Their sealed key copies are placeholders of the
  real length. For each database, a random sample of its licenses (up to
  ${count(m.seed.databases.at(-1)?.sampled ?? 0)}) is activated on one site, as the real activation row.
- **Load.** \`wrk -t${wrk.threads} -c${wrk.connections} -d${wrk.seconds}s --timeout 5s --latency\` with a Lua script
  (bench/lib/licensing-load.ts) that rotates over the sampled keys in random order:
  \`{"key":…,"product":"bench-plugin"}\` to \`/api/v1/licenses/validate\`, or
  \`edd_action=check_license&license=…&item_id=…&url=…\` form-encoded to \`/\`. Every answer must be 200 and
  contain \`"code":"VALID"\` (or \`"license":"valid"\`), else the run aborts. ${m.warmupSeconds} s warm-up per
  target, then ${m.rounds} rounds interleaved across targets; tables show the median round. wrk shares the
  ${m.machine.nproc} cores with the servers.
- **CPU ratio to bare** is the bare server's CPU time per request divided by the target's: what the
  req/s ratio would be if each server had a core of its own.

### Raw numbers (licensing)

${summary}

"CloudSecure /healthz" is the ${count(m.sizes.main)}-license server answering its health check: the cost of Node, Hono
and the global middleware, with no body parsing, lookup or signature.

${runs}

${seeding}

${machineTable(m.machine)}

${LICENSING_END}`;
  return { section, rows };
}
