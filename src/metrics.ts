import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { createHttpMetrics } from './http-metrics.js'

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop, GC): on for the API, off for one-shot tools. */
  processMetrics?: boolean
  /**
   * Asks the database `select 1` (rejecting when it does not answer in time): called at
   * each scrape for `database_up`. Without it that gauge is not exported.
   */
  pingDatabase?: () => Promise<void>
}

/** Results of a scheduled cleanup round; `cleanup_runs_total` starts each at 0. */
const CLEANUP_RESULTS = ['ran', 'not_due', 'skipped', 'failed'] as const
export type CleanupRoundResult = (typeof CLEANUP_RESULTS)[number]

/**
 * Every metric lives in its own Registry, never prom-client's global one: tests build many
 * apps in one process, and a second registration in the global registry throws.
 */
export function createMetrics(options: MetricsOptions = {}) {
  const registry = new Registry()
  if (options.processMetrics) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const { pingDatabase } = options
  // Plain numbers, counted on every authenticated request: prom-client's inc() would check
  // and hash the label each time. Handed over at each scrape.
  const authCacheLookups = { hit: 0, miss: 0, off: 0 }
  const metrics = {
    authCacheLookups,
    registry,
    /** `http_requests_total` and `http_request_duration_seconds`, fed per request. */
    http: createHttpMetrics(registers),
    signups: new Counter({
      name: 'auth_signups_total',
      help: 'Accounts created through sign-up',
      registers,
    }),
    verifications: new Counter({
      name: 'auth_verifications_total',
      help: 'E-mail addresses verified with a code',
      registers,
    }),
    logins: new Counter({
      name: 'auth_logins_total',
      help: 'Login attempts by result (success or failure)',
      labelNames: ['result'] as const,
      registers,
    }),
    tokenRefreshes: new Counter({
      name: 'auth_token_refreshes_total',
      help: 'Refresh tokens exchanged for a new pair',
      registers,
    }),
    reuseDetections: new Counter({
      name: 'auth_refresh_reuse_detections_total',
      help: 'Spent refresh tokens presented after the grace period; each revokes a whole login',
      registers,
    }),
    codeFailures: new Counter({
      name: 'auth_code_failures_total',
      help: 'E-mailed codes refused (wrong, expired, used, burned, locked out or unknown address), by purpose',
      labelNames: ['purpose'] as const,
      registers,
    }),
    auditEvents: new Counter({
      name: 'audit_events_total',
      help: 'Audit events committed, by type',
      labelNames: ['type'] as const,
      registers,
    }),
    cleanupDeletions: new Counter({
      name: 'cleanup_deletions_total',
      help: 'Rows deleted by the cleanup job, by kind (unverified_users, codes, code_sends, sessions, refresh_tokens, audit_events, mfa_challenges, mfa_enrolments)',
      labelNames: ['kind'] as const,
      registers,
    }),
    cleanupRuns: new Counter({
      name: 'cleanup_runs_total',
      help: 'Scheduled cleanup rounds by result: ran (this process did the round), not_due (a process started one within CLEANUP_INTERVAL), skipped (another process held the lock), failed',
      labelNames: ['result'] as const,
      registers,
    }),
    cleanupLastSuccess: new Gauge({
      name: 'cleanup_last_success_timestamp_seconds',
      help: 'Unix time at which this process last finished a cleanup round (0: not yet)',
      registers,
    }),
    cleanupInterval: new Gauge({
      name: 'cleanup_interval_seconds',
      help: 'CLEANUP_INTERVAL of this process, in seconds (0: it runs no scheduler)',
      registers,
    }),
    authCacheLookupsCounter: new Counter({
      name: 'auth_cache_lookups_total',
      help: 'Users and sessions looked up to authenticate a request, by outcome: hit (from the auth cache), miss (read from the database), off (the cache is off or not listening)',
      labelNames: ['outcome'] as const,
      registers,
      collect() {
        this.reset()
        for (const [outcome, count] of Object.entries(authCacheLookups))
          this.inc({ outcome }, count)
      },
    }),
    databaseUp: new Gauge({
      name: 'database_up',
      help: 'Whether the database answered select 1 within 2 s at this scrape (1) or not (0)',
      registers: pingDatabase ? registers : [],
      async collect() {
        this.set(
          (await pingDatabase?.().then(
            () => 1,
            () => 0,
          )) ?? 0,
        )
      },
    }),
  }
  // Every known label value starts at 0, so rate() and increase() see the first event.
  for (const result of ['success', 'failure']) metrics.logins.inc({ result }, 0)
  for (const result of CLEANUP_RESULTS) metrics.cleanupRuns.inc({ result }, 0)
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>
