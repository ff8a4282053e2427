import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { isMainThread } from 'node:worker_threads'
import { sql } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import pg from 'pg'
import { StartupError } from '../core/errors.js'
import { ensurePrivateDirectory, restrictTree } from '../core/private-files.js'
import * as schema from './schema.js'

type Schema = typeof schema
/** Both drivers' Drizzle instances, and their transactions, fit this type. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** The pg pool (server only): migrations and advisory locks need one pinned connection. */
  pool: pg.Pool | null
  /** Runs `select 1`; rejects when the database does not answer within `timeoutMs`. */
  ping(timeoutMs: number): Promise<void>
  /**
   * LISTENs on `channel` (a plain lower-case identifier): `onNotify` gets each payload
   * NOTIFYed there by any process once its transaction commits. On a server this holds a
   * connection of its own; `onLost` is called if it drops (listen again to resume).
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onLost: (error: Error) => void,
  ): Promise<Listening>
  close(): Promise<void>
}

/** A LISTEN in place. */
export interface Listening {
  /**
   * One `select 1` on the listening session. PostgreSQL hands a listener the notifications
   * of every transaction committed before it reads a query ahead of that query's answer,
   * so once this resolves `onNotify` has seen every change committed before it was called.
   * Rejects when the answer takes longer than `timeoutMs`.
   */
  roundTrip(timeoutMs: number): Promise<void>
  stop(): Promise<void>
}

const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/

function checkChannel(channel: string) {
  if (!CHANNEL_NAME.test(channel)) throw new Error(`not a channel name: ${channel}`)
}

export interface DatabaseOptions {
  /** `postgres://…` for a server; null for embedded PGlite. */
  databaseUrl: string | null
  /** PGlite's data directory; null keeps it in memory (tests). */
  pglitePath: string | null
  /** A `dumpDataDir()` tarball to start an in-memory PGlite from (skips initdb in tests). */
  pgliteTemplate?: Blob
  poolMax?: number
  onPoolError?: (error: Error) => void
  /**
   * Called with the text of every statement Drizzle sends (prepared ones at each
   * execution): how the tests count a request's round trips to the database.
   */
  onQuery?: (query: string) => void
}

/** Drizzle's logger option, when someone listens. */
const queryLogger = (onQuery: DatabaseOptions['onQuery']) =>
  onQuery === undefined ? {} : { logger: { logQuery: (query: string) => onQuery(query) } }

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl === null
    ? openPglite(options.pglitePath, options.pgliteTemplate, options.onQuery)
    : openPostgres(options.databaseUrl, options)
}

function openPostgres(url: string, options: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolMax ?? 10,
    // Fail fast during an outage instead of queueing requests forever.
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
  })
  // An idle client losing its server emits here; without a listener the process dies.
  pool.on('error', (error) => options.onPoolError?.(error))
  const db = drizzleNodePg(pool, { schema, ...queryLogger(options.onQuery) })
  return {
    db,
    kind: 'postgres',
    pool,
    ping: (timeoutMs) => withTimeout(db.execute(sql`select 1`), timeoutMs),
    listen: (channel, onNotify, onLost) => listenOnServer(url, channel, onNotify, onLost),
    close: () => pool.end(),
  }
}

/** `Listening.roundTrip` on a listening session of either driver. */
const roundTripOn =
  (client: { query(text: string): Promise<unknown> }) =>
  (timeoutMs: number): Promise<void> =>
    withTimeout(client.query('select 1'), timeoutMs)

/** The application_name of the connection listening on `channel`. */
export const listenerName = (channel: string) => `coffee-shop listen ${channel}`

/** A dedicated connection: a pooled one would stop listening when it goes back to the pool. */
async function listenOnServer(
  url: string,
  channel: string,
  onNotify: (payload: string) => void,
  onLost: (error: Error) => void,
): Promise<Listening> {
  checkChannel(channel)
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 3_000,
    // Names the connection in pg_stat_activity, for operators (and the tests that cut it).
    application_name: listenerName(channel),
  })
  let stopping = false
  const lost = (error: Error) => {
    if (stopping) return
    stopping = true
    client.end().catch(() => {})
    onLost(error)
  }
  client.on('notification', (message) => {
    if (message.channel === channel) onNotify(message.payload ?? '')
  })
  client.on('error', lost)
  client.on('end', () => lost(new Error('listening connection closed')))
  try {
    await client.connect()
    await client.query(`listen ${channel}`)
  } catch (error) {
    stopping = true
    await client.end().catch(() => {})
    throw error
  }
  return {
    roundTrip: roundTripOn(client),
    async stop() {
      stopping = true
      await client.end()
    },
  }
}

