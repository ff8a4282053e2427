/**
 * The floor for GET /users/me: a bare node:http server that checks the HS256 access token
 * with node:crypto and runs the one primary-key query through pg as a named (prepared)
 * statement, answering the same JSON. No framework, no validation library, no logging.
 * Run as its own process: DATABASE_URL, SECRET_KEY, PORT (JWT_ISSUER, JWT_AUDIENCE).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import pg from 'pg'

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

const secret = process.env.SECRET_KEY ?? ''
const issuer = process.env.JWT_ISSUER ?? 'coffee-shop-api'
const audience = process.env.JWT_AUDIENCE ?? 'coffee-shop'
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 })

const EXPECTED_HEADER = { alg: 'HS256', typ: 'at+jwt' }
const FIND_BY_ID = {
  name: 'baseline_users_find_by_id',
  text: `select id, email, full_name, role, is_verified, is_active, tokens_valid_after,
                created_at, updated_at
         from users where id = $1 limit 1`,
}

/** The token's subject and issued-at when signature, header and registered claims hold. */
function verify(token: string): { sub: string; iat: number } | null {
  const parts = token.split('.')
  if (parts.length !== 3) return null
  const [header, payload, signature] = parts as [string, string, string]
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
  try {
    const head = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>
    if (head.alg !== EXPECTED_HEADER.alg || head.typ !== EXPECTED_HEADER.typ) return null
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
      string,
      unknown
    >
    const now = Date.now() / 1000
    const { sub, iat, exp, iss, aud, role, jti } = claims
    if (typeof sub !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') return null
    if (exp <= now || iss !== issuer || aud !== audience || typeof jti !== 'string') return null
    if (role !== 'user' && role !== 'admin') return null
    return { sub, iat }
  } catch {
    return null
  }
}

function send(response: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
}

const unauthorized = { detail: 'Could not validate credentials', code: 'invalid_token' }

const server = createServer((request, response) => {
  if (request.url === '/health/live') return send(response, 200, { status: 'ok' })
  if (request.url !== '/users/me') return send(response, 404, { detail: 'Not Found' })
  const header = request.headers.authorization ?? ''
  const claims = header.startsWith('Bearer ') ? verify(header.slice(7)) : null
  if (claims === null) return send(response, 401, unauthorized)
  pool.query<UserRecord>({ ...FIND_BY_ID, values: [claims.sub] }).then(
    ({ rows: [user] }) => {
      const validFrom = user?.tokens_valid_after ? user.tokens_valid_after.getTime() / 1000 : 0
      if (!user?.is_active || claims.iat < Math.ceil(validFrom)) {
        return send(response, 401, unauthorized)
      }
      send(response, 200, {
        id: user.id,
        email: user.email,
        full_name: user.full_name,
        role: user.role,
        is_verified: user.is_verified,
        is_active: user.is_active,
        created_at: user.created_at.toISOString(),
        updated_at: user.updated_at.toISOString(),
      })
    },
    () => send(response, 500, { detail: 'Internal Server Error', code: 'internal_error' }),
  )
})

server.listen(Number(process.env.PORT ?? 8100), '127.0.0.1')
process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  void pool.end().then(() => process.exit(0))
})
