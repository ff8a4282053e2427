import { Counter, collectDefaultMetrics, Registry } from 'prom-client'
import { createHttpMetrics } from './http-metrics.js'

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop, GC): on for the API, off for one-shot tools. */
  processMetrics?: boolean
}

/**
 * Every metric lives in its own Registry, never prom-client's global one: tests build many
 * apps in one process, and a second registration in the global registry throws.
 */
export function createMetrics(options: MetricsOptions = {}) {
  const registry = new Registry()
  if (options.processMetrics) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  return {
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
  }
}

export type Metrics = ReturnType<typeof createMetrics>
