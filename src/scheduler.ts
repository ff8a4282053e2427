import type { Logger } from 'pino'
import type { Clock } from './core/clock.js'
import type { Config } from './core/config.js'
import type { Database, Db } from './db/client.js'
import { databaseMessage } from './db/errors.js'
import { withSessionLock } from './db/locks.js'
import type { CleanupRoundResult } from './metrics.js'
import { createRepositories } from './repositories/index.js'
import { type CleanupDeps, type CleanupResult, createCleanupService } from './services/cleanup.js'
import type { SigningKeysService } from './services/signing-keys.js'

export type CleanupOutcome = ({ status: 'ran' } & CleanupResult) | { status: 'skipped' }
/** A timed round: also 'not_due' when another process started one within the interval. */
type ScheduledOutcome =
  | ({ status: 'ran'; startedAt: Date } & CleanupResult)
  | { status: 'skipped' }
  | { status: 'not_due' }

export interface SchedulerDeps {
  database: Database
  config: Pick<Config, 'unverifiedUserTtlMs' | 'cleanupIntervalMs' | 'auditRetentionMs'>
  clock: Clock
  logger: Pick<Logger, 'info' | 'error'>
  /**
   * Rotated when SIGNING_KEY_ROTATION says so, and retired or revoked keys deleted once no
   * token needs them, each round before the cleanup. The service logs what it changed.
   */
  signingKeys?: Pick<SigningKeysService, 'maintain'>
  /** Passed to the cleanup service: the hook for a deleted-rows metric. */
  onDeleted?: CleanupDeps['onDeleted']
  /** Told how each scheduled round ended: the hook for the cleanup-runs metrics. */
  onRound?: (result: CleanupRoundResult) => void
  batchSize?: number
}

/*
 * Why a session-level lock, not a transaction: `pg_try_advisory_xact_lock` only lives as
 * long as a transaction, and keeping one transaction open for a whole round would keep
 * every deleted row locked (and its snapshot pinned) until the end — a million-row cleanup
 * would stall the API. Under a session lock (another process holding it → this round is
 * skipped) every batch is its own autocommitted statement on the lock's connection, so
 * each batch's row locks last one statement. Even if two rounds did overlap, `for update
 * skip locked` keeps their batches disjoint.
 */
const withCleanupLock = <T>(database: Database, work: (db: Db) => Promise<T>) =>
  withSessionLock(database, 'cleanup', { wait: false }, work)

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

  const cleanup = (db: Db) =>
    createCleanupService({
      repositories: createRepositories(db),
      config: deps.config,
      clock: deps.clock,
      onDeleted: deps.onDeleted,
      batchSize: deps.batchSize,
    }).runCleanup({ signal: abort.signal })

  /** One cleanup round now, whenever the last one was (the CLI's `cleanup`). */
  async function runOnce(): Promise<CleanupOutcome> {
    const outcome = await withCleanupLock(deps.database, cleanup)
    return outcome.acquired ? { status: 'ran', ...outcome.value } : { status: 'skipped' }
  }

  /**
   * The timer's round: every process sharing the database has its timer, so the round
   * starts only when none started within the interval (claimed under the lock).
   */
  async function runIfDue(): Promise<ScheduledOutcome> {
    const outcome = await withCleanupLock(deps.database, async (db) => {
      const { cleanup: runs } = createRepositories(db)
      const startedAt = await runs.claimScheduledRun('cleanup', deps.config.cleanupIntervalMs)
      return startedAt === null ? null : { startedAt, ...(await cleanup(db)) }
    })
    if (!outcome.acquired) return { status: 'skipped' }
    return outcome.value === null ? { status: 'not_due' } : { status: 'ran', ...outcome.value }
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
      const outcome = await runIfDue()
      if (outcome.status === 'skipped') {
        deps.onRound?.('skipped')
        deps.logger.info('cleanup skipped: another process is running it')
      } else if (outcome.status === 'not_due') {
        deps.onRound?.('not_due')
        deps.logger.info('cleanup not due: a round started less than CLEANUP_INTERVAL ago')
      } else {
        deps.onRound?.('ran')
        const { counts, durationMs, interrupted, startedAt } = outcome
        deps.logger.info(
          { ...counts, durationMs, interrupted, startedAt: startedAt.toISOString() },
          `cleanup: ${counts.unverifiedUsers} unverified users, ${counts.codes} codes, ${counts.codeSends} code send records, ${counts.sessions} sessions, ${counts.refreshTokens} refresh tokens, ${counts.auditEvents} audit events, ${counts.mfaChallenges} MFA challenges, ${counts.mfaEnrolments} MFA enrolments deleted in ${durationMs} ms`,
        )
      }
    } catch (error) {
      deps.onRound?.('failed')
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
