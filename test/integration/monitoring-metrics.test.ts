import { mkdtempSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { parseMetrics } from '../helpers/metrics.js'
import {
  ALERTS_FILE,
  alertRules,
  dashboardExpressions,
  exportedNames,
  metricNames,
  readDashboard,
} from '../helpers/monitoring.js'
import { freePort, spawnLogged } from '../helpers/process.js'

/**
 * Black-box: the real server, then the real worker, each with /metrics on a listener of
 * its own (METRICS_PORT) behind a token (METRICS_TOKEN), scraped as Prometheus would.
 * Every metric the alert rules and the Grafana dashboard name must be exported.
 */
const SLOW = 180_000
const TOKEN = 'metrics-token-0123456789abcdef0123456789abcdef'
let testDb: TestDatabase | null = null
let dataDir: string
const env: Record<string, string> = {}
let ports: { api: number; metrics: number }

const ruleNames = alertRules(readFileSync(ALERTS_FILE, 'utf8')).flatMap((r) => metricNames(r.expr))
const dashboardNames = dashboardExpressions(readDashboard()).flatMap(metricNames)
/** `up` is Prometheus' own, recorded for every scrape target. */
const PROMETHEUS_OWN = new Set(['up'])

const scrape = (port: number, token: string | null = TOKEN) =>
  fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  })
const sample = (exposition: string, name: string, labels: Record<string, string> = {}) =>
  parseMetrics(exposition).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )

/** Runs an entry point until `ready` is logged, then until its first cleanup round says `round`. */
async function start(script: string, ready: string, round: string) {
  const child = spawnLogged(process.execPath, ['--import', 'tsx', script], env)
  await child.waitForLog((record) => String(record.msg).startsWith(ready), SLOW)
  await child.waitForLog((record) => String(record.msg).startsWith(round), SLOW)
  return child
}

async function stop(child: ReturnType<typeof spawnLogged>) {
  child.child.kill('SIGTERM')
  expect((await child.exited).code).toBe(0)
}

beforeAll(async () => {
  ports = { api: await freePort(), metrics: await freePort() }
  dataDir = mkdtempSync(join(tmpdir(), 'coffee-monitoring-'))
  Object.assign(env, {
    NODE_ENV: 'test',
    SECRET_KEY: TEST_SECRET,
    BCRYPT_ROUNDS: '4',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(ports.api),
    METRICS_PORT: String(ports.metrics),
    METRICS_TOKEN: TOKEN,
    RUN_SCHEDULER: 'true',
    CLEANUP_INTERVAL: '1h',
    SMTP_URL: '',
    REDIS_URL: '',
    FIRST_ADMIN_EMAIL: '',
    FIRST_ADMIN_PASSWORD: '',
    DATABASE_URL: '',
    DATA_DIR: dataDir,
  })
  if (process.env.TEST_DATABASE_URL) {
    testDb = await createTestDatabase()
    env.DATABASE_URL = testDb.url ?? ''
  }
}, SLOW)

afterAll(async () => {
  await testDb?.drop()
  await rm(dataDir, { recursive: true, force: true })
})

describe('a running API with METRICS_PORT and METRICS_TOKEN', () => {
  it(
    'serves /metrics on its own port only, to the token only, with every name monitoring uses',
    async () => {
      const startedAt = Date.now() / 1_000
      const server = await start('src/server.ts', 'Coffee Shop API ready', 'cleanup: ')
      try {
        // A request to the API, so the request metrics have samples of their own.
        const live = await fetch(`http://127.0.0.1:${ports.api}/health/live`)
        expect(live.status).toBe(200)
        const onApiPort = await fetch(`http://127.0.0.1:${ports.api}/metrics`)
        expect(onApiPort.status).toBe(404)

        const anonymous = await scrape(ports.metrics, null)
        expect(anonymous.status).toBe(401)
        expect(anonymous.headers.get('www-authenticate')).toBe('Bearer')
        expect(await anonymous.json()).toEqual({
          detail: 'Not authenticated',
          code: 'not_authenticated',
        })
        expect((await scrape(ports.metrics, `${TOKEN.slice(0, -1)}x`)).status).toBe(401)

        const response = await scrape(ports.metrics)
        expect(response.status).toBe(200)
        const exposition = await response.text()
        const exported = exportedNames(exposition)
        const used = new Set([...ruleNames, ...dashboardNames])
        expect(used.size).toBe(22)
        expect([...used].filter((n) => !exported.has(n) && !PROMETHEUS_OWN.has(n))).toEqual([])

        const labels = { route: '/health/live', method: 'GET', status_code: '200' }
        expect(sample(exposition, 'http_requests_total', labels)).toEqual([
          { name: 'http_requests_total', labels, value: 1 },
        ])
        expect(sample(exposition, 'database_up')[0]?.value).toBe(1)
        expect(sample(exposition, 'cleanup_interval_seconds')[0]?.value).toBe(3_600)
        expect(sample(exposition, 'cleanup_runs_total', { result: 'ran' })[0]?.value).toBe(1)
        expect(sample(exposition, 'cleanup_runs_total', { result: 'failed' })[0]?.value).toBe(0)
        const lastRun = sample(exposition, 'cleanup_last_success_timestamp_seconds')[0]?.value
        expect(lastRun).toBeGreaterThanOrEqual(Math.floor(startedAt))
        expect(lastRun).toBeLessThanOrEqual(Date.now() / 1_000)
      } finally {
        await stop(server)
      }
    },
    SLOW,
  )
})

// After the API above: its round started less than CLEANUP_INTERVAL ago, so the worker's
// first round is not due (one round per interval in total, whichever process does it).
describe('the worker with METRICS_PORT, after the API ran the cleanup', () => {
  it(
    'serves its cleanup rounds and database reachability on /metrics',
    async () => {
      const worker = await start('src/worker.ts', 'metrics listener ready', 'cleanup not due')
      try {
        expect((await scrape(ports.metrics, null)).status).toBe(401)
        const response = await scrape(ports.metrics)
        expect(response.status).toBe(200)
        const exposition = await response.text()
        expect(sample(exposition, 'cleanup_runs_total', { result: 'not_due' })[0]?.value).toBe(1)
        expect(sample(exposition, 'cleanup_runs_total', { result: 'ran' })[0]?.value).toBe(0)
        expect(sample(exposition, 'cleanup_last_success_timestamp_seconds')[0]?.value).toBe(0)
        expect(sample(exposition, 'cleanup_interval_seconds')[0]?.value).toBe(3_600)
        expect(sample(exposition, 'database_up')[0]?.value).toBe(1)
        expect(sample(exposition, 'process_resident_memory_bytes')).toHaveLength(1)
        // No API in the worker: no request metrics with samples.
        expect(sample(exposition, 'http_requests_total')).toEqual([])
      } finally {
        await stop(worker)
      }
    },
    SLOW,
  )
})
