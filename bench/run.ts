/**
 * `npm run bench`: the API against the bare Node.js floor and the bcrypt ceiling, on a
 * fresh PostgreSQL database that is dropped at the end. See docs/benchmark.md.
 */
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { accessToken, benchSecretKey, startApi, startBaseline } from './api.js'
import { measureBcryptCeiling } from './bcrypt-ceiling.js'
import { runCleanupCase } from './cleanup.js'
import { type BenchDatabase, createBenchDatabase } from './database.js'
import { type LoadRequest, measure } from './load.js'
import type { ChildServer } from './processes.js'
import {
  type BenchReport,
  evaluateTargets,
  renderMarkdown,
  type ScenarioRow,
  writeReport,
} from './report.js'
import { runScaleCase } from './scale.js'
import { seedStaleUsers, seedUsers } from './seed.js'
import {
  ALL_SCENARIOS,
  type BenchSettings,
  loadBenchSettings,
  type ScenarioName,
} from './settings.js'

const RESULTS_DIR = fileURLToPath(new URL('./results', import.meta.url))
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)

/** Everything to stop or drop, newest first, on success, failure or Ctrl-C. */
const teardown: (() => Promise<void>)[] = []
async function runTeardown() {
  while (teardown.length > 0) {
    const step = teardown.pop()
    await step?.().catch((error: unknown) => log(`teardown: ${String(error)}`))
  }
}
/** Registers `step` for teardown; calling the result runs it now, once. */
function onTeardown(step: () => Promise<void>): () => Promise<void> {
  let done = false
  const once = async () => {
    if (done) return
    done = true
    await step()
  }
  teardown.push(once)
  return once
}

async function scenario(
  settings: BenchSettings,
  server: ChildServer,
  name: ScenarioName,
  request: LoadRequest,
): Promise<ScenarioRow> {
  log(`${name}: ${request.method ?? 'GET'} ${request.path}`)
  let window = { stop: () => 0 }
  const result = await measure({
    baseUrl: server.baseUrl,
    request,
    connections: settings.connections,
    seconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
    beforeRun: () => {
      window = server.trackRss()
    },
  })
  const row: ScenarioRow = {
    name,
    server: server.name === 'api' ? 'api' : 'baseline',
    request: `${request.method ?? 'GET'} ${request.path.replace(/cursor=[^&]+/, 'cursor=…')}`,
    ...result,
    peakRssBytes: window.stop(),
  }
  log(
    `  ${row.requestsPerSecond.toFixed(1)} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ` +
      `peak RSS ${(row.peakRssBytes / 1024 / 1024).toFixed(1)} MB, non-2xx ${row.non2xx}, errors ${row.errors}`,
  )
  return row
}

async function postgresVersion(database: BenchDatabase): Promise<string> {
  const { rows } = await database.pool.query<{ server_version: string }>('show server_version')
  return rows[0]?.server_version ?? '?'
}

