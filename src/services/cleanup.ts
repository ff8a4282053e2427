import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import type { Repositories } from '../repositories/index.js'
import { CODE_LIMITS } from './codes.js'
import { CHALLENGE_MAX_WRONG } from './mfa-login.js'

const CLEANUP_BATCH_SIZE = 1_000

export type CleanupKind =
  | 'unverifiedUsers'
  | 'codes'
  | 'codeSends'
  | 'sessions'
  | 'refreshTokens'
  | 'auditEvents'
  | 'mfaChallenges'
  | 'mfaEnrolments'
type CleanupCounts = Record<CleanupKind, number>

/** snake_case names of the kinds, for metric labels and logs read by people. */
export const CLEANUP_KIND_LABELS: Readonly<Record<CleanupKind, string>> = {
  unverifiedUsers: 'unverified_users',
  codes: 'codes',
  codeSends: 'code_sends',
  sessions: 'sessions',
  refreshTokens: 'refresh_tokens',
  auditEvents: 'audit_events',
  mfaChallenges: 'mfa_challenges',
  mfaEnrolments: 'mfa_enrolments',
}

export interface CleanupResult {
  /**
   * Rows deleted by the job itself; rows removed by a cascade (a user's codes, sessions and
   * tokens, a session's tokens) are not counted.
   */
  counts: CleanupCounts
  durationMs: number
  /** True when the signal stopped the run between two batches. */
  interrupted: boolean
}

export interface CleanupDeps {
  /** Each batch autocommits: give repositories over a connection, not a transaction. */
  repositories: Pick<Repositories, 'cleanup'>
  config: Pick<Config, 'unverifiedUserTtlMs' | 'auditRetentionMs'>
  clock: Clock
  batchSize?: number
  /**
   * Called after each batch that deleted rows, e.g. to feed a Prometheus counter:
   * `onDeleted: (kind, n) => counter.inc({ kind }, n)`. Awaited, so keep it quick.
   */
  onDeleted?: (kind: CleanupKind, count: number) => void | Promise<void>
}

export interface CleanupOptions {
  /** Aborting lets the batch in flight finish, then stops (graceful shutdown). */
  signal?: AbortSignal
}

/**
 * One cleanup round: never-verified accounts older than UNVERIFIED_USER_TTL, then expired
 * or used codes (once their wrong tries no longer count), records of codes sent that no
 * longer throttle, then expired sessions (with their refresh tokens), expired or revoked
 * refresh tokens, audit events older than AUDIT_RETENTION, then MFA login challenges that
 * expired, were used or ran out of tries, and TOTP enrolments left unconfirmed past their
 * expiry (a confirmed factor is never touched). Each batch is its own
 * statement (autocommit), so a million stale rows never hold locks longer than one batch does.
 * Callable from any script that has a database (the benchmark uses it directly).
 */
export function createCleanupService(deps: CleanupDeps) {
  const repository = deps.repositories.cleanup
  const batchSize = deps.batchSize ?? CLEANUP_BATCH_SIZE

  async function drain(
    kind: CleanupKind,
    deleteBatch: () => Promise<number>,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    let total = 0
    while (signal?.aborted !== true) {
      const deleted = await deleteBatch()
      total += deleted
      if (deleted > 0) await deps.onDeleted?.(kind, deleted)
      // A short batch means nothing is left (or the rest is locked by another cleaner).
      if (deleted < batchSize) break
    }
    return total
  }

  return {
    async runCleanup(options: CleanupOptions = {}): Promise<CleanupResult> {
      const { signal } = options
      const started = performance.now()
      // The injected clock, not SQL now(): tests move time, and every batch of a round
      // uses the same cut-off.
      const now = deps.clock.now()
      const createdBefore = new Date(now.getTime() - deps.config.unverifiedUserTtlMs)
      const counts: CleanupCounts = {
        unverifiedUsers: 0,
        codes: 0,
        codeSends: 0,
        sessions: 0,
        refreshTokens: 0,
        auditEvents: 0,
        mfaChallenges: 0,
        mfaEnrolments: 0,
      }
      // Users first: their cascades shrink the two tables that follow.
      counts.unverifiedUsers = await drain(
        'unverifiedUsers',
        () => repository.deleteNeverVerifiedUsers(createdBefore, batchSize),
        signal,
      )
      const failuresBefore = new Date(now.getTime() - CODE_LIMITS.failureWindowMs)
      counts.codes = await drain(
        'codes',
        () => repository.deleteStaleCodes(now, failuresBefore, batchSize),
        signal,
      )
      const sentBefore = new Date(now.getTime() - CODE_LIMITS.sendWindowMs)
      counts.codeSends = await drain(
        'codeSends',
        () => repository.deleteStaleCodeSends(sentBefore, batchSize),
        signal,
      )
      // Sessions before tokens: their cascades shrink the last table.
      counts.sessions = await drain(
        'sessions',
        () => repository.deleteStaleSessions(now, batchSize),
        signal,
      )
      counts.refreshTokens = await drain(
        'refreshTokens',
        () => repository.deleteStaleRefreshTokens(now, batchSize),
        signal,
      )
      const eventsBefore = new Date(now.getTime() - deps.config.auditRetentionMs)
      counts.auditEvents = await drain(
        'auditEvents',
        () => repository.deleteAuditEventsBefore(eventsBefore, batchSize),
        signal,
      )
      counts.mfaChallenges = await drain(
        'mfaChallenges',
        () => repository.deleteStaleMfaChallenges(now, CHALLENGE_MAX_WRONG, batchSize),
        signal,
      )
      counts.mfaEnrolments = await drain(
        'mfaEnrolments',
        () => repository.deleteLapsedMfaEnrolments(now, batchSize),
        signal,
      )
      return {
        counts,
        durationMs: Math.round(performance.now() - started),
        interrupted: signal?.aborted === true,
      }
    },
  }
}

/** For scripts (CLI, benchmark): one round against a database with the given config. */
export function runCleanup(deps: CleanupDeps, options?: CleanupOptions): Promise<CleanupResult> {
  return createCleanupService(deps).runCleanup(options)
}
