/**
 * The report's data and the targets judged on it. Every scenario runs several times; a
 * ratio is taken run by run (the API's run i against the floor's run i, measured minutes
 * apart) and judged on the median of those, with the min–max spread shown beside it.
 * Memory is judged on the worst run: the limit holds in every scenario of every run.
 */

import type { AuditScaleResult } from './audit-scale.js'
import type { BcryptCeiling } from './bcrypt-ceiling.js'
import type { CleanupCaseResult } from './cleanup.js'
import type { Pinning } from './cpu.js'
import type { EmbeddedIdleRun } from './embedded.js'
import type { MeasuredRun } from './load.js'
import type { ScaleResult } from './scale.js'
import type { ScenarioName } from './settings.js'

/** `api-nocache`: the API with AUTH_CACHE_SIZE=0, every request reads its user and session. */
export type ServerKind = 'api' | 'api-nocache' | 'node' | 'fastify'

/** Both API processes count for the API's targets (memory). */
export const isApi = (server: ServerKind) => server === 'api' || server === 'api-nocache'

export interface ScenarioResult {
  name: ScenarioName
  server: ServerKind
  request: string
  runs: MeasuredRun[]
}

export interface Target {
  name: string
  /** A few words for the chart. */
  label: string
  direction: 'at least' | 'at most'
  limit: number
  unit: 'ratio' | 'MB'
  /** 'median': of the runs' values; 'worst': every value must hold. */
  basis: 'median' | 'worst'
  values: number[]
  /** The value judged (median or worst); null when the scenarios did not run. */
  measured: number | null
  pass: boolean | null
}

/** A ratio shown for reading, not judged: where the time goes between the floors and us. */
export interface Comparison {
  name: string
  label: string
  values: number[]
}

export interface BenchReport {
  startedAt: string
  finishedAt: string
  quick: boolean
  machine: Record<string, string | number>
  generator: { version: string; threads: number; connections: number; pinning: Pinning | null }
  settings: Record<string, string | number | boolean>
  scenarios: ScenarioResult[]
  bcryptCeiling: BcryptCeiling[]
  embeddedIdle: EmbeddedIdleRun[]
  scale: ScaleResult[]
  /** GET /audit-events first vs deep page over as many events as scale has users. */
  auditScale: AuditScaleResult[]
  cleanup: CleanupCaseResult | null
  targets: Target[]
  comparisons: Comparison[]
}

export const MB = 1024 * 1024
export const API_RSS_LIMIT_MB = 120
export const EMBEDDED_IDLE_LIMIT_MB = 200

export interface Spread {
  min: number
  median: number
  max: number
}

/** Min, median (mean of the middle two for an even count) and max; null when empty. */
export function spread(values: number[]): Spread | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
  return { min: sorted[0] as number, median, max: sorted.at(-1) as number }
}

/** Run i of `a` over run i of `b`, for the runs both have. */
export function pairedRatios(a: number[], b: number[]): number[] {
  const count = Math.min(a.length, b.length)
  return Array.from({ length: count }, (_, i) => (a[i] as number) / (b[i] as number)).filter(
    Number.isFinite,
  )
}

function judge(target: Omit<Target, 'measured' | 'pass'>): Target {
  const { values, direction, limit } = target
  const range = spread(values)
  if (range === null) return { ...target, measured: null, pass: null }
  const worst = direction === 'at least' ? range.min : range.max
  const measured = target.basis === 'median' ? range.median : worst
  return {
    ...target,
    measured,
    pass: direction === 'at least' ? measured >= limit : measured <= limit,
  }
}

type Inputs = Omit<BenchReport, 'targets' | 'comparisons'>

const rates = (report: Inputs, name: ScenarioName) =>
  report.scenarios.find((s) => s.name === name)?.runs.map((r) => r.requestsPerSecond) ?? []

/** Every peak RSS of the API process: each scenario's runs, the scale runs, the cleanup. */
export function apiPeakRssValues(report: Inputs): number[] {
  return [
    ...report.scenarios.filter((s) => isApi(s.server)).flatMap((s) => s.runs),
    ...report.scale,
    ...report.auditScale,
    ...(report.cleanup ? [report.cleanup] : []),
  ]
    .map((run) => run.peakRssBytes / MB)
    .filter((mb) => mb > 0)
}

