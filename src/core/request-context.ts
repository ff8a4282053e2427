/** A request's security log lines: its logger, which carries the request id. */
export interface RequestLog {
  warn(details: Record<string, unknown>, message: string): void
}

/**
 * Who asked and from where: built by the routes from the request, handed to the services
 * as plain data, and recorded with each audit event the request causes. The CLI and the
 * scheduler have none.
 */
export interface RequestContext {
  log: RequestLog
  /** The client's address: the socket's, or X-Forwarded-For's as far as TRUST_PROXY allows. */
  clientAddress: string
  /** The User-Agent header, cut to MAX_USER_AGENT_LENGTH; null when absent. */
  userAgent: string | null
  /** The request id (X-Request-Id when the caller sent a sane one), as logged. */
  requestId: string | null
  /** The signed-in user who made the request; null on routes without an access token. */
  actorId: string | null
}

/** Longer user agents are cut: stored (sessions, audit log), they are shown to people, not parsed. */
export const MAX_USER_AGENT_LENGTH = 256

/** The user agent as stored: at most MAX_USER_AGENT_LENGTH characters, never half of one. */
export function truncateUserAgent(userAgent: string | undefined): string | null {
  if (userAgent === undefined || userAgent === '') return null
  const characters = Array.from(userAgent)
  return characters.length <= MAX_USER_AGENT_LENGTH
    ? userAgent
    : characters.slice(0, MAX_USER_AGENT_LENGTH).join('')
}
