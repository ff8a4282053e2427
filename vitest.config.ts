import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { Socket } from 'node:net'
import { availableParallelism } from 'node:os'
import { configDefaults, defineConfig } from 'vitest/config'

/**
 * `npm test` runs the unit tests once and the integration suite twice: on embedded PGlite
 * and on a PostgreSQL server. The server is TEST_DATABASE_URL, or the local one when it
 * answers. A few test files need more of the machine (Redis, HAProxy, PostgreSQL's server
 * binaries run as root for a private server, Chromium, openssl, promtool): on a newcomer's
 * machine without them those files are left out with a notice; in CI (CI=true) anything
 * missing is an error, never a silent skip.
 */
const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once('error', () => done(false))
    socket.connect(Number(port), hostname.replace(/^\[|\]$/g, ''), () => done(true))
  })
}

function requireCapability(present: boolean, missing: string): boolean {
  if (present) return true
  if (process.env.CI) throw new Error(`${missing}; CI needs it`)
  console.warn(`\n  ${missing}: the tests that need it are not run.\n`)
  return false
}

const requireService = async (name: string, url: string) =>
  requireCapability(await reachable(url), `${name} is not reachable at ${url}`)

/** The outage and shutdown tests start a private server: root (runuser) and initdb needed. */
function canRunPrivatePostgres(): boolean {
  const root = '/usr/lib/postgresql'
  const hasInitdb =
    existsSync(root) && readdirSync(root).some((v) => existsSync(`${root}/${v}/bin/initdb`))
  return hasInitdb && process.getuid?.() === 0
}

const hasPostgres = await requireService('PostgreSQL', postgresUrl)
const hasRedis = await requireService('Redis', redisUrl)
const hasPrivatePostgres = requireCapability(
  canRunPrivatePostgres(),
  'A private PostgreSQL server needs root and /usr/lib/postgresql/*/bin/initdb',
)
const hasChromium = requireCapability(
  existsSync('/usr/bin/chromium'),
  'Chromium is not installed at /usr/bin/chromium (apt-get install chromium)',
)
const hasOpenssl = requireCapability(
  spawnSync('openssl', ['version']).status === 0,
  'openssl is not on the PATH (apt-get install openssl)',
)
const hasHaproxy = requireCapability(
  spawnSync('haproxy', ['-v']).status === 0,
  'haproxy is not on the PATH (apt-get install haproxy)',
)
const hasPromtool = requireCapability(
  spawnSync('promtool', ['--version']).status === 0,
  'promtool is not on the PATH (apt-get install prometheus)',
)
const sharedEnv: Record<string, string> = hasRedis ? { TEST_REDIS_URL: redisUrl } : {}
const integration = ['test/integration/**/*.test.ts']
/**
 * On the postgres project only: tests of the PostgreSQL server itself (roles and rights),
 * and several processes sharing one database (PGlite is one process).
 */
const serverOnly = [
  'test/integration/auth-cache-listener.test.ts',
  'test/integration/cli-keys-notify.test.ts',
  'test/integration/database-role.test.ts',
  'test/integration/multi-instance.test.ts',
]
/** On the pglite project only: a process working on an embedded database of its own. */
const embeddedOnly = ['test/integration/cli-keys.test.ts']
const exclude = [
  ...configDefaults.exclude,
  ...(hasRedis
    ? []
    : ['test/integration/rate-limit.test.ts', 'test/integration/login-throttle.test.ts']),
  ...(hasPrivatePostgres
    ? []
    : ['test/integration/outage.test.ts', 'test/integration/shutdown.test.ts']),
  ...(hasOpenssl ? [] : ['test/integration/jwks-openssl.test.ts']),
  ...(hasRedis && hasHaproxy ? [] : ['test/integration/multi-instance.test.ts']),
  ...(hasPromtool ? [] : ['test/unit/monitoring-config.test.ts']),
]

export default defineConfig({
  test: {
    // One test file per core. Vitest's default (cores - 1) runs one file at a time on a
    // 2-core machine, while most files wait on child processes, database servers and
    // timers: one pass on Node 20 there took 11 min 7 s with 1 worker, 8 min 30 s with 2.
    maxWorkers: Math.max(availableParallelism(), 2),
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: sharedEnv,
    exclude,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'pglite',
          include: integration,
          // The fuzz run measures the server's memory: on PostgreSQL when there is one
          // (PGlite's own heap swings by hundreds of MB), and once, for time.
          exclude: [
            ...exclude,
            ...serverOnly,
            ...(hasPostgres ? ['test/integration/hostile-bodies-fuzz.test.ts'] : []),
          ],
          globalSetup: ['test/helpers/pglite-template.ts'],
        },
      },
      // The browser test runs once: it proves the pages, not the database.
      ...(hasChromium
        ? [{ extends: true as const, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } }]
        : []),
      ...(hasPostgres
        ? [
            {
              extends: true as const,
              test: {
                name: 'postgres',
                include: integration,
                exclude: [...exclude, ...embeddedOnly],
                env: { ...sharedEnv, TEST_DATABASE_URL: postgresUrl },
              },
            },
          ]
        : []),
    ],
  },
})
