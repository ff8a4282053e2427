import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderChart } from './chart.js'
import { MISSING, number, ranged } from './format.js'
import type { MeasuredRun } from './load.js'
import { type BenchReport, MB, type Spread, spread, type Target } from './targets.js'

const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`
/** What the machine did besides the server and wrk: PostgreSQL and any other process. */
const rest = (run: MeasuredRun) =>
  run.machineBusyCores === null || run.serverCores === null || run.generatorCores === null
    ? null
    : Math.max(0, run.machineBusyCores - run.serverCores - run.generatorCores)

const median = (values: (number | null)[]) =>
  spread(values.filter((v): v is number => v !== null))?.median ?? Number.NaN

function header(report: BenchReport): string[] {
  const { generator, machine, settings } = report
  const pinned = generator.pinning
    ? `wrk pinned to core ${generator.pinning.generator}, servers to ${generator.pinning.servers} (login: all)`
    : 'not pinned'
  const out = [
    `${report.startedAt.slice(0, 16).replace('T', ' ')} UTC; generator ${generator.version}, ` +
      `${generator.threads} thread(s), ${generator.connections} connections, ${pinned}; ` +
      `${settings.runs} run(s) of ${settings.durationSeconds} s after ${settings.warmupSeconds} s of warm-up. ` +
      `${machine.cpus} CPUs (${machine.cpuModel}), Node.js ${machine.node}, PostgreSQL ${machine.postgres}, ` +
      `load average ${machine.loadAverage1m} at the start, ${machine.loadAverage1mEnd ?? '?'} at the end.`,
  ]
  if (report.quick) {
    out.push(
      '',
      '**Quick mode: one short run of each scenario. Indicative only, not for quoting.**',
    )
  }
  out.push(
    '',
    'Cells: median (min–max) of the runs. CPU in cores (1.00 = one core all the time) over ' +
      'the measured part; "rest" is the whole machine minus the server and wrk.',
  )
  return out
}

function scenarioTable(report: BenchReport): string[] {
  const out = [
    line(['scenario', 'server', 'request', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB']),
    line(['---', '---', '---', '---:', '---:', '---:', '---:']),
  ]
  const cpu = [
    line(['scenario', 'non-2xx', 'errors', 'wrk CPU', 'server CPU', 'rest (PostgreSQL, others)']),
    line(['---', '---:', '---:', '---:', '---:', '---:']),
  ]
  for (const s of report.scenarios) {
    const of = (pick: (r: (typeof s.runs)[number]) => number) => s.runs.map(pick)
    out.push(
      line([
        s.name,
        s.server,
        `\`${s.request}\``,
        ranged(
          of((r) => r.requestsPerSecond),
          1,
        ),
        ranged(of((r) => r.p50Ms)),
        ranged(of((r) => r.p99Ms)),
        ranged(
          of((r) => r.peakRssBytes / MB),
          1,
        ),
      ]),
    )
    cpu.push(
      line([
        s.name,
        of((r) => r.non2xx).reduce((a, b) => a + b, 0),
        of((r) => r.errors).reduce((a, b) => a + b, 0),
        number(median(s.runs.map((r) => r.generatorCores))),
        number(median(s.runs.map((r) => r.serverCores))),
        number(median(s.runs.map(rest))),
      ]),
    )
  }
  return report.scenarios.length > 0 ? [...out, '', ...cpu] : []
}

function extras(report: BenchReport): string[] {
  const out: string[] = []
  if (report.bcryptCeiling.length > 0) {
    const first = report.bcryptCeiling[0]
    out.push(
      `bcrypt cost-12 ceiling: ${ranged(report.bcryptCeiling.map((c) => c.hashesPerSecond))} ` +
        `hashes/s (${first?.parallelism} concurrent loops).`,
    )
  }
  if (report.comparisons.length > 0) {
    out.push('', line(['Fastify and ours (not judged)', 'ratio of req/s']), line(['---', '---:']))
    for (const c of report.comparisons) out.push(line([c.name, ranged(c.values)]))
  }
  if (report.embeddedIdle.length > 0) {
    const mb = (pick: (e: (typeof report.embeddedIdle)[number]) => number) =>
      ranged(
        report.embeddedIdle.map((e) => pick(e) / MB),
        1,
      )
    out.push(
      '',
      `Embedded default (\`npm start\`, PGlite, no settings): idle RSS ` +
        `${mb((e) => e.firstStartIdleRssBytes)} MB after a first start on an empty data folder, ` +
        `${mb((e) => e.restartIdleRssBytes)} MB after a restart; peak during start ` +
        `${mb((e) => e.startPeakRssBytes)} MB.`,
    )
  }
  return out
}