async function main() {
  const settings = loadBenchSettings()
  const wants = (name: ScenarioName) => settings.scenarios.has(name)
  const startedAt = new Date().toISOString()
  const secretKey = benchSecretKey()
  const rows: ScenarioRow[] = []
  const report: Omit<BenchReport, 'targets' | 'finishedAt'> = {
    startedAt,
    machine: {},
    settings: {
      durationSeconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
      connections: settings.connections,
      users: settings.users,
      scaleUsers: settings.scaleUsers,
      scenarios: [...settings.scenarios].join(','),
      profile: settings.profile,
      apiEntry: settings.apiEntry,
    },
    scenarios: rows,
    bcryptCeiling: null,
    scale: null,
    cleanup: null,
  }

  if (wants('bcrypt-ceiling')) {
    log(`bcrypt-ceiling: ${settings.parallelism} concurrent cost-12 hashes`)
    report.bcryptCeiling = await measureBcryptCeiling({
      rounds: 12,
      parallelism: settings.parallelism,
      durationMs: settings.durationSeconds * 1000,
    })
    log(`  ${report.bcryptCeiling.hashesPerSecond.toFixed(2)} hashes/s`)
  }

  log(`creating a database on ${new URL(settings.serverUrl).host}`)
  const database = await createBenchDatabase(settings.serverUrl)
  onTeardown(() => database.drop())
  const cpu = cpus()
  report.machine = {
    cpus: cpu.length,
    parallelism: settings.parallelism,
    cpuModel: cpu[0]?.model ?? '?',
    memoryMB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    postgres: await postgresVersion(database),
    loadAverage1m: Number(loadavg()[0]?.toFixed(2)),
  }
  if ((loadavg()[0] ?? 0) > settings.parallelism / 2) {
    log(`warning: load average ${loadavg()[0]?.toFixed(1)} — other work will skew the figures`)
  }
  log(`seeding ${settings.users.toLocaleString('en')} users`)
  const seeded = await seedUsers(database.pool, settings.users)
  const meToken = await accessToken(secretKey, { id: seeded.me.id, role: 'user' })
  const adminToken = await accessToken(secretKey, { id: seeded.admin.id, role: 'admin' })
  const me: LoadRequest = { path: '/users/me', headers: { authorization: `Bearer ${meToken}` } }
  const asAdmin = { authorization: `Bearer ${adminToken}` }

  if (wants('baseline-me')) {
    const baseline = await startBaseline({ databaseUrl: database.url, secretKey })
    const stopBaseline = onTeardown(() => baseline.stop())
    rows.push(await scenario(settings, baseline, 'baseline-me', me))
    await stopBaseline()
  }
  const apiScenarios = ALL_SCENARIOS.filter(
    (name) => name !== 'bcrypt-ceiling' && name !== 'baseline-me',
  )
  if (apiScenarios.some(wants)) {
    const profileDir = settings.profile ? `${RESULTS_DIR}/profiles` : undefined
    const api = await startApi({
      databaseUrl: database.url,
      secretKey,
      profileDir,
      entry: settings.apiEntry,
    })
    onTeardown(() => api.stop())
    if (wants('me')) rows.push(await scenario(settings, api, 'me', me))
    if (wants('user-by-id')) {
      rows.push(
        await scenario(settings, api, 'user-by-id', {
          path: `/users/${seeded.someUserId}`,
          headers: asAdmin,
        }),
      )
    }
    if (wants('users-first')) {
      rows.push(
        await scenario(settings, api, 'users-first', { path: '/users?limit=20', headers: asAdmin }),
      )
    }
    if (wants('users-deep')) {
      const { deepCursor } = await import('./scale.js')
      const cursor = await deepCursor(database.pool, 40)
      rows.push(
        await scenario(settings, api, 'users-deep', {
          path: `/users?limit=20&cursor=${cursor}`,
          headers: asAdmin,
        }),
      )
    }
    if (wants('login')) {
      rows.push(
        await scenario(settings, api, 'login', {
          method: 'POST',
          path: '/auth/login',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: seeded.login.email, password: seeded.login.password }),
        }),
      )
    }
    if (wants('scale') || wants('cleanup')) {
      log(`seeding ${settings.scaleUsers.toLocaleString('en')} stale never-verified users by SQL`)
      const seedStarted = performance.now()
      await seedStaleUsers(database.pool, settings.scaleUsers)
      log(`  ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`)
    }
    if (wants('scale')) {
      log('scale: first page vs a page 40 rows from the end')
      report.scale = await runScaleCase({
        api,
        pool: database.pool,
        adminToken,
        connections: settings.connections,
        seconds: settings.durationSeconds,
        warmupSeconds: settings.warmupSeconds,
        serialRequests: 500,
      })
      log(
        `  serial p50 first ${report.scale.first.serialP50Ms.toFixed(2)} ms, deep ${report.scale.deep.serialP50Ms.toFixed(2)} ms`,
      )
    }
    if (wants('cleanup')) {
      log(
        `cleanup: one round over ${settings.scaleUsers.toLocaleString('en')} stale users while GET /users/me runs`,
      )
      report.cleanup = await runCleanupCase({
        api,
        databaseUrl: database.url,
        staleUsers: settings.scaleUsers,
        me,
        connections: settings.connections,
      })
      log(
        `  ${(report.cleanup.durationMs / 1000).toFixed(1)} s, /users/me p99 ${report.cleanup.me.p99Ms} ms`,
      )
    }
  }
  await runTeardown()

  const partial = { ...report, finishedAt: new Date().toISOString() }
  const full: BenchReport = { ...partial, targets: evaluateTargets(partial) }
  const file = writeReport(full, RESULTS_DIR)
  process.stdout.write(`\n${renderMarkdown(full)}\n\nJSON: ${file}\n`)
}

process.once('SIGINT', () => {
  log('interrupted: stopping servers and dropping the database')
  void runTeardown().finally(() => process.exit(130))
})

main().catch(async (error: unknown) => {
  console.error(error)
  await runTeardown()
  process.exit(1)
})
