import type pg from 'pg'
import { encodeCursor } from '../src/core/cursor.js'
import { measureSerial } from './load.js'
import { measurePages, type PageFigures, type ScaleOptions } from './scale.js'
import { CREATE_B32, ULID_OF } from './seed.js'

/** Accounts the seeded events are about: a filter on one of them selects 1 event in 1,000. */
const EVENT_USERS = 1_000
const EVENT_TYPES = [
  'login.succeeded',
  'login.failed',
  'logout',
  'user.updated',
  'password.changed',
]

export interface AuditScaleResult {
  events: number
  first: PageFigures
  deep: PageFigures
  /** The same two pages filtered on one account (`user_id`), one at a time. */
  filteredFirstSerialP50Ms: number
  filteredDeepSerialP50Ms: number
  /** deep / first, serial p50: unfiltered (the target) and filtered. */
  serialP50Ratio: number
  filteredSerialP50Ratio: number
  loadedP50Ratio: number
  peakRssBytes: number
}

/**
 * `count` audit events by SQL, ten milliseconds apart over the last months (inside any
 * AUDIT_RETENTION the bench uses), about EVENT_USERS accounts in turn; ids sort like `at`.
 */
export async function seedAuditEvents(pool: pg.Pool, count: number): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query(CREATE_B32)
    const types = EVENT_TYPES.map((type) => `'${type}'`).join(', ')
    const batchSize = 250_000
    for (let from = 1; from <= count; from += batchSize) {
      const to = Math.min(from + batchSize - 1, count)
      await client.query(
        `insert into audit_events (id, type, at, actor_id, user_id, ip, user_agent, request_id, details)
         select ${ULID_OF('at', 'n')}, (array[${types}])[n % ${EVENT_TYPES.length} + 1], at,
                ${ULID_OF(`timestamptz '2026-01-01'`, `n % ${EVENT_USERS}`)},
                ${ULID_OF(`timestamptz '2026-01-01'`, `n % ${EVENT_USERS}`)},
                '198.51.100.' || (n % 250), 'bench/1.0', 'bench-' || n, '{}'::jsonb
         from (select n, date_trunc('day', now()) - interval '120 days' + n * interval '10 milliseconds' as at
               from generate_series($1::bigint, $2::bigint) as n) as rows`,
        [from, to],
      )
    }
    await client.query('vacuum analyze audit_events')
    await client.query('checkpoint').catch(() => {})
  } finally {
    client.release()
  }
}

/** The cursor of a page `rowsLeft` events from the end (newest first), as the API encodes it. */
async function deepAuditCursor(pool: pg.Pool, rowsLeft: number, userId?: string) {
  const { rows } = await pool.query<{ at: string; id: string }>(
    `select to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id
     from audit_events where $2::text is null or user_id = $2
     order by at, id offset $1 limit 1`,
    [rowsLeft, userId ?? null],
  )
  const row = rows[0]
  if (!row) throw new Error('not enough audit events for a deep cursor')
  return encodeCursor({ createdAt: row.at, id: row.id })
}

/**
 * GET /audit-events: the first page vs a page 40 events from the end, on every event the
 * database holds, and the same on one account's events: each page costs what the first does.
 */
export async function runAuditScaleCase(options: ScaleOptions): Promise<AuditScaleResult> {
  const { pool } = options
  const { rows } = await pool.query<{ count: string; user_id: string }>(
    `select count(*) over () as count, user_id from audit_events
     where user_id is not null order by at desc limit 1`,
  )
  const events = Number(rows[0]?.count ?? 0)
  const userId = rows[0]?.user_id ?? ''
  const deep = await deepAuditCursor(pool, 40)
  const filteredDeep = await deepAuditCursor(pool, 40, userId)
  const [first, deepPage] = await measurePages(options, [
    '/audit-events?limit=20',
    `/audit-events?limit=20&cursor=${deep}`,
  ])
  if (!first || !deepPage) throw new Error('pages missing')
  const filtered = `/audit-events?limit=20&user_id=${userId}`
  const bearerTokens = [options.adminToken]
  const [filteredFirst, filteredDeepPage] = await measureSerial(
    options.api.baseUrl,
    [
      { path: filtered, bearerTokens },
      { path: `${filtered}&cursor=${filteredDeep}`, bearerTokens },
    ],
    options.serialRequests,
  )
  if (!filteredFirst || !filteredDeepPage) throw new Error('pages missing')
  return {
    events,
    first,
    deep: deepPage,
    filteredFirstSerialP50Ms: filteredFirst.p50Ms,
    filteredDeepSerialP50Ms: filteredDeepPage.p50Ms,
    serialP50Ratio: deepPage.serialP50Ms / first.serialP50Ms,
    filteredSerialP50Ratio: filteredDeepPage.p50Ms / filteredFirst.p50Ms,
    loadedP50Ratio: deepPage.loaded.p50Ms / first.loaded.p50Ms,
    peakRssBytes: Math.max(first.loaded.peakRssBytes, deepPage.loaded.peakRssBytes),
  }
}
