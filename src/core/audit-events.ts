/**
 * Every type of audit event, in one place: the OpenAPI document, the `type` filter and the
 * services all read this list, so a new type is one more line here (the database stores
 * text and needs no migration). Some are recorded by features still to come.
 */
export const AUDIT_EVENT_TYPES = [
  'user.signed_up',
  'user.verified',
  'user.updated',
  'user.deleted',
  'login.succeeded',
  'login.failed',
  'logout',
  'session.revoked',
  'refresh.reuse_detected',
  'password.changed',
  'password.reset',
  'email.change_requested',
  'email.changed',
  'mfa.enabled',
  'mfa.disabled',
  'mfa.recovery_code_used',
  'signing_key.rotated',
  'signing_key.revoked',
] as const

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]

/**
 * What an event says beyond who, whom and where: names and identifiers only, never a
 * password, hash, code or token (`user.updated` lists field names, not their values).
 */
export type AuditDetails = Readonly<Record<string, string | number | boolean | null | string[]>>
