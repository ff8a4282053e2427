/**
 * `npm run bench`: the API against the floors (bare node:http, plain Fastify) and the
 * bcrypt ceiling, loaded by wrk, on a fresh PostgreSQL database dropped at the end.
 * See docs/benchmark.md.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VERIFIED_TOKEN_CACHE_SIZE } from '../src/services/tokens.js'
import {
  accessToken,
  apiSigner,
  baselineSigner,
  benchSecretKey,
  startApi,
  startBaseline,
} from './api.js'
import { runAuditScaleCase, seedAuditEvents } from './audit-scale.js'
import { measureBcryptCeiling } from './bcrypt-ceiling.js'
import { runCleanupCase } from './cleanup.js'
import { pinning as cpuPinning, type Pinning } from './cpu.js'
import { type BenchDatabase, createBenchDatabase } from './database.js'
import { measureEmbeddedIdle } from './embedded.js'
import type { LoadGenerator } from './load.js'
import type { ChildServer } from './processes.js'
import { writeReport } from './report.js'
import { deepCursor, runScaleCase } from './scale.js'
import { type HttpScenario, httpScenarios, runHttpScenario } from './scenarios.js'
import { seedStaleUsers, seedUsers } from './seed.js'
import {
  ALL_SCENARIOS,
  type BenchSettings,
  loadBenchSettings,
  type ScenarioName,
} from './settings.js'
import { type BenchReport, compareFloors, evaluateTargets, type ServerKind } from './targets.js'
import { ensureWrk } from './wrk.js'

const RESULTS_DIR = fileURLToPath(new URL('./results', import.meta.url))
const CHART = fileURLToPath(new URL('../docs/benchmark.svg', import.meta.url))
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)
/** Tokens cycled by `me-uncached`: three times what the API's cache holds. */
const UNCACHED_TOKENS = 3 * VERIFIED_TOKEN_CACHE_SIZE

/** Everything to stop or drop, newest first, on success, failure or Ctrl-C. */
const teardown: (() => Promise<void>)[] = []
async function runTeardown() {
  while (teardown.length > 0) {
    const step = teardown.pop()
    await step?.().catch((error: unknown) => log(`teardown: ${String(error)}`))
  }
}
function onTeardown(step: () => Promise<void>) {
  teardown.push(step)
}

type Inputs = Omit<BenchReport, 'targets' | 'comparisons' | 'finishedAt'>

async function machine(database: BenchDatabase, settings: BenchSettings) {
  const { rows } = await database.pool.query<{ server_version: string }>('show server_version')
  const load = loadavg()[0] ?? 0
  if (load > settings.parallelism / 2) {
    log(`warning: load average ${load.toFixed(1)}: other work will skew the figures`)
  }
  return {
    cpus: cpus().length,
    parallelism: settings.parallelism,
    cpuModel: cpus()[0]?.model ?? '?',
    memoryMB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    postgres: rows[0]?.server_version ?? '?',
    loadAverage1m: Number(load.toFixed(2)),
  }
}

/** The servers the chosen scenarios need, started once and kept for every run. */
async function startServers(
  kinds: Set<ServerKind>,
  options: { databaseUrl: string; secretKey: string; settings: BenchSettings },
): Promise<Map<ServerKind, ChildServer>> {
  const servers = new Map<ServerKind, ChildServer>()
  const keep = (server: ChildServer) => onTeardown(() => server.stop())
  for (const kind of ['node', 'fastify'] as const) {
    if (!kinds.has(kind)) continue
    const server = await startBaseline(kind, options)
    keep(server)
    servers.set(kind, server)
  }
  const apis = [
    ['api', {}],
    ['api-nocache', { AUTH_CACHE_SIZE: '0' }],
  ] as const
  for (const [kind, env] of apis) {
    if (!kinds.has(kind)) continue
    const api = await startApi({
      databaseUrl: options.databaseUrl,
      secretKey: options.secretKey,
      profileDir: options.settings.profile ? `${RESULTS_DIR}/profiles` : undefined,
      entry: options.settings.apiEntry,
      env,
    })
    keep(api)
    servers.set(kind, api)
  }
  return servers
}

