import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { inArray } from 'drizzle-orm'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { signingKeys, users } from '../../src/db/schema.js'
import { TEST_SECRET } from '../helpers/app.js'
import {
  type Answer,
  type CallOptions,
  type Cluster,
  callCluster,
  startCluster,
} from '../helpers/cluster.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { makeUser, NEW_PASSWORD, PASSWORD, uniqueEmail } from '../helpers/factories.js'

/**
 * Scale-out, end to end (PostgreSQL server and Redis; vitest.config.ts runs it on the
 * postgres project only): three API processes and the worker on one database and one
 * Redis, behind HAProxy, driven through the balancer. Round-robin sends consecutive
 * requests to api1, api2, api3 in turn; HAProxy names the one that answered in
 * `X-Served-By`.
 */
const INSTANCES = 3
const RATE_LIMIT_MAX = 12
const LOGIN_MAX_FAILURES = 3
const CLEANUP_INTERVAL_MS = 2_000
const KEY_REFRESH_INTERVAL_MS = 5_000
/** A busy machine's margin on top of KEY_REFRESH_INTERVAL. */
const SLACK_MS = 5_000

let testDb: TestDatabase
let cluster: Cluster
let env: Record<string, string>

beforeAll(async () => {
  const redisUrl = process.env.TEST_REDIS_URL
  if (!redisUrl) throw new Error('TEST_REDIS_URL is unset: vitest.config.ts should not run this')
  testDb = await createTestDatabase()
  env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    SECRET_KEY: TEST_SECRET,
    DATABASE_URL: testDb.url ?? '',
    REDIS_URL: redisUrl,
    // Its own keys: other test files share this Redis.
    REDIS_KEY_PREFIX: `coffee-multi-${Date.now()}:`,
    SMTP_URL: '',
    BCRYPT_ROUNDS: '4',
    // HAProxy appends the address it saw; the test plays clients behind it with X-Forwarded-For.
    TRUST_PROXY: 'loopback',
    RATE_LIMIT_MAX: String(RATE_LIMIT_MAX),
    AUTH_RATE_LIMIT_MAX: '0',
    LOGIN_MAX_FAILURES: String(LOGIN_MAX_FAILURES),
    REFRESH_REUSE_GRACE: '0s',
    RUN_SCHEDULER: 'true',
    CLEANUP_INTERVAL: `${CLEANUP_INTERVAL_MS / 1000}s`,
    KEY_REFRESH_INTERVAL: `${KEY_REFRESH_INTERVAL_MS / 1000}s`,
    FIRST_ADMIN_EMAIL: '',
    FIRST_ADMIN_PASSWORD: '',
  }
  cluster = await startCluster(env, INSTANCES)
}, 180_000)

afterAll(async () => {
  await cluster?.stop()
  await testDb?.drop()
})

/** A request through the balancer (or to `base`), from a client address of its own. */
const call = (method: string, path: string, options: CallOptions = {}) =>
  callCluster(cluster, method, path, options)

const login = async (email: string, password = PASSWORD) => {
  const answer = await call('POST', '/v1/auth/login', { body: { email, password } })
  expect(answer.status).toBe(200)
  return answer.body as { access_token: string; refresh_token: string }
}

/** The same request once per instance (round-robin): what each answered, and who. */
async function onEach(request: () => Promise<Answer>) {
  const answers: Answer[] = []
  for (let i = 0; i < INSTANCES; i++) answers.push(await request())
  expect(new Set(answers.map((a) => a.servedBy))).toEqual(new Set(['api1', 'api2', 'api3']))
  return answers.map((a) => a.status)
}
const meOnEach = (token: string) => onEach(() => call('GET', '/v1/users/me', { token }))

