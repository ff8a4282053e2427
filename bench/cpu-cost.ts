/**
 * CPU time per request of the API, for A/B work on a busy machine: wall-clock req/s moves
 * with whatever else runs, the server's own CPU seconds per answered request much less.
 * Each build is started as `npm run start:prod` starts it (same flags and settings as the
 * bench), loaded by wrk for a few seconds per path, and charged the utime + stime its
 * process used (/proc) over the 2xx answers wrk counted. Builds alternate round by round
 * (A B A B …) so a drift of the machine hits both alike. Also prints the peak RSS of each
 * path (warm-up and load).
 *
 * Usage: node --import tsx bench/cpu-cost.ts <dist/server.js> [<other/server.js> …]
 * (`node` or `fastify` as an entry: the floors of bench/baseline.ts, bench/fastify-baseline.ts)
 * COST_PATHS=live,me (also: me-uncached, users-first, login) COST_SECONDS=5 COST_ROUNDS=3
 * COST_ENV='RATE_LIMIT_MAX=100 REDIS_URL=…': settings on top of the bench's.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  accessToken,
  apiSigner,
  baselineSigner,
  benchSecretKey,
  startApi,
  startBaseline,
} from './api.js'
import { clockTicksPerSecond, processCpuTicks, waitUntilIdle } from './cpu.js'
import { createBenchDatabase } from './database.js'
import { seedUsers } from './seed.js'
import { ensureWrk, startWrk, type WrkRequest, writeWrkScript } from './wrk.js'

const entries = process.argv.slice(2)
if (entries.length === 0) throw new Error('usage: bench/cpu-cost.ts <server.js> [<server.js> …]')
const paths = (process.env.COST_PATHS ?? 'live,me').split(',')
const seconds = Number(process.env.COST_SECONDS ?? 5)
const rounds = Number(process.env.COST_ROUNDS ?? 3)
const extraEnv = Object.fromEntries(
  (process.env.COST_ENV ?? '')
    .split(' ')
    .filter(Boolean)
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
)

ensureWrk(console.log)
const serverUrl =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres'
const database = await createBenchDatabase(serverUrl)
const scripts = mkdtempSync(join(tmpdir(), 'cpu-cost-'))
try {
  const seeded = await seedUsers(database.pool, 10_000)
  const secretKey = benchSecretKey()
  const signer = await apiSigner(database.url, secretKey)
  const me = { id: seeded.me.id, role: 'user' as const, sessionId: seeded.me.sessionId }
  const requests: Record<string, WrkRequest> = {
    live: { path: '/health/live' },
    me: { path: '/users/me', bearerTokens: [accessToken(signer, me)] },
    'users-first': {
      path: '/users?limit=20',
      bearerTokens: [
        accessToken(signer, {
          id: seeded.admin.id,
          role: 'admin',
          sessionId: seeded.admin.sessionId,
        }),
      ],
    },
    login: {
      method: 'POST',
      path: '/auth/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: seeded.login.email, password: seeded.login.password }),
    },
    'me-uncached': {
      path: '/users/me',
      // ES256 signatures are randomised: each token differs, more than the cache holds.
      bearerTokens: Array.from({ length: 12_288 }, () => accessToken(signer, me)),
    },
  }
  const baselineMe = {
    path: '/users/me',
    bearerTokens: [accessToken(baselineSigner(secretKey), me)],
  }
  const results = new Map<string, number[]>()
  const peaks = new Map<string, number[]>()
  const ticks = clockTicksPerSecond()
  for (let round = 1; round <= rounds; round++) {
    for (const entry of entries) {
      const floor = entry === 'node' || entry === 'fastify' ? entry : null
      const api = floor
        ? await startBaseline(floor, { databaseUrl: database.url, secretKey })
        : await startApi({ databaseUrl: database.url, secretKey, entry, env: extraEnv })
      try {
        for (const name of paths) {
          const rss = api.trackRss()
          const request = floor && name === 'me' ? baselineMe : requests[name]
          if (!request) throw new Error(`unknown path ${name}`)
          const script = writeWrkScript(scripts, name, request)
          const load = (s: number) =>
            startWrk({
              url: api.baseUrl,
              script,
              connections: 50,
              threads: 1,
              seconds: s,
              timeoutSeconds: 30,
              cpus: null,
            }).done
          await load(2)
          await waitUntilIdle(api.pid)
          const before = processCpuTicks(api.pid) ?? 0
          const report = await load(seconds)
          await waitUntilIdle(api.pid)
          const used = (processCpuTicks(api.pid) ?? 0) - before
          const ok = report.requests - report.errors.status
          const us = (used / ticks / ok) * 1e6
          const key = `${name} ${entry}`
          results.set(key, [...(results.get(key) ?? []), us])
          peaks.set(key, [...(peaks.get(key) ?? []), rss.stop() / 2 ** 20])
          console.log(
            `round ${round} ${key}: ${us.toFixed(1)} µs CPU/request (${ok} answers, ` +
              `${(ok / (report.durationUs / 1e6)).toFixed(0)} req/s, non-2xx ${report.errors.status})`,
          )
        }
      } finally {
        await api.stop()
      }
      await sleep(200)
    }
  }
  console.log('\nµs of server CPU per answered request: median (min–max)')
  for (const [key, values] of results) {
    const sorted = [...values].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0
    console.log(
      `${key}: ${median.toFixed(1)} (${sorted[0]?.toFixed(1)}–${sorted.at(-1)?.toFixed(1)})`,
    )
  }
  for (const [key, values] of peaks) {
    console.log(`peak RSS ${key}: ${values.map((v) => v.toFixed(0)).join(', ')} MB`)
  }
} finally {
  rmSync(scripts, { recursive: true, force: true })
  await database.drop()
}
