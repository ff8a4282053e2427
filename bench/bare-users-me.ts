/**
 * The least work `GET /users/me` can do, shared by the two floors (bench/baseline.ts on bare
 * node:http, bench/fastify-baseline.ts on plain Fastify): the HS256 access token checked
 * with node:crypto, the one primary-key query through pg as a named (prepared) statement,
 * the same JSON. No validation library, no logging.
 */
import { createHmac, type KeyObject, timingSafeEqual } from 'node:crypto'
import pg from 'pg'
import { keysFor } from '../src/core/keys.js'

interface UserRecord {
  id: string
  email: string
  full_name: string | null
  role: string
  is_verified: boolean
  is_active: boolean
  tokens_valid_after: Date | null
  created_at: Date
  updated_at: Date
}

export interface Answer {
  status: number
  body: unknown
}

const EXPECTED_HEADER = { alg: 'HS256', typ: 'at+jwt' }
const FIND_BY_ID = {
  name: 'baseline_users_find_by_id',
  text: `select id, email, full_name, role, is_verified, is_active, tokens_valid_after,
                created_at, updated_at
         from users where id = $1 limit 1`,
}
const UNAUTHORIZED: Answer = {
  status: 401,
  body: { detail: 'Could not validate credentials', code: 'invalid_token' },
}
const INTERNAL: Answer = {
  status: 500,
  body: { detail: 'Internal Server Error', code: 'internal_error' },
}

const decode = (part: string) =>
  JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>

/** The token's subject and issued-at when signature, header and registered claims hold. */
function verify(
  token: string,
  key: { secret: KeyObject; issuer: string; audience: string },
): { sub: string; iat: number } | null {
  const parts = token.split('.')
  if (parts.length !== 3) return null
  const [header, payload, signature] = parts as [string, string, string]
  const expected = createHmac('sha256', key.secret).update(`${header}.${payload}`).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
  try {
    const head = decode(header)
    if (head.alg !== EXPECTED_HEADER.alg || head.typ !== EXPECTED_HEADER.typ) return null
    const { sub, iat, exp, iss, aud, role, jti } = decode(payload)
    if (typeof sub !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') return null
    if (exp <= Date.now() / 1000 || iss !== key.issuer || aud !== key.audience) return null
    if (typeof jti !== 'string' || (role !== 'user' && role !== 'admin')) return null
    return { sub, iat }
  } catch {
    return null
  }
}

function userOut(user: UserRecord) {
  return {
    id: user.id,
    email: user.email,
    full_name: user.full_name,
    role: user.role,
    is_verified: user.is_verified,
    is_active: user.is_active,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  }
}

/** From the environment: DATABASE_URL, SECRET_KEY (JWT_ISSUER, JWT_AUDIENCE). */
export function createBareUsersMe() {
  const key = {
    // The API's access-token key, derived from SECRET_KEY as the API derives it.
    secret: keysFor(process.env.SECRET_KEY ?? '').accessToken,
    issuer: process.env.JWT_ISSUER ?? 'coffee-shop-api',
    audience: process.env.JWT_AUDIENCE ?? 'coffee-shop',
  }
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
  return {
    /** The answer to `GET /users/me` with this Authorization header. */
    async answer(authorization: string | undefined): Promise<Answer> {
      const header = authorization ?? ''
      const claims = header.startsWith('Bearer ') ? verify(header.slice(7), key) : null
      if (claims === null) return UNAUTHORIZED
      try {
        const { rows } = await pool.query<UserRecord>({ ...FIND_BY_ID, values: [claims.sub] })
        const user = rows[0]
        const validFrom = user?.tokens_valid_after ? user.tokens_valid_after.getTime() / 1000 : 0
        if (!user?.is_active || claims.iat < Math.ceil(validFrom)) return UNAUTHORIZED
        return { status: 200, body: userOut(user) }
      } catch {
        return INTERNAL
      }
    },
    close: () => pool.end(),
  }
}
