import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { signAccessToken, type TokenSigner } from '../src/core/access-tokens.js'
import { systemClock } from '../src/core/clock.js'
import { loadConfig } from '../src/core/config.js'
import { keysFor } from '../src/core/keys.js'
import type { Role } from '../src/core/security.js'
import { createDatabase } from '../src/db/client.js'
import { createKeyServices } from '../src/services/index.js'
import { type ChildServer, startServer } from './processes.js'

/** A fixed-per-run key shared by the API, the baseline and the tokens the bench signs. */
export const benchSecretKey = () => randomBytes(32).toString('hex')

/** The node flags of `npm run start:prod`, so the bench measures what production runs. */
function productionNodeFlags(): string {
  const script: string = JSON.parse(readFileSync('package.json', 'utf8')).scripts['start:prod']
  return /node (.*?)\s*dist\/server\.js/.exec(script)?.[1] ?? ''
}

/** The environment `npm run start:prod` sets before `exec node` (MALLOC_ARENA_MAX=2). */
function productionEnv(): Record<string, string> {
  const script: string = JSON.parse(readFileSync('package.json', 'utf8')).scripts['start:prod']
  const assignments = /^((?:\w+=\S*\s+)*)exec\b/.exec(script)?.[1] ?? ''
  return Object.fromEntries(
    assignments
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  )
}

/**
 * The API as production runs it (`npm run start:prod`: its environment and node flags, dist/server.js), on the bench
 * database, with rate limits, both login throttles and the scheduler off, logging at warn.
 */
export function startApi(options: {
  databaseUrl: string
  secretKey: string
  profileDir?: string
  /** A compiled `server.js` to measure instead (BENCH_API_ENTRY); run without tsx. */
  entry?: string
  /** Settings over the bench's (bench/cpu-cost.ts: rate limits on, Redis). */
  env?: Record<string, string>
}): Promise<ChildServer> {
  return startServer({
    name: 'api',
    entry: options.entry ?? 'src/server.ts',
    nodeArgs: [
      ...(process.env.BENCH_API_NODE_ARGS ?? productionNodeFlags()).split(' ').filter(Boolean),
      ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []),
    ],
    env: {
      ...productionEnv(),
      NODE_ENV: 'production',
      DATABASE_URL: options.databaseUrl,
      SECRET_KEY: options.secretKey,
      BCRYPT_ROUNDS: '12',
      // The scenarios send no e-mail; production wants the log transport said out loud.
      MAIL_TRANSPORT: 'log',
      RATE_LIMIT_MAX: '0',
      LOGIN_MAX_FAILURES: '0',
      LOGIN_ACCOUNT_MAX_FAILURES: '0',
      RUN_SCHEDULER: 'false',
      LOG_LEVEL: 'warn',
      ...options.env,
    },
  })
}

/** The floors on the same database and key: bare node:http, or plain Fastify. */
export function startBaseline(
  kind: 'node' | 'fastify',
  options: { databaseUrl: string; secretKey: string },
): Promise<ChildServer> {
  return startServer({
    name: kind,
    entry: kind === 'node' ? 'bench/baseline.ts' : 'bench/fastify-baseline.ts',
    env: { DATABASE_URL: options.databaseUrl, SECRET_KEY: options.secretKey },
  })
}

/** The HS256 key of the floors (bench/bare-users-me.ts): derived as the API derives it. */
export const baselineSigner = (secretKey: string): TokenSigner => ({
  algorithm: 'HS256',
  key: keysFor(secretKey).accessToken,
})

/**
 * The API's current signing key. The bench creates the keys (JWT_ALGORITHM's default) in
 * the bench database before the API starts, which then finds and uses them: the tokens
 * signed here are the API's own.
 */
export async function apiSigner(databaseUrl: string, secretKey: string): Promise<TokenSigner> {
  const config = loadConfig({ SECRET_KEY: secretKey, DATABASE_URL: databaseUrl })
  const database = await createDatabase({ databaseUrl, pglitePath: null, poolMax: 1 })
  try {
    const { signingKeys, keyStore } = createKeyServices({ config, database, clock: systemClock })
    await signingKeys.ensureKeys()
    await keyStore.reload()
    return keyStore.signer()
  } finally {
    await database.close()
  }
}

/**
 * An access token of the seeded session of `user`, signed by `signer` the way the API signs
 * them; valid for two hours.
 */
export function accessToken(
  signer: TokenSigner,
  user: { id: string; role: Role; sessionId: string },
): string {
  const defaults = loadConfig({})
  const { token } = signAccessToken(
    { issuer: defaults.jwtIssuer, audience: defaults.jwtAudience, ttlMs: 2 * 3_600_000 },
    signer,
    user,
    Math.floor(Date.now() / 1000),
  )
  return token
}

/** What `npm start` runs (`[exec] node <args> <entry>`): node's arguments and the entry. */
export function npmStartCommand(): { nodeArgs: string[]; entry: string } {
  const script: string = JSON.parse(readFileSync('package.json', 'utf8')).scripts.start
  const words = script
    .replace(/^exec\s+/, '')
    .trim()
    .split(/\s+/)
  const entry = words.at(-1) ?? ''
  if (words[0] !== 'node' || !/\.(js|ts)$/.test(entry)) {
    throw new Error(`npm start is not "node <args> <entry>": ${script}`)
  }
  return { nodeArgs: words.slice(1, -1), entry }
}
