import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BcryptCeiling } from './bcrypt-ceiling.js'
import type { CleanupCaseResult } from './cleanup.js'
import type { LoadResult } from './load.js'
import type { ScaleResult } from './scale.js'

export interface ScenarioRow extends LoadResult {
  name: string
  server: 'api' | 'baseline'
  request: string
  peakRssBytes: number
}

export interface Target {
  name: string
  rule: string
  value: number | null
  pass: boolean | null
}

export interface BenchReport {
  startedAt: string
  finishedAt: string
  machine: Record<string, string | number>
  settings: Record<string, string | number | boolean>
  scenarios: ScenarioRow[]
  bcryptCeiling: BcryptCeiling | null
  scale: ScaleResult | null
  cleanup: CleanupCaseResult | null
  targets: Target[]
}

const MB = 1024 * 1024
const API_RSS_LIMIT_MB = 150

const target = (
  name: string,
  rule: string,
  value: number | null,
  pass: (v: number) => boolean,
) => ({
  name,
  rule,
  value,
  pass: value === null ? null : pass(value),
})

/** The four targets of issue 7; a target whose scenarios did not run is `null`. */
export function evaluateTargets(report: Omit<BenchReport, 'targets'>): Target[] {
  const row = (name: string) => report.scenarios.find((s) => s.name === name)
  const me = row('me')
  const baseline = row('baseline-me')
  const login = row('login')
  const ceiling = report.bcryptCeiling?.hashesPerSecond
  const apiPeaks = [
    ...report.scenarios.filter((s) => s.server === 'api').map((s) => s.peakRssBytes),
    report.scale?.peakRssBytes ?? 0,
    report.cleanup?.peakRssBytes ?? 0,
  ]
  const peak = Math.max(...apiPeaks, 0)
  return [
    target(
      'GET /users/me vs bare node:http baseline',
      '≥ 0.75',
      me && baseline ? me.requestsPerSecond / baseline.requestsPerSecond : null,
      (v) => v >= 0.75,
    ),
    target(
      'POST /auth/login vs bcrypt cost-12 ceiling',
      '≥ 0.90',
      login && ceiling ? login.requestsPerSecond / ceiling : null,
      (v) => v >= 0.9,
    ),
    target(
      `deep page p50 / first page p50 at ${report.scale?.users.toLocaleString('en') ?? '?'} users`,
      '≤ 1.50',
      report.scale?.serialP50Ratio ?? null,
      (v) => v <= 1.5,
    ),
    target(
      'API peak RSS under load (MB)',
      `≤ ${API_RSS_LIMIT_MB}`,
      peak > 0 ? peak / MB : null,
      (v) => v <= API_RSS_LIMIT_MB,
    ),
  ]
}

const fixed = (value: number, digits = 1) => value.toFixed(digits)
const rss = (bytes: number) => (bytes > 0 ? fixed(bytes / MB) : '–')
const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`

/** The report as Markdown: pasted as is into docs/benchmark.md. */
export function renderMarkdown(report: BenchReport): string {
  const out: string[] = []
  out.push(
    line(['scenario', 'server', 'request', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'non-2xx']),
  )
  out.push(line(['---', '---', '---', '---:', '---:', '---:', '---:', '---:']))
  for (const s of report.scenarios) {
    out.push(
      line([
        s.name,
        s.server,
        `\`${s.request}\``,
        fixed(s.requestsPerSecond),
        s.p50Ms,
        s.p99Ms,
        rss(s.peakRssBytes),
        s.non2xx + s.errors,
      ]),
    )
  }
  const ceiling = report.bcryptCeiling
  if (ceiling) {
    out.push('')
    out.push(
      `bcrypt cost ${ceiling.rounds} ceiling: ${fixed(ceiling.hashesPerSecond, 2)} hashes/s ` +
        `(${ceiling.parallelism} concurrent loops, ${ceiling.hashes} hashes).`,
    )
  }
  const scale = report.scale
  if (scale) {
    out.push('')
    out.push(`Scale, ${scale.users.toLocaleString('en')} users (GET /users?limit=20, admin):`)
    out.push('')
    out.push(
      line(['page', 'serial p50 ms', 'serial p99 ms', 'req/s (50 conn)', 'p50 ms', 'p99 ms']),
    )
    out.push(line(['---', '---:', '---:', '---:', '---:', '---:']))
    for (const [name, page] of [
      ['first', scale.first],
      ['40 rows from the end', scale.deep],
    ] as const) {
      out.push(
        line([
          name,
          fixed(page.serialP50Ms, 2),
          fixed(page.serialP99Ms, 2),
          fixed(page.loaded.requestsPerSecond),
          page.loaded.p50Ms,
          page.loaded.p99Ms,
        ]),
      )
    }
  }
  const cleanup = report.cleanup
  if (cleanup) {
    out.push('')
    out.push(
      `Cleanup: ${cleanup.counts.unverifiedUsers.toLocaleString('en')} of ` +
        `${cleanup.staleUsers.toLocaleString('en')} stale users deleted in ` +
        `${fixed(cleanup.durationMs / 1000)} s ` +
        `(${Math.round(cleanup.counts.unverifiedUsers / (cleanup.durationMs / 1000)).toLocaleString('en')} rows/s); ` +
        `GET /users/me meanwhile: ${fixed(cleanup.me.requestsPerSecond)} req/s, ` +
        `p50 ${cleanup.me.p50Ms} ms, p99 ${cleanup.me.p99Ms} ms, non-2xx ${cleanup.me.non2xx + cleanup.me.errors}, ` +
        `API peak RSS ${rss(cleanup.peakRssBytes)} MB.`,
    )
  }
  out.push('')
  out.push(line(['target', 'rule', 'measured', 'result']))
  out.push(line(['---', '---', '---:', '---']))
  for (const t of report.targets) {
    const result = t.pass === null ? 'not run' : t.pass ? 'pass' : '**FAIL**'
    out.push(line([t.name, t.rule, t.value === null ? '–' : fixed(t.value, 2), result]))
  }
  return out.join('\n')
}

/** bench/results/<timestamp>.json; returns the path. */
export function writeReport(report: BenchReport, directory: string): string {
  mkdirSync(directory, { recursive: true })
  const file = join(directory, `${report.startedAt.replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
  return file
}