async function openPglite(
  path: string | null,
  template?: Blob,
  onQuery?: DatabaseOptions['onQuery'],
): Promise<Database> {
  if (path !== null) makeDataFolderPrivate(path)
  const releaseLock = path === null ? () => {} : lockDataDirectory(path)
  try {
    // Loaded only when used: on a PostgreSQL server the embedded engine would cost RAM.
    const [{ PGlite }, { drizzle: drizzlePglite }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('drizzle-orm/pglite'),
    ])
    const client =
      path !== null
        ? await openPgliteFolder(PGlite, path)
        : new PGlite(template ? { loadDataDir: template } : {})
    await client.waitReady
    // PGlite unpacks its files 0666 and rewrites a few at each start: tighten after opening.
    if (path !== null) restrictTree(path)
    const db = drizzlePglite(client, { schema, ...queryLogger(onQuery) })
    return {
      db,
      kind: 'pglite',
      pool: null,
      ping: (timeoutMs) => withTimeout(db.execute(sql`select 1`), timeoutMs),
      // One PGlite instance is one session in this process: its notifications stay here.
      async listen(channel, onNotify) {
        checkChannel(channel)
        const unlisten = await client.listen(channel, onNotify)
        return {
          roundTrip: roundTripOn(client),
          async stop() {
            if (!client.closed) await unlisten()
          },
        }
      },
      async close() {
        await client.close()
        releaseLock()
      },
    }
  } catch (error) {
    releaseLock()
    throw error
  }
}

/**
 * PostgreSQL's default 128 MB of shared buffers live in PGlite's WASM memory, and the
 * embedded database's pages are touched into it: 16 MB cut the idle RSS of `npm start` by
 * about 130 MB (docs/benchmark.md). Reads beyond it come from the files (the OS caches them).
 */
const PGLITE_SHARED_BUFFERS = '16MB'

/** The folder's postgresql.conf with our shared_buffers; the rest as initdb wrote it. */
function pgliteConf(path: string): string {
  const setting = `shared_buffers = ${PGLITE_SHARED_BUFFERS}`
  const conf = readFileSync(join(path, 'postgresql.conf'), 'utf8')
  return /^shared_buffers\s*=.*$/m.test(conf)
    ? conf.replace(/^shared_buffers\s*=.*$/m, setting)
    : `${conf}\n${setting}\n`
}

/**
 * A PGlite on `path`. On an empty folder initdb runs first, in a WASM instance of its own
 * that PGlite keeps until closed (about 370 MB resident): that first instance is closed
 * and the database opened again, as on every later start.
 */
async function openPgliteFolder(
  PGlite: typeof import('@electric-sql/pglite').PGlite,
  path: string,
) {
  if (!existsSync(join(path, 'PG_VERSION'))) {
    const creating = new PGlite(path)
    await creating.waitReady
    await creating.close()
  }
  return new PGlite(path, { postgresqlconf: pgliteConf(path) })
}

/**
 * The embedded database holds e-mails and password hashes: the data folder and the
 * database folder are the owner's alone (an existing folder is tightened too), and so is
 * anything the process creates from now on.
 */
function makeDataFolderPrivate(path: string) {
  // Worker threads cannot change the umask; the folder modes alone still keep others out.
  if (isMainThread) process.umask(0o077)
  ensurePrivateDirectory(dirname(path))
  ensurePrivateDirectory(path)
}

/**
 * PGlite is a single-process database: two processes opening one directory corrupt it.
 * A pid file makes the second one stop with a clear message instead.
 */
function lockDataDirectory(path: string): () => void {
  const lockFile = join(path, '..', `${path.split('/').pop()}.pid`)
  if (existsSync(lockFile)) {
    const holder = Number(readFileSync(lockFile, 'utf8'))
    if (holder !== process.pid && isRunning(holder)) {
      throw new StartupError(
        `The embedded database in ${path} is in use by process ${holder}. ` +
          'Stop that process, or set DATABASE_URL to share a PostgreSQL server between processes.',
      )
    }
  }
  writeFileSync(lockFile, String(process.pid), { mode: 0o600 })
  return () => rmSync(lockFile, { force: true })
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function withTimeout(promise: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`database did not answer within ${timeoutMs}ms`)),
      timeoutMs,
    )
  })
  try {
    await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
