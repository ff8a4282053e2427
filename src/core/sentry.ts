import type { Config } from './config.js'
import { redactQueryParams } from './logger.js'

/** Where unexpected errors go besides the log. */
export interface ErrorReporter {
  capture(error: unknown, context: { requestId: string; method: string; route: string }): void
  /** Sends what is queued, waiting at most `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>
}

const FILTERED = '[Filtered]'
/** Keys whose values never leave the process: credentials, codes, tokens, hashes. */
const SENSITIVE_KEY = /pass(word|wd)?|secret|token|authorization|cookie|^code$|otp|hash|^data$/i
const BEARER = /\b(bearer|basic)\s+[\w.~+/=-]+/gi

function scrubString(text: string): string {
  return redactQueryParams(text, FILTERED).replace(BEARER, `$1 ${FILTERED}`)
}

/** Deep copy with sensitive keys replaced and free text cleaned; cycles are cut. */
function scrub(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrubString(value)
  if (value === null || typeof value !== 'object') return value
  if (seen.has(value)) return FILTERED
  seen.add(value)
  if (Array.isArray(value)) return value.map((item) => scrub(item, seen))
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) ? FILTERED : scrub(item, seen)
  }
  return out
}

type EventRecord = Record<string, unknown> & { request?: Record<string, unknown> }

/**
 * Sentry's beforeSend: request bodies, cookies and query strings are dropped outright;
 * headers, extras, contexts, breadcrumbs and exception messages are scrubbed by key and
 * pattern. Stack frames (code locations) pass through.
 */
export function scrubEvent<T extends object>(event: T): T {
  const record = event as EventRecord
  if (record.request) {
    const { data: _data, cookies: _cookies, query_string: _query, ...request } = record.request
    record.request = scrub(request) as Record<string, unknown>
  }
  for (const key of ['extra', 'contexts', 'breadcrumbs', 'tags', 'user', 'message']) {
    if (record[key] !== undefined) record[key] = scrub(record[key])
  }
  const exception = record.exception as { values?: { value?: string }[] } | undefined
  for (const entry of exception?.values ?? []) {
    if (typeof entry.value === 'string') entry.value = scrubString(entry.value)
  }
  return event
}

/**
 * `@sentry/node` is imported only when SENTRY_DSN is set, so without it nothing of the SDK
 * is loaded. No tracing, no default PII: this is error reporting only.
 */
export async function createErrorReporter(
  config: Pick<Config, 'sentryDsn' | 'nodeEnv'>,
): Promise<ErrorReporter | null> {
  if (config.sentryDsn === null) return null
  const Sentry = await import('@sentry/node')
  Sentry.init({
    dsn: config.sentryDsn,
    environment: config.nodeEnv,
    // Collected data is kept to the minimum first; beforeSend then scrubs what remains.
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpBodies: [],
      urlQueryParams: false,
      httpHeaders: { request: { deny: ['authorization', 'cookie'] }, response: false },
    },
    // Only what we hand it, plus crashes: no HTTP/framework auto-instrumentation (which would
    // also report handled 4xx paths) and no local-variable capture (which could hold secrets).
    defaultIntegrations: false,
    integrations: [
      Sentry.linkedErrorsIntegration(),
      Sentry.dedupeIntegration(),
      Sentry.contextLinesIntegration(),
      Sentry.nodeContextIntegration(),
      Sentry.onUncaughtExceptionIntegration(),
      Sentry.onUnhandledRejectionIntegration(),
    ],
    beforeSend: (event) => scrubEvent(event),
    beforeBreadcrumb: (breadcrumb) => scrub(breadcrumb) as typeof breadcrumb,
  })
  return {
    capture(error, context) {
      Sentry.withScope((scope) => {
        scope.setTag('route', context.route)
        scope.setTag('method', context.method)
        scope.setTag('request_id', context.requestId)
        Sentry.captureException(error)
      })
    },
    async close(timeoutMs = 2_000) {
      await Sentry.close(timeoutMs)
    },
  }
}
