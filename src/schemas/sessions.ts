import { type Static, Type } from 'typebox'
import { MAX_USER_AGENT_LENGTH } from '../core/request-context.js'
import type { SessionView } from '../services/user-sessions.js'
import { UlidSchema } from './common.js'

const SESSION_EXAMPLE = {
  id: '01JD8X4ZQK3V7M2N5P6R8S9T0Y',
  created_at: '2026-11-25T10:00:00.000Z',
  last_used_at: '2026-11-26T08:30:00.000Z',
  expires_at: '2026-12-26T08:30:00.000Z',
  user_agent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)',
  ip: '203.0.113.7',
  current: true,
}

const nullableString = (description: string) =>
  Type.Union([Type.String(), Type.Null()], { description })

const SessionOutSchema = Type.Object(
  {
    id: { ...UlidSchema, description: 'The `sid` claim of its access tokens' },
    created_at: Type.String({ format: 'date-time', description: 'The login' }),
    last_used_at: Type.String({
      format: 'date-time',
      description: 'The login or the last refresh',
    }),
    expires_at: Type.String({
      format: 'date-time',
      description:
        'When it ends unless refreshed before: `REFRESH_TOKEN_TTL` after the last use, never later than `SESSION_MAX_AGE` after the login',
    }),
    user_agent: nullableString(
      `The User-Agent of the login, cut to ${MAX_USER_AGENT_LENGTH} characters`,
    ),
    ip: nullableString('The client address of the login'),
    current: Type.Boolean({ description: 'The session of the access token that asked' }),
  },
  {
    // No $id: only ever listed, so it is named as part of SessionList.
    description: 'One login (one refresh-token family) and its access tokens',
    examples: [SESSION_EXAMPLE],
  },
)
export type SessionOut = Static<typeof SessionOutSchema>

/** The only row → JSON mapping for sessions. */
export function toSessionOut({ session, current }: SessionView): SessionOut {
  return {
    id: session.id,
    created_at: session.createdAt.toISOString(),
    last_used_at: session.lastUsedAt.toISOString(),
    expires_at: session.expiresAt.toISOString(),
    user_agent: session.userAgent,
    ip: session.ip,
    current,
  }
}

export const SessionListSchema = Type.Object(
  { items: Type.Array(SessionOutSchema) },
  {
    $id: 'SessionList',
    description: 'The live sessions, newest first',
    examples: [{ items: [SESSION_EXAMPLE] }],
  },
)

export const SessionParamsSchema = Type.Object(
  { id: { ...UlidSchema, description: 'A session id' } },
  { additionalProperties: false },
)