/** Run after run, every HTTP scenario (and the bcrypt ceiling just before login). */
async function runRounds(
  inputs: Inputs,
  context: {
    settings: BenchSettings
    scenarios: HttpScenario[]
    servers: Map<ServerKind, ChildServer>
    generator: LoadGenerator
    pinning: Pinning | null
  },
) {
  const { settings } = context
  const wants = (name: ScenarioName) => settings.scenarios.has(name)
  for (let run = 1; run <= settings.runs; run++) {
    log(`run ${run} of ${settings.runs}`)
    for (const scenario of context.scenarios) {
      if (scenario.name === 'login' && wants('bcrypt-ceiling')) {
        log(`bcrypt-ceiling: ${settings.parallelism} concurrent cost-12 hashes`)
        const ceiling = await measureBcryptCeiling({
          rounds: 12,
          parallelism: settings.parallelism,
          durationMs: settings.durationSeconds * 1000,
        })
        inputs.bcryptCeiling.push(ceiling)
        log(`  ${ceiling.hashesPerSecond.toFixed(2)} hashes/s`)
      }
      const server = context.servers.get(scenario.server)
      if (!wants(scenario.name) || server === undefined) continue
      await runHttpScenario({
        ...context,
        scenario,
        server,
        seconds: settings.durationSeconds,
        warmupSeconds: settings.warmupSeconds,
        results: inputs.scenarios,
        log,
      })
    }
  }
}

/** 1,000,000 stale users added, then the scale case run after run, then one cleanup. */
async function runScaleAndCleanup(
  inputs: Inputs,
  context: {
    settings: BenchSettings
    database: BenchDatabase
    api: ChildServer
    generator: LoadGenerator
    meToken: string
    adminToken: string
  },
) {
  const { settings, database, api, generator } = context
  const users = settings.scaleUsers.toLocaleString('en')
  log(`seeding ${users} stale never-verified users by SQL`)
  const seedStarted = performance.now()
  await seedStaleUsers(database.pool, settings.scaleUsers)
  log(`  ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`)
  if (settings.scenarios.has('scale')) {
    log(`seeding ${users} audit events by SQL`)
    const eventsStarted = performance.now()
    await seedAuditEvents(database.pool, settings.scaleUsers)
    log(`  ${((performance.now() - eventsStarted) / 1000).toFixed(1)} s`)
  }
  for (let run = 1; settings.scenarios.has('scale') && run <= settings.runs; run++) {
    log(`scale, run ${run} of ${settings.runs}: first page vs a page 40 rows from the end`)
    const scale = await runScaleCase({
      api,
      generator,
      pool: database.pool,
      adminToken: context.adminToken,
      seconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
      serialRequests: settings.serialRequests,
    })
    inputs.scale.push(scale)
    log(
      `  serial p50 first ${scale.first.serialP50Ms.toFixed(2)} ms, deep ${scale.deep.serialP50Ms.toFixed(2)} ms`,
    )
    log(
      `scale, run ${run} of ${settings.runs}: GET /audit-events, first page vs 40 events from the end`,
    )
    const audit = await runAuditScaleCase({
      api,
      generator,
      pool: database.pool,
      adminToken: context.adminToken,
      seconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
      serialRequests: settings.serialRequests,
    })
    inputs.auditScale.push(audit)
    log(
      `  serial p50 first ${audit.first.serialP50Ms.toFixed(2)} ms, deep ${audit.deep.serialP50Ms.toFixed(2)} ms; ` +
        `one account: first ${audit.filteredFirstSerialP50Ms.toFixed(2)} ms, deep ${audit.filteredDeepSerialP50Ms.toFixed(2)} ms`,
    )
  }
  if (!settings.scenarios.has('cleanup')) return
  log(`cleanup: one round over ${users} stale users while GET /users/me runs`)
  inputs.cleanup = await runCleanupCase({
    api,
    generator,
    databaseUrl: database.url,
    staleUsers: settings.scaleUsers,
    me: { path: '/users/me', bearerTokens: [context.meToken] },
  })
  log(
    `  ${(inputs.cleanup.durationMs / 1000).toFixed(1)} s, /users/me p99 ${inputs.cleanup.me.p99Ms.toFixed(2)} ms`,
  )
}