/** The targets of the performance work, each with its rule; unrun ones have `pass: null`. */
export function evaluateTargets(report: Inputs): Target[] {
  const ratio = { unit: 'ratio' as const, basis: 'median' as const }
  const scaleUsers = report.scale[0]?.users.toLocaleString('en') ?? '?'
  const auditEvents = report.auditScale[0]?.events.toLocaleString('en') ?? '?'
  return [
    judge({
      ...ratio,
      name: 'GET /users/me vs bare node:http (req/s)',
      label: 'GET /users/me ÷ node:http',
      direction: 'at least',
      limit: 0.85,
      values: pairedRatios(rates(report, 'me'), rates(report, 'baseline-me')),
    }),
    judge({
      ...ratio,
      name: 'GET /health/live vs bare node:http ping (req/s)',
      label: 'GET /health/live ÷ node:http ping',
      direction: 'at least',
      limit: 0.5,
      values: pairedRatios(rates(report, 'live'), rates(report, 'baseline-ping')),
    }),
    judge({
      ...ratio,
      name: `GET /users deep page vs first page (req/s, ${Number(report.settings.users).toLocaleString('en')} users)`,
      label: 'deep ÷ first page, req/s',
      direction: 'at least',
      limit: 0.9,
      values: pairedRatios(rates(report, 'users-deep'), rates(report, 'users-first')),
    }),
    judge({
      ...ratio,
      name: `GET /users deep page p50 / first page p50 (one at a time, ${scaleUsers} users)`,
      label: `deep ÷ first page p50, ${scaleUsers} users`,
      direction: 'at most',
      limit: 1.1,
      values: report.scale.map((s) => s.serialP50Ratio),
    }),
    judge({
      ...ratio,
      name: `GET /audit-events deep page p50 / first page p50 (one at a time, ${auditEvents} events)`,
      label: `deep ÷ first page p50, ${auditEvents} events`,
      direction: 'at most',
      limit: 1.1,
      values: report.auditScale.map((s) => s.serialP50Ratio),
    }),
    judge({
      ...ratio,
      name: 'POST /auth/login vs bcrypt cost-12 ceiling',
      label: 'login ÷ bcrypt ceiling',
      direction: 'at least',
      limit: 0.9,
      values: pairedRatios(
        rates(report, 'login'),
        report.bcryptCeiling.map((c) => c.hashesPerSecond),
      ),
    }),
    judge({
      name: 'API peak RSS under load, every scenario and run (MB)',
      label: 'API peak RSS (MB)',
      direction: 'at most',
      limit: API_RSS_LIMIT_MB,
      unit: 'MB',
      basis: 'worst',
      values: apiPeakRssValues(report),
    }),
    judge({
      name: 'embedded default (npm start, PGlite) idle RSS after start (MB)',
      label: 'embedded idle RSS (MB)',
      direction: 'at most',
      limit: EMBEDDED_IDLE_LIMIT_MB,
      unit: 'MB',
      basis: 'worst',
      values: report.embeddedIdle.flatMap((e) => [
        e.firstStartIdleRssBytes / MB,
        e.restartIdleRssBytes / MB,
      ]),
    }),
  ]
}

/** Fastify's own cost and ours on top of it, run by run. */
export function compareFloors(report: Inputs): Comparison[] {
  const ratio = (name: string, label: string, a: ScenarioName, b: ScenarioName) => ({
    name,
    label,
    values: pairedRatios(rates(report, a), rates(report, b)),
  })
  return [
    ratio(
      'plain Fastify vs bare node:http, GET /users/me',
      'Fastify ÷ node:http, /users/me',
      'fastify-me',
      'baseline-me',
    ),
    ratio('API vs plain Fastify, GET /users/me', 'API ÷ Fastify, /users/me', 'me', 'fastify-me'),
    ratio(
      'API GET /users/me, a new token every request (no cache hit) vs bare node:http',
      '/users/me uncached ÷ node:http',
      'me-uncached',
      'baseline-me',
    ),
    ratio(
      'API GET /users/me with AUTH_CACHE_SIZE=0 (user and session read every request) vs bare node:http',
      '/users/me no auth cache ÷ node:http',
      'me-nocache',
      'baseline-me',
    ),
    ratio(
      'API GET /users/me, auth cache on vs off',
      '/users/me cache on ÷ off',
      'me',
      'me-nocache',
    ),
    ratio(
      'API GET /users/me, a new token every request vs one token',
      '/users/me uncached ÷ cached',
      'me-uncached',
      'me',
    ),
    ratio(
      'plain Fastify vs bare node:http, ping',
      'Fastify ÷ node:http, ping',
      'fastify-ping',
      'baseline-ping',
    ),
    ratio(
      'API GET /health/live vs plain Fastify ping',
      'API ÷ Fastify, ping',
      'live',
      'fastify-ping',
    ),
  ].filter((c) => c.values.length > 0)
}
