import { type Static, Type } from 'typebox'
import { AUDIT_EVENT_TYPES } from '../core/audit-events.js'
import { MAX_USER_AGENT_LENGTH } from '../core/request-context.js'
import type { AuditEventRow } from '../db/schema.js'
import { PAGE_QUERY_FIELDS, pageOf, UlidSchema } from './common.js'

const TYPE_LIST = AUDIT_EVENT_TYPES.map((type) => `\`${type}\``).join(', ')

const EVENT_EXAMPLE = {
  id: '01JD8X4ZQK3V7M2N5P6R8S9T1A',
  type: 'user.updated',
  at: '2026-11-25T10:00:00.000Z',
  actor_id: '01JD8X4ZQK3V7M2N5P6R8S9T0X',
  user_id: '01JD8X4ZQK3V7M2N5P6R8S9T0W',
  ip: '203.0.113.7',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
  request_id: 'b3c1f0de-3f43-4c1e-9d6e-4a8f8e1c2a10',
  details: { fields: ['role', 'is_active'] },
}
const NEXT_CURSOR_EXAMPLE =
  'WyIyMDI2LTExLTI1VDEwOjAwOjAwLjAwMDAwMFoiLCIwMUpEOFg0WlFLM1Y3TTJONVA2UjhTOVQxQSJd'

const nullable = <T extends ReturnType<typeof Type.String>>(schema: T, description: string) =>
  Type.Union([schema, Type.Null()], { description })

const AuditEventOutSchema = Type.Object(
  {
    id: UlidSchema,
    // A string, not an enum: new types are added, and clients must take ones they do not know.
    type: Type.String({ description: `What happened; at least ${TYPE_LIST}` }),
    at: Type.String({ format: 'date-time' }),
    actor_id: nullable(
      UlidSchema,
      'Who did it: the signed-in user, or the user a password or code just proved; null for an unproven caller, the CLI or the scheduler',
    ),
    user_id: nullable(
      UlidSchema,
      'The account it is about; null when none (a key, an unknown e-mail)',
    ),
    ip: nullable(
      Type.String(),
      'The client address, as TRUST_PROXY resolves it; null without a request',
    ),
    user_agent: nullable(
      Type.String(),
      `The request's User-Agent, cut to ${MAX_USER_AGENT_LENGTH} characters`,
    ),
    request_id: nullable(Type.String(), 'The request id, as in the logs and `X-Request-Id`'),
    details: Type.Record(Type.String(), Type.Unknown(), {
      description:
        'More about it, never a password, hash, code or token: `session_id`, `reason`, `fields` (the changed field names of `user.updated`), `email_hash` (a keyed hash of an unknown address), `kid`…',
    }),
  },
  {
    // No $id: only ever listed, so it is named as part of AuditEventList.
    description: 'A security event',
    examples: [EVENT_EXAMPLE],
  },
)
type AuditEventOut = Static<typeof AuditEventOutSchema>

/** The only row → JSON mapping for audit events. */
export function toAuditEventOut(row: AuditEventRow): AuditEventOut {
  return {
    id: row.id,
    type: row.type,
    at: row.at.toISOString(),
    actor_id: row.actorId,
    user_id: row.userId,
    ip: row.ip,
    user_agent: row.userAgent,
    request_id: row.requestId,
    details: row.details,
  }
}

export const AuditEventListSchema = pageOf(AuditEventOutSchema, {
  $id: 'AuditEventList',
  description: 'One page of security events, newest first',
  examples: [{ items: [EVENT_EXAMPLE], next_cursor: NEXT_CURSOR_EXAMPLE }],
})

const pageFields = {
  ...PAGE_QUERY_FIELDS,
  type: Type.Optional(
    Type.Union(
      AUDIT_EVENT_TYPES.map((type) => Type.Literal(type)),
      { description: 'Only events of this type' },
    ),
  ),
  since: Type.Optional(
    Type.String({ format: 'date-time', description: 'Only events at or after this instant' }),
  ),
  until: Type.Optional(
    Type.String({ format: 'date-time', description: 'Only events before this instant' }),
  ),
}

export const ListAuditEventsQuerySchema = Type.Object(
  {
    ...pageFields,
    user_id: Type.Optional({ ...UlidSchema, description: 'Only events about this account' }),
    actor_id: Type.Optional({ ...UlidSchema, description: 'Only events done by this user' }),
  },
  { additionalProperties: false },
)

export const OwnSecurityEventsQuerySchema = Type.Object(pageFields, {
  additionalProperties: false,
})
