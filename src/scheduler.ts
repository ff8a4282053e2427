import { drizzle } from 'drizzle-orm/node-postgres'
import type { Logger } from 'pino'
import type { Clock } from './core/clock.js'
import type { Config } from './core/config.js'
import type { Database, Db } from './db/client.js'
import { databaseMessage } from './db/errors.js'
import * as schema from './db/schema.js'
import { type CleanupDeps, type CleanupResult, createCleanupService } from './services/cleanup.js'
import type { SigningKeysService } from './services/signing-keys.js'

/** Any constant works; it only has to be the same in every process (migrations use ...001). */
export const CLEANUP_LOCK_KEY = 4_106_731_002

export type CleanupOutcome = ({ status: 'ran' } & CleanupResult) | { status: 'skipped' }

export interface SchedulerDeps {
  database: Database
  config: Pick<Config, 'unverifiedUserTtlMs' | 'cleanupIntervalMs'>
  clock: Clock
  logger: Pick<Logger, 'info' | 'error'>
  /**
   * Rotated when SIGNING_KEY_ROTATION says so, and retired or revoked keys deleted once no
   * token needs them, each round before the cleanup. The service logs what it changed.
   */
  signingKeys?: Pick<SigningKeysService, 'maintain'>
  /** Passed to the cleanup service: the hook for a deleted-rows metric. */
  onDeleted?: CleanupDeps['onDeleted']
  batchSize?: number
}

/*
 * Why a session-level lock on one pinned connection, not a transaction:
 * `pg_try_advisory_xact_lock` only lives as long as a transaction, and keeping one
 * transaction open for a whole round would keep every deleted row locked (and its
 * snapshot pinned) until the end — a million-row cleanup would stall the API. Instead the
 * round pins one pool connection, takes `pg_try_advisory_lock` there (another process
 * holding it → this round is skipped), and runs every batch on that same connection as
 * its own autocommitted statement, so each batch's row locks last one statement. Working
 * on the lock's own connection also means that if the connection dies, the lock and the
 * work stop together; the server frees a dead session's locks. Even if two rounds did
 * overlap, `for update skip locked` keeps their batches disjoint. (A transaction-mode
 * pooler such as PgBouncer would break session locks; connect the worker directly.)
 *
 * PGlite: one PGlite instance is one session, so a session lock would be re-entrant and
 * useless between two schedulers of one process; an in-process flag per database plays
 * its role. Another process cannot share the instance: the data directory's pid lock
 * (db/client.ts) refuses a second process.
 */
const pgliteRunning = new WeakSet<Database>()

async function withCleanupLock(
  database: Database,
  work: (db: Db) => Promise<CleanupResult>,
): Promise<CleanupOutcome> {
  if (database.pool === null) {
    if (pgliteRunning.has(database)) return { status: 'skipped' }
    pgliteRunning.add(database)
    try {
      return { status: 'ran', ...(await work(database.db)) }
    } finally {
      pgliteRunning.delete(database)
    }
  }
  const client = await database.pool.connect()
  let broken: Error | undefined
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1) as locked',
      [CLEANUP_LOCK_KEY],
    )
    if (rows[0]?.locked !== true) return { status: 'skipped' }
    try {
      return { status: 'ran', ...(await work(drizzle(client, { schema }))) }
    } finally {
      await client.query('select pg_advisory_unlock($1)', [CLEANUP_LOCK_KEY])
    }
  } catch (error) {
    // Destroy rather than reuse a connection in an unknown state: its lock dies with it.
    broken = error instanceof Error ? error : new Error(String(error))
    throw error
  } finally {
    client.release(broken)
  }
}

/**
 * Every `cleanupIntervalMs` (the first time at start): the signing-key maintenance, then a
 * cleanup round, one at a time across every process sharing the database. `stop()` lets
 * the batch in flight finish.
 */
export function createScheduler(deps: SchedulerDeps) {
  const abort = new AbortController()
  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> | null = null
  let stopped = false

  function runOnce(): Promise<CleanupOutcome> {
    return withCleanupLock(deps.database, (db) =>
      createCleanupService({
        db,
        config: deps.config,
        clock: deps.clock,
        onDeleted: deps.onDeleted,
        batchSize: deps.batchSize,
      }).runCleanup({ signal: abort.signal }),
    )
  }

  async function maintainKeys() {
    if (deps.signingKeys === undefined) return
    try {
      await deps.signingKeys.maintain()
    } catch (error) {
      // The database's words only: a failed insert's parameters hold a sealed private key.
      deps.logger.error(
        { reason: databaseMessage(error) },
        'signing-key maintenance failed; retrying at the next interval',
      )
    }
  }

  /** One round as the timer runs it: the key maintenance, then the cleanup; both logged. */
  async function runRound() {
    await maintainKeys()
    try {
      const outcome = await runOnce()
      if (outcome.status === 'skipped') {
        deps.logger.info('cleanup skipped: another process is running it')
      } else {
        const { counts, durationMs, interrupted } = outcome
        deps.logger.info(
          { ...counts, durationMs, interrupted },
          `cleanup: ${counts.unverifiedUsers} unverified users, ${counts.codes} codes, ${counts.codeSends} code send records, ${counts.refreshTokens} refresh tokens deleted in ${durationMs} ms`,
        )
      }
    } catch (error) {
      deps.logger.error({ err: error }, 'cleanup failed; retrying at the next interval')
    }
  }

  function schedule(delayMs: number) {
    timer = setTimeout(() => {
      timer = null
      running = runRound().finally(() => {
        running = null
        if (!stopped) schedule(deps.config.cleanupIntervalMs)
      })
    }, delayMs)
  }

  return {
    /** One cleanup round now, under the lock; what the CLI runs. Does not log. */
    runOnce,
    runRound,
    start() {
      if (stopped || timer !== null || running !== null) return
      schedule(0)
    },
    /** Stops the timer and waits for the round in flight to finish its current batch. */
    async stop() {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      timer = null
      abort.abort()
      await running
    },
  }
}

export type Scheduler = ReturnType<typeof createScheduler>
