import { type Pinning, setAffinity } from './cpu.js'
import { type LoadGenerator, type LoadRequest, type MeasuredRun, measure } from './load.js'
import type { ChildServer } from './processes.js'
import type { SeededUsers } from './seed.js'
import type { ScenarioName } from './settings.js'
import type { ScenarioResult, ServerKind } from './targets.js'

/** One HTTP scenario: a request against one of the three servers. */
export interface HttpScenario {
  name: ScenarioName
  server: ServerKind
  request: LoadRequest
  /**
   * Keeps every core for the server even when pinned: login's work is bcrypt on the libuv
   * pool, compared with a ceiling taken on every core, and its generator is all but idle.
   */
  allCores?: boolean
  /** Measured at least this long, also in quick mode: its first answers take seconds. */
  minimumSeconds?: number
}

/** The HTTP scenarios in the order each run goes through them (bcrypt-ceiling is not HTTP). */
export function httpScenarios(options: {
  seeded: SeededUsers
  /** Signed by the API's current key (ES256 by default); one token, so verified once. */
  meToken: string
  /** More distinct tokens of the same user than the API's verified-token cache holds. */
  uncachedMeTokens: string[]
  /** HS256 with the bench secret: what the floors check. */
  baselineMeToken: string
  adminToken: string
  /** The cursor of a page 40 rows from the end of GET /users. */
  deepCursor: string | null
}): HttpScenario[] {
  const me: LoadRequest = { path: '/users/me', bearerTokens: [options.meToken] }
  const baselineMe: LoadRequest = { path: '/users/me', bearerTokens: [options.baselineMeToken] }
  // Cycled in order through more tokens than the cache holds: every lookup misses (LRU).
  const uncachedMe: LoadRequest = { path: '/users/me', bearerTokens: options.uncachedMeTokens }
  const ping: LoadRequest = { path: '/health/live' }
  const asAdmin = { bearerTokens: [options.adminToken] }
  const { seeded } = options
  return [
    { name: 'baseline-ping', server: 'node', request: ping },
    { name: 'baseline-me', server: 'node', request: baselineMe },
    { name: 'fastify-ping', server: 'fastify', request: ping },
    { name: 'fastify-me', server: 'fastify', request: baselineMe },
    { name: 'live', server: 'api', request: ping },
    { name: 'me', server: 'api', request: me },
    { name: 'me-uncached', server: 'api', request: uncachedMe },
    { name: 'me-nocache', server: 'api-nocache', request: me },
    {
      name: 'user-by-id',
      server: 'api',
      request: { path: `/users/${seeded.someUserId}`, ...asAdmin },
    },
    { name: 'users-first', server: 'api', request: { path: '/users?limit=20', ...asAdmin } },
    {
      name: 'users-deep',
      server: 'api',
      request: { path: `/users?limit=20&cursor=${options.deepCursor ?? ''}`, ...asAdmin },
    },
    {
      name: 'login',
      server: 'api',
      allCores: true,
      minimumSeconds: 10,
      request: {
        method: 'POST',
        path: '/auth/login',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: seeded.login.email, password: seeded.login.password }),
        steadyState: true,
      },
    },
  ]
}

/** `GET /users?cursor=…` without the cursor's value, for the report. */
export const describeRequest = (request: LoadRequest) =>
  `${request.method ?? 'GET'} ${request.path.replace(/cursor=[^&]+/, 'cursor=…')}`

const figure = (value: number | null, digits: number) =>
  value === null ? '?' : value.toFixed(digits)

/** One line per measured run on stderr, as the bench goes. */
export function describeRun(run: MeasuredRun): string {
  return (
    `${run.requestsPerSecond.toFixed(1)} req/s, p50 ${run.p50Ms.toFixed(2)} ms, ` +
    `p99 ${run.p99Ms.toFixed(2)} ms, peak RSS ${(run.peakRssBytes / 1024 / 1024).toFixed(1)} MB, ` +
    `non-2xx ${run.non2xx}, errors ${run.errors}; CPU cores: wrk ${figure(run.generatorCores, 2)}, ` +
    `server ${figure(run.serverCores, 2)}, machine ${figure(run.machineBusyCores, 2)}`
  )
}

/** Measures one run of `scenario` and adds it to its result in `results`. */
export async function runHttpScenario(options: {
  scenario: HttpScenario
  server: ChildServer
  generator: LoadGenerator
  pinning: Pinning | null
  seconds: number
  warmupSeconds: number
  results: ScenarioResult[]
  log: (message: string) => void
}): Promise<void> {
  const { scenario, server, pinning } = options
  if (pinning) setAffinity(server.pid, scenario.allCores ? pinning.all : pinning.servers)
  options.log(`${scenario.name}: ${describeRequest(scenario.request)} (${scenario.server})`)
  const run = await measure({
    generator: options.generator,
    server,
    name: scenario.name,
    request: scenario.request,
    seconds: Math.max(options.seconds, scenario.minimumSeconds ?? 0),
    warmupSeconds: options.warmupSeconds,
  })
  options.log(`  ${describeRun(run)}`)
  let result = options.results.find((r) => r.name === scenario.name)
  if (result === undefined) {
    result = {
      name: scenario.name,
      server: scenario.server,
      request: describeRequest(scenario.request),
      runs: [],
    }
    options.results.push(result)
  }
  result.runs.push(run)
}