describe('three instances behind HAProxy', () => {
  it("accepts docker-compose.scale.yml's HAProxy config (haproxy -c)", async () => {
    const check = await promisify(execFile)('haproxy', ['-c', '-f', 'docker/haproxy/haproxy.cfg'])
    expect(check.stdout.trim()).toBe('Configuration file is valid')
  })

  it('a login refreshes on another instance, a replay on a third is reuse, a logout holds everywhere', async () => {
    const user = await makeUser(testDb.database.db)
    const first = await call('POST', '/v1/auth/login', {
      body: { email: user.email, password: PASSWORD },
    })
    const tokens = first.body as { refresh_token: string }
    const refreshed = await call('POST', '/v1/auth/refresh', {
      body: { refresh_token: tokens.refresh_token },
    })
    expect(refreshed.status).toBe(200)
    const replay = await call('POST', '/v1/auth/refresh', {
      body: { refresh_token: tokens.refresh_token },
    })
    expect(replay.status).toBe(401)
    expect(new Set([first.servedBy, refreshed.servedBy, replay.servedBy]).size).toBe(3)
    // The third instance recognised the spent token and ended the session.
    const reuse = await cluster.apis[replay.servedBy]?.waitForLog(
      (r) => r.event === 'refresh_token_reuse' && r.userId === user.id,
      10_000,
    )
    expect(reuse).toMatchObject({ familyId: expect.any(String) })
    const renewed = refreshed.body as { access_token: string; refresh_token: string }
    expect(await meOnEach(renewed.access_token)).toEqual([401, 401, 401])
    const again = await call('POST', '/v1/auth/refresh', {
      body: { refresh_token: renewed.refresh_token },
    })
    expect(again.status).toBe(401)

    const session = await login(user.email)
    expect(await meOnEach(session.access_token)).toEqual([200, 200, 200])
    const logout = await call('POST', '/v1/auth/logout', {
      body: { refresh_token: session.refresh_token },
    })
    expect(logout.status).toBe(204)
    expect(await meOnEach(session.access_token)).toEqual([401, 401, 401])
    const afterLogout = await onEach(() =>
      call('POST', '/v1/auth/refresh', { body: { refresh_token: session.refresh_token } }),
    )
    expect(afterLogout).toEqual([401, 401, 401])
  })

  it('counts the rate limit and the login throttle across instances (Redis)', async () => {
    const client = '10.99.0.1'
    const statuses: number[] = []
    const servedBy = new Set<string>()
    for (let i = 0; i < RATE_LIMIT_MAX; i++) {
      const answer = await call('GET', '/.well-known/jwks.json', { client })
      statuses.push(answer.status)
      servedBy.add(answer.servedBy)
    }
    expect(statuses).toEqual(Array(RATE_LIMIT_MAX).fill(200))
    expect(servedBy.size).toBe(3) // each instance saw a third: alone, none would refuse
    const over = await call('GET', '/.well-known/jwks.json', { client })
    expect(over.status).toBe(429)
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0)

    const user = await makeUser(testDb.database.db)
    const guesser = '10.99.0.2'
    const attempt = (password: string) =>
      call('POST', '/v1/auth/login', { body: { email: user.email, password }, client: guesser })
    const failures = await onEach(() => attempt('not the password at all'))
    expect(failures).toEqual(Array(LOGIN_MAX_FAILURES).fill(401))
    // One failure per instance so far; the throttle counts all three.
    const throttled = await attempt(PASSWORD)
    expect(throttled.status).toBe(429)
    expect(throttled.body.code).toBe('rate_limited')
  })

  it('a deactivation or password change through one instance is refused by the others', async () => {
    const db = testDb.database.db
    const admin = await makeUser(db, { role: 'admin' })
    const adminToken = (await login(admin.email)).access_token
    const deactivated = await makeUser(db)
    const token = (await login(deactivated.email)).access_token
    expect(await meOnEach(token)).toEqual([200, 200, 200])
    const patch = await call('PATCH', `/v1/users/${deactivated.id}`, {
      token: adminToken,
      body: { is_active: false },
    })
    expect(patch.status).toBe(200)
    expect(await meOnEach(token)).toEqual([401, 401, 401])

    const changer = await makeUser(db)
    const before = await login(changer.email)
    expect(await meOnEach(before.access_token)).toEqual([200, 200, 200])
    const change = await call('PATCH', `/v1/users/${changer.id}`, {
      token: before.access_token,
      body: { password: NEW_PASSWORD, current_password: PASSWORD },
    })
    expect(change.status).toBe(200)
    expect(await meOnEach(before.access_token)).toEqual([401, 401, 401])
    const refresh = await call('POST', '/v1/auth/refresh', {
      body: { refresh_token: before.refresh_token },
    })
    expect(refresh.status).toBe(401)
    expect(await meOnEach((await login(changer.email, NEW_PASSWORD)).access_token)).toEqual([
      200, 200, 200,
    ])
  })

  it(`signs with keys rotated by the CLI everywhere within KEY_REFRESH_INTERVAL, and every JWKS agrees`, async () => {
    const db = testDb.database.db
    const user = await makeUser(db)
    const oldToken = (await login(user.email)).access_token
    const stateOf = async () =>
      Object.fromEntries((await db.select().from(signingKeys)).map((k) => [k.state, k.kid]))
    const before = await stateOf()
    const cli = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'keys', 'rotate'],
      { env: { ...process.env, ...env } },
    )
    expect(cli.stdout).toMatch(/^rotated: /)
    const after = await stateOf()
    expect(after.current).toBe(before.next)
    expect(after.retired).toBe(before.current)

    await vi.waitFor(
      async () => {
        const kids: string[] = []
        const servedBy = new Set<string>()
        for (let i = 0; i < INSTANCES; i++) {
          const answer = await call('POST', '/v1/auth/login', {
            body: { email: user.email, password: PASSWORD },
          })
          kids.push(String(decodeProtectedHeader(String(answer.body.access_token)).kid))
          servedBy.add(answer.servedBy)
        }
        expect(servedBy.size).toBe(3)
        expect(kids).toEqual([after.current, after.current, after.current])
      },
      { timeout: KEY_REFRESH_INTERVAL_MS + SLACK_MS, interval: 200 },
    )
    const published = [after.retired, after.current, after.next].sort()
    for (const [name, base] of Object.entries(cluster.direct)) {
      const jwks = await call('GET', '/.well-known/jwks.json', { base })
      const kids = (jwks.body.keys as { kid: string }[]).map((key) => key.kid).sort()
      expect(kids, name).toEqual(published)
    }
    // Tokens of the retired key stay good on every instance until they expire.
    expect(await meOnEach(oldToken)).toEqual([200, 200, 200])
  })

  it('runs the cleanup once per CLEANUP_INTERVAL in total, not once per process', async () => {
    const processes = { ...cluster.apis, worker: cluster.worker }
    const rounds = () =>
      Object.values(processes)
        .flatMap((p) => p.records.filter((r) => typeof r.durationMs === 'number'))
        .map((r) => Date.parse(String(r.startedAt)))
        .sort((a, b) => a - b)
    await vi.waitFor(() => expect(rounds().length).toBeGreaterThan(3), {
      timeout: 6 * CLEANUP_INTERVAL_MS + SLACK_MS,
      interval: 100,
    })
    const starts = rounds()
    const gaps = starts.slice(1).map((start, i) => start - (starts[i] ?? 0))
    expect(gaps.filter((gap) => gap < CLEANUP_INTERVAL_MS)).toEqual([])
    // Every process tried on its own timer (a round or "not due"), yet the rounds stay apart.
    const attempted = (r: Record<string, unknown>) =>
      typeof r.durationMs === 'number' || String(r.msg).startsWith('cleanup not due')
    const idle = Object.entries(processes).filter(([, p]) => !p.records.some(attempted))
    expect(idle.map(([name]) => name)).toEqual([])
  })

  it('loses no answered write when an instance is killed mid-load; HAProxy takes it out', async () => {
    const written: string[] = []
    const answers: { status: number; servedBy: string; afterDown: boolean }[] = []
    let down = false
    let stop = false
    const writer = async () => {
      while (!stop) {
        const email = uniqueEmail('load')
        // Whether HAProxy had taken the instance out when this request was sent.
        const afterDown = down
        const answer = await call('POST', '/v1/auth/signup', {
          body: { email, password: PASSWORD },
        }).catch((error: Error) => ({ status: 0, servedBy: String(error.cause ?? error) }))
        answers.push({ status: answer.status, servedBy: answer.servedBy, afterDown })
        if (answer.status === 201) written.push(email)
      }
    }
    const load = Promise.all(Array.from({ length: 4 }, writer))
    await vi.waitFor(() => expect(written.length).toBeGreaterThan(20), { timeout: 30_000 })
    const victim = cluster.apis.api2
    victim?.child.kill('SIGKILL')
    expect((await victim?.exited)?.signal).toBe('SIGKILL')
    await vi.waitFor(async () => expect((await cluster.serverStatus()).api2).toMatch(/^DOWN/), {
      timeout: 15_000,
      interval: 50,
    })
    down = true
    await vi.waitFor(() => expect(answers.filter((a) => a.afterDown).length).toBeGreaterThan(20), {
      timeout: 30_000,
    })
    stop = true
    await load

    // Once HAProxy marked it down, every write was answered, by the two left.
    const afterDown = answers.filter((a) => a.afterDown)
    expect(afterDown.filter((a) => a.status !== 201)).toEqual([])
    expect(new Set(afterDown.map((a) => a.servedBy))).toEqual(new Set(['api1', 'api3']))
    // Every write answered 201, before or after the kill, is in the database.
    const stored = await testDb.database.db
      .select({ email: users.email })
      .from(users)
      .where(inArray(users.email, written))
    expect(stored.map((row) => row.email).sort()).toEqual([...written].sort())
    // The only other outcomes: the requests in flight on the killed instance, which HAProxy
    // answers 502 or, on a reused connection, closes unanswered (the client may not assume
    // either way; neither counts as written).
    const unanswered = answers.filter((a) => a.status !== 201)
    expect(
      unanswered.filter((a) => a.status !== 502 && a.servedBy !== 'SocketError: other side closed'),
    ).toEqual([])
  })
})
