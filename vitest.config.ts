import { Socket } from 'node:net'
import { defineConfig } from 'vitest/config'

/**
 * `npm test` runs the unit tests once and the integration suite twice: on embedded PGlite
 * and on a PostgreSQL server. The server is TEST_DATABASE_URL, or the local one when it
 * answers; in CI (CI=true) a missing server is an error, never a silent skip.
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

async function requireService(name: string, url: string): Promise<boolean> {
  if (await reachable(url)) return true
  if (process.env.CI) throw new Error(`${name} is not reachable at ${url}; CI needs it`)
  console.warn(`\n  ${name} is not reachable at ${url}: tests that need it are not run.\n`)
  return false
}

const hasPostgres = await requireService('PostgreSQL', postgresUrl)
const hasRedis = await requireService('Redis', redisUrl)
const sharedEnv: Record<string, string> = hasRedis ? { TEST_REDIS_URL: redisUrl } : {}
const integration = ['test/integration/**/*.test.ts']

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: sharedEnv,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'pglite',
          include: integration,
          globalSetup: ['test/helpers/pglite-template.ts'],
        },
      },
      // The browser test runs once: it proves the pages, not the database.
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
      ...(hasPostgres
        ? [
            {
              extends: true as const,
              test: {
                name: 'postgres',
                include: integration,
                env: { ...sharedEnv, TEST_DATABASE_URL: postgresUrl },
              },
            },
          ]
        : []),
    ],
  },
})
