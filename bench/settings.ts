import { availableParallelism } from 'node:os'

/** Every scenario `npm run bench` knows, in the order it runs them. */
export const ALL_SCENARIOS = [
  'bcrypt-ceiling',
  'baseline-me',
  'me',
  'user-by-id',
  'users-first',
  'users-deep',
  'login',
  'scale',
  'cleanup',
] as const
export type ScenarioName = (typeof ALL_SCENARIOS)[number]

export interface BenchSettings {
  /** Seconds of measured load per scenario (after the warm-up). */
  durationSeconds: number
  warmupSeconds: number
  connections: number
  scenarios: ReadonlySet<ScenarioName>
  /** Any database on the server: the bench creates and drops its own next to it. */
  serverUrl: string
  /** Users in the 10,000-user database of the HTTP scenarios. */
  users: number
  /** Stale, never-verified users added for the scale and cleanup cases. */
  scaleUsers: number
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
  return {
    durationSeconds: positiveNumber('BENCH_DURATION', 10),
    warmupSeconds: positiveNumber('BENCH_WARMUP', 3),
    connections: Math.round(positiveNumber('BENCH_CONNECTIONS', 50)),
    scenarios: scenarios(process.env.BENCH_SCENARIOS),
    serverUrl:
      process.env.BENCH_DATABASE_URL ??
      process.env.TEST_DATABASE_URL ??
      'postgres://postgres@127.0.0.1:5432/postgres',
    users: Math.round(positiveNumber('BENCH_USERS', 10_000)),
    scaleUsers: Math.round(positiveNumber('BENCH_SCALE_USERS', 1_000_000)),
    profile: ['1', 'true', 'yes'].includes((process.env.BENCH_PROFILE ?? '').toLowerCase()),
    apiEntry: process.env.BENCH_API_ENTRY || 'dist/server.js',
    parallelism: availableParallelism(),
  }
}
