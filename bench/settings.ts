import { availableParallelism } from 'node:os'

/** Every scenario `npm run bench` knows, in the order each run goes through them. */
export const ALL_SCENARIOS = [
  'embedded-idle',
  'baseline-ping',
  'baseline-me',
  'fastify-ping',
  'fastify-me',
  'live',
  'me',
  'me-uncached',
  'me-nocache',
  'user-by-id',
  'users-first',
  'users-deep',
  'bcrypt-ceiling',
  'login',
  'scale',
  'cleanup',
] as const
export type ScenarioName = (typeof ALL_SCENARIOS)[number]

export interface BenchSettings {
  /** BENCH_QUICK: every scenario once and briefly, for working on the bench itself. */
  quick: boolean
  /** Runs of every scenario (the cleanup, which consumes its data, runs once). */
  runs: number
  /** Seconds of measured load per scenario (after the warm-up); whole seconds for wrk. */
  durationSeconds: number
  warmupSeconds: number
  connections: number
  /** wrk threads (one event loop each). */
  wrkThreads: number
  /** Pin wrk to the last core and the servers to the others (taskset). */
  pin: boolean
  scenarios: ReadonlySet<ScenarioName>
  /** Any database on the server: the bench creates and drops its own next to it. */
  serverUrl: string
  /** Users in the 10,000-user database of the HTTP scenarios. */
  users: number
  /** Stale, never-verified users added for the scale and cleanup cases. */
  scaleUsers: number
  /** One-at-a-time requests per page in the scale case. */
  serialRequests: number
  /** Seconds the embedded default is left alone before its RSS is read. */
  idleSeconds: number
  /** Run the API child with `--cpu-prof` (profiles land in bench/results/profiles). */
  profile: boolean
  /** The API's entry point; default dist/server.js, the compiled build the Docker image runs. */
  apiEntry: string
  parallelism: number
}

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`)
  return value
}

const wholeNumber = (name: string, fallback: number) =>
  Math.max(1, Math.round(positiveNumber(name, fallback)))

const flag = (name: string) =>
  ['1', 'true', 'yes', 'on'].includes((process.env[name] ?? '').trim().toLowerCase())

function scenarios(raw: string | undefined): ReadonlySet<ScenarioName> {
  if (raw === undefined || raw.trim() === '' || raw.trim() === 'all') return new Set(ALL_SCENARIOS)
  const names = raw.split(',').map((name) => name.trim())
  const unknown = names.filter((name) => !(ALL_SCENARIOS as readonly string[]).includes(name))
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_SCENARIOS: unknown ${unknown.join(', ')}; known: ${ALL_SCENARIOS.join(', ')}`,
    )
  }
  return new Set(names as ScenarioName[])
}

/** The bench's knobs; only bench code reads them, so they live outside src/core/config.ts. */
export function loadBenchSettings(): BenchSettings {
  const quick = flag('BENCH_QUICK')
  return {
    quick,
    runs: wholeNumber('BENCH_RUNS', quick ? 1 : 3),
    durationSeconds: wholeNumber('BENCH_DURATION', quick ? 2 : 10),
    warmupSeconds: wholeNumber('BENCH_WARMUP', quick ? 1 : 3),
    connections: wholeNumber('BENCH_CONNECTIONS', 50),
    wrkThreads: wholeNumber('BENCH_WRK_THREADS', 1),
    pin: flag('BENCH_PIN'),
    scenarios: scenarios(process.env.BENCH_SCENARIOS),
    serverUrl:
      process.env.BENCH_DATABASE_URL ??
      process.env.TEST_DATABASE_URL ??
      'postgres://postgres@127.0.0.1:5432/postgres',
    users: wholeNumber('BENCH_USERS', 10_000),
    scaleUsers: wholeNumber('BENCH_SCALE_USERS', quick ? 50_000 : 1_000_000),
    serialRequests: quick ? 100 : 500,
    idleSeconds: quick ? 2 : 5,
    profile: flag('BENCH_PROFILE'),
    apiEntry: process.env.BENCH_API_ENTRY || 'dist/server.js',
    parallelism: availableParallelism(),
  }
}