/** GET /audit-events, first page vs 40 events from the end; one account's events too. */
function auditScale(report: BenchReport): string[] {
  const runs = report.auditScale
  if (runs.length === 0) return []
  const out = [
    '',
    `Audit log, ${runs[0]?.events.toLocaleString('en')} events (GET /audit-events?limit=20, admin):`,
    '',
    line(['page', 'serial p50 ms', 'serial p99 ms', 'req/s loaded', 'p50 ms', 'p99 ms']),
    line(['---', '---:', '---:', '---:', '---:', '---:']),
  ]
  for (const [name, page] of [
    ['first', 'first'],
    ['40 events from the end', 'deep'],
  ] as const) {
    out.push(
      line([
        name,
        ranged(runs.map((s) => s[page].serialP50Ms)),
        ranged(runs.map((s) => s[page].serialP99Ms)),
        ranged(
          runs.map((s) => s[page].loaded.requestsPerSecond),
          1,
        ),
        ranged(runs.map((s) => s[page].loaded.p50Ms)),
        ranged(runs.map((s) => s[page].loaded.p99Ms)),
      ]),
    )
  }
  for (const [name, pick] of [
    ['one account, first', 'filteredFirstSerialP50Ms'],
    ['one account, 40 from the end', 'filteredDeepSerialP50Ms'],
  ] as const) {
    out.push(line([name, ranged(runs.map((s) => s[pick])), '', '', '', '']))
  }
  return out
}

function scaleAndCleanup(report: BenchReport): string[] {
  const out: string[] = []
  const { scale, cleanup } = report
  if (scale.length > 0) {
    const loaded = (page: 'first' | 'deep', pick: 'requestsPerSecond' | 'p50Ms' | 'p99Ms') =>
      ranged(
        scale.map((s) => s[page].loaded[pick]),
        pick === 'requestsPerSecond' ? 1 : 2,
      )
    out.push(
      '',
      `Scale, ${scale[0]?.users.toLocaleString('en')} users (GET /users?limit=20, admin):`,
    )
    out.push(
      '',
      line(['page', 'serial p50 ms', 'serial p99 ms', 'req/s loaded', 'p50 ms', 'p99 ms']),
      line(['---', '---:', '---:', '---:', '---:', '---:']),
    )
    for (const [name, page] of [
      ['first', 'first'],
      ['40 rows from the end', 'deep'],
    ] as const) {
      out.push(
        line([
          name,
          ranged(scale.map((s) => s[page].serialP50Ms)),
          ranged(scale.map((s) => s[page].serialP99Ms)),
          loaded(page, 'requestsPerSecond'),
          loaded(page, 'p50Ms'),
          loaded(page, 'p99Ms'),
        ]),
      )
    }
  }
  out.push(...auditScale(report))
  if (cleanup) {
    const seconds = cleanup.durationMs / 1000
    out.push(
      '',
      `Cleanup (one round; it consumes its data): ${cleanup.counts.unverifiedUsers.toLocaleString('en')} of ` +
        `${cleanup.staleUsers.toLocaleString('en')} stale users deleted in ${seconds.toFixed(1)} s ` +
        `(${Math.round(cleanup.counts.unverifiedUsers / seconds).toLocaleString('en')} rows/s); ` +
        `GET /users/me meanwhile: ${cleanup.me.requestsPerSecond.toFixed(1)} req/s, ` +
        `p50 ${cleanup.me.p50Ms.toFixed(2)} ms, p99 ${cleanup.me.p99Ms.toFixed(2)} ms, ` +
        `non-2xx ${cleanup.me.non2xx}, errors ${cleanup.me.errors}, ` +
        `API peak RSS ${(cleanup.peakRssBytes / MB).toFixed(1)} MB.`,
    )
  }
  return out
}

/** `≥ 0.85, median of 3 runs` or `≤ 120 MB, every run`. */
export function ruleText(target: Target, runs: number): string {
  const sign = target.direction === 'at least' ? '≥' : '≤'
  const basis =
    target.basis === 'median' ? `median of ${runs} run${runs === 1 ? '' : 's'}` : 'every run'
  return `${sign} ${target.limit}${target.unit === 'MB' ? ' MB' : ''}, ${basis}`
}

function targetTable(report: BenchReport): string[] {
  const runs = Number(report.settings.runs)
  const out = [
    line(['target', 'rule', 'measured', 'all values (min–max)', 'result']),
    line(['---', '---', '---:', '---:', '---']),
  ]
  for (const t of report.targets) {
    const range: Spread | null = spread(t.values)
    const result = t.pass === null ? 'not run' : t.pass ? 'pass' : '**FAIL**'
    out.push(
      line([
        t.name,
        ruleText(t, runs),
        t.measured === null ? MISSING : number(t.measured, t.unit === 'MB' ? 1 : 2),
        range === null ? MISSING : `${number(range.min)}–${number(range.max)}`,
        result,
      ]),
    )
  }
  return out
}

/** The report as Markdown, for docs/benchmark.md and the README. */
export function renderMarkdown(report: BenchReport): string {
  return [
    ...header(report),
    '',
    ...scenarioTable(report),
    '',
    ...extras(report),
    ...scaleAndCleanup(report),
    '',
    ...targetTable(report),
  ].join('\n')
}

/**
 * bench/results/<timestamp>.{json,md,svg}; the chart also to `chart` (docs/benchmark.svg)
 * when given. Returns the paths and the Markdown.
 */
export function writeReport(report: BenchReport, directory: string, chart: string | null) {
  mkdirSync(directory, { recursive: true })
  const base = join(directory, report.startedAt.replace(/[:.]/g, '-'))
  const markdown = renderMarkdown(report)
  const svg = renderChart(report)
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(`${base}.md`, `${markdown}\n`)
  const charts = [`${base}.svg`, ...(chart ? [chart] : [])]
  for (const file of charts) writeFileSync(file, svg)
  return { json: `${base}.json`, markdown, charts }
}
