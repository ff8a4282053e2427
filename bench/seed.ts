import type pg from 'pg'
import { newId } from '../src/core/ids.js'
import { hashPassword } from '../src/core/security.js'

/** Crockford base32 of a bigint, left-padded to `len` characters (len ≤ 13: 64-bit shifts). */
export const CREATE_B32 = `
create or replace function pg_temp.bench_b32(n bigint, len int) returns text
language sql immutable as $$
  select string_agg(
    substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((n >> (5 * (len - 1 - k))) & 31)::int + 1, 1),
    '' order by k)
  from generate_series(0, len - 1) as k
$$`

/**
 * ULID-shaped ids that sort like created_at: 10 characters of epoch milliseconds (as a
 * real ULID), then the row number where a ULID has its random part.
 */
export const ULID_OF = (timestamp: string, n: string) =>
  `pg_temp.bench_b32((extract(epoch from ${timestamp}) * 1000)::bigint, 10) || '000' || pg_temp.bench_b32(${n}, 13)`

export interface SeedAccount {
  email: string
  password: string
  role: 'user' | 'admin'
}

/** A seeded account with one live session (a login), which its access tokens name. */
export interface SignedInAccount {
  id: string
  email: string
  sessionId: string
}

export interface SeededUsers {
  admin: SignedInAccount
  me: SignedInAccount
  login: SeedAccount & { id: string }
  /** A plain user in the middle of the list, for GET /users/{id}. */
  someUserId: string
}

export const LOGIN_PASSWORD = 'Bench-login-password-1729'
const SEED_PASSWORD = 'Bench-seed-password-4096'

interface Batch {
  /** Row numbers `from..to` (inclusive); `n` in SQL. */
  from: number
  to: number
  emailPrefix: string
  /** SQL expression of the row's created_at, in terms of `n`. */
  createdAt: string
  verified: boolean
  passwordHash: string
}

async function insertBatch(client: pg.PoolClient, batch: Batch): Promise<void> {
  await client.query(
    `insert into users (id, email, password_hash, full_name, role, is_verified, verified_at,
                        is_active, created_at, updated_at)
     select ${ULID_OF('t', 'n')}, $3 || n || '@bench.example', $4, 'Bench User ' || n, 'user',
            $5, case when $5 then t end, true, t, t
     from (select n, ${batch.createdAt} as t from generate_series($1::bigint, $2::bigint) as n) as rows`,
    [batch.from, batch.to, batch.emailPrefix, batch.passwordHash, batch.verified],
  )
}

/**
 * The 10,000 users of the HTTP scenarios, created over the last hours, all verified. All
 * but the login user share one cost-4 hash (seeding at cost 12 would take half an hour);
 * the login user has a cost-12 hash, what the API produces with BCRYPT_ROUNDS=12.
 */
export async function seedUsers(pool: pg.Pool, count: number): Promise<SeededUsers> {
  const client = await pool.connect()
  try {
    await client.query(CREATE_B32)
    const plainHash = await hashPassword(SEED_PASSWORD, 4)
    const generic = Math.max(count - 3, 1)
    await insertBatch(client, {
      from: 1,
      to: generic,
      emailPrefix: 'user',
      createdAt: `now() - interval '1 hour' - (${generic} - n) * interval '1 second'`,
      verified: true,
      passwordHash: plainHash,
    })
    const special = async (email: string, role: 'user' | 'admin', hash: string, n: number) => {
      const { rows } = await client.query<{ id: string }>(
        `insert into users (id, email, password_hash, role, is_verified, verified_at, created_at, updated_at)
         select ${ULID_OF('t', '$4::bigint')}, $1, $2, $3, true, t, t, t
         from (select now() - interval '1 minute' + $4::bigint * interval '1 second' as t) as row
         returning id`,
        [email, hash, role, n],
      )
      return rows[0]?.id ?? ''
    }
    const loginHash = await hashPassword(LOGIN_PASSWORD, 12)
    const signedIn = async (email: string, role: 'user' | 'admin', n: number) => {
      const id = await special(email, role, plainHash, n)
      const sessionId = newId()
      await client.query(
        `insert into sessions (id, user_id, created_at, last_used_at, expires_at)
         values ($1, $2, now(), now(), now() + interval '1 day')`,
        [sessionId, id],
      )
      return { email, id, sessionId }
    }
    const admin = await signedIn('admin@bench.example', 'admin', 1)
    const me = await signedIn('me@bench.example', 'user', 2)
    const login = {
      email: 'login@bench.example',
      password: LOGIN_PASSWORD,
      role: 'user' as const,
      id: '',
    }
    login.id = await special(login.email, 'user', loginHash, 3)
    const { rows } = await client.query<{ id: string }>('select id from users where email = $1', [
      `user${Math.ceil(generic / 2)}@bench.example`,
    ])
    await client.query('analyze users')
    await client.query('analyze sessions')
    return { admin, me, login, someUserId: rows[0]?.id ?? '' }
  } finally {
    client.release()
  }
}

/**
 * Never-verified users created a month ago, one millisecond apart: older than any
 * UNVERIFIED_USER_TTL, so the cleanup job owns them; the oldest rows of GET /users.
 */
export async function seedStaleUsers(pool: pg.Pool, count: number): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query(CREATE_B32)
    const passwordHash = await hashPassword(SEED_PASSWORD, 4)
    const batchSize = 250_000
    for (let from = 1; from <= count; from += batchSize) {
      await insertBatch(client, {
        from,
        to: Math.min(from + batchSize - 1, count),
        emailPrefix: 'stale',
        createdAt: `date_trunc('day', now()) - interval '30 days' + n * interval '1 millisecond'`,
        verified: false,
        passwordHash,
      })
    }
    await client.query('vacuum analyze users')
    // Write the inserted pages out now, not during the measurements that follow.
    await client.query('checkpoint').catch(() => {})
  } finally {
    client.release()
  }
}