/** The wrk set-up and the report's frame, before anything is measured. */
function prepare(settings: BenchSettings): { generator: LoadGenerator; inputs: Inputs } {
  const scriptDirectory = mkdtempSync(join(tmpdir(), 'coffee-bench-wrk-'))
  onTeardown(async () => rmSync(scriptDirectory, { recursive: true, force: true }))
  const pinning = settings.pin ? cpuPinning(settings.parallelism) : null
  if (settings.pin && pinning === null) log('BENCH_PIN: needs taskset and 2 cores; not pinned')
  const generator: LoadGenerator = {
    scriptDirectory,
    threads: settings.wrkThreads,
    connections: settings.connections,
    cpus: pinning?.generator ?? null,
    cores: settings.parallelism,
  }
  const { threads, connections } = generator
  const inputs: Inputs = {
    startedAt: new Date().toISOString(),
    quick: settings.quick,
    machine: {},
    generator: { version: ensureWrk(log), threads, connections, pinning },
    settings: {
      runs: settings.runs,
      durationSeconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
      users: settings.users,
      scaleUsers: settings.scaleUsers,
      scenarios: [...settings.scenarios].join(','),
      profile: settings.profile,
      apiEntry: settings.apiEntry,
    },
    scenarios: [],
    bcryptCeiling: [],
    embeddedIdle: [],
    scale: [],
    auditScale: [],
    cleanup: null,
  }
  return { generator, inputs }
}

async function runEmbeddedIdle(inputs: Inputs, settings: BenchSettings) {
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)
  for (let run = 1; run <= settings.runs; run++) {
    log(`embedded-idle, run ${run} of ${settings.runs}: npm start without DATABASE_URL, twice`)
    const idle = await measureEmbeddedIdle(settings.idleSeconds)
    inputs.embeddedIdle.push(idle)
    log(
      `  idle RSS ${mb(idle.firstStartIdleRssBytes)} MB after the first start, ` +
        `${mb(idle.restartIdleRssBytes)} MB after a restart`,
    )
  }
}

/** Targets, JSON, Markdown and chart; docs/benchmark.svg only from a complete full run. */
function finish(inputs: Inputs, settings: BenchSettings) {
  inputs.machine.loadAverage1mEnd = Number((loadavg()[0] ?? 0).toFixed(2))
  const finished = { ...inputs, finishedAt: new Date().toISOString() }
  const report: BenchReport = {
    ...finished,
    targets: evaluateTargets(finished),
    comparisons: compareFloors(finished),
  }
  const complete = !settings.quick && ALL_SCENARIOS.every((name) => settings.scenarios.has(name))
  const files = writeReport(report, RESULTS_DIR, complete ? CHART : null)
  process.stdout.write(
    `\n${files.markdown}\n\nJSON: ${files.json}\nChart: ${files.charts.join(', ')}\n`,
  )
}

async function main() {
  const settings = loadBenchSettings()
  const wants = (name: ScenarioName) => settings.scenarios.has(name)
  const quick = settings.quick ? ' (quick mode: one short run each, figures indicative only)' : ''
  log(
    `${settings.runs} run(s), ${settings.durationSeconds} s each after ${settings.warmupSeconds} s of warm-up${quick}`,
  )
  const { generator, inputs } = prepare(settings)
  if (wants('embedded-idle')) await runEmbeddedIdle(inputs, settings)
  log(`creating a database on ${new URL(settings.serverUrl).host}`)
  const database = await createBenchDatabase(settings.serverUrl)
  onTeardown(() => database.drop())
  inputs.machine = await machine(database, settings)
  log(`seeding ${settings.users.toLocaleString('en')} users`)
  const seeded = await seedUsers(database.pool, settings.users)
  const secretKey = benchSecretKey()
  const signer = await apiSigner(database.url, secretKey)
  const me = { id: seeded.me.id, role: 'user' as const, sessionId: seeded.me.sessionId }
  const meToken = accessToken(signer, me)
  const adminToken = accessToken(signer, { ...seeded.admin, role: 'admin' })
  const uncachedMeTokens = wants('me-uncached')
    ? Array.from({ length: UNCACHED_TOKENS }, () => accessToken(signer, me))
    : [meToken]
  const baselineMeToken = accessToken(baselineSigner(secretKey), me)
  const cursor = wants('users-deep') ? await deepCursor(database.pool, 40) : null
  const scenarios = httpScenarios({
    seeded,
    meToken,
    uncachedMeTokens,
    baselineMeToken,
    adminToken,
    deepCursor: cursor,
  })
  const kinds = new Set(scenarios.filter((s) => wants(s.name)).map((s) => s.server))
  if (wants('scale') || wants('cleanup')) kinds.add('api')
  const servers = await startServers(kinds, { databaseUrl: database.url, secretKey, settings })
  const pinning = inputs.generator.pinning
  await runRounds(inputs, { settings, scenarios, servers, generator, pinning })
  const api = servers.get('api')
  if (api && (wants('scale') || wants('cleanup'))) {
    await runScaleAndCleanup(inputs, { settings, database, api, generator, meToken, adminToken })
  }
  await runTeardown()
  finish(inputs, settings)
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
