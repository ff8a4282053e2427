import type pg from 'pg'
import { encodeCursor } from '../src/core/cursor.js'
import {
  type LoadGenerator,
  type LoadRequest,
  type MeasuredRun,
  measure,
  measureSerial,
} from './load.js'
import type { ChildServer } from './processes.js'

/**
 * The cursor of a page near the end of GET /users (newest first): the position of the
 * `rowsLeft + 1`-th oldest row, encoded as the API encodes it (microsecond text, id).
 */
export async function deepCursor(pool: pg.Pool, rowsLeft: number): Promise<string> {
  const { rows } = await pool.query<{ created_at: string; id: string }>(
    `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at, id
     from users order by created_at, id offset $1 limit 1`,
    [rowsLeft],
  )
  const row = rows[0]
  if (!row) throw new Error('not enough users for a deep cursor')
  return encodeCursor({ createdAt: row.created_at, id: row.id })
}

export interface PageFigures {
  path: string
  /** Under load (the bench's connections). */
  loaded: MeasuredRun
  /** One request at a time: the cost of the page itself. */
  serialP50Ms: number
  serialP99Ms: number
}

export interface ScaleResult {
  users: number
  first: PageFigures
  deep: PageFigures
  /** deep / first, serial p50 (the target) and loaded p50. */
  serialP50Ratio: number
  loadedP50Ratio: number
  /** API peak RSS over both loaded runs. */
  peakRssBytes: number
}

/** What a scale case needs: the API, wrk, the database, an admin token and the timings. */
export interface ScaleOptions {
  api: ChildServer
  generator: LoadGenerator
  pool: pg.Pool
  adminToken: string
  seconds: number
  warmupSeconds: number
  serialRequests: number
}

/** Each admin page one request at a time, then under load, in that order. */
export async function measurePages(options: ScaleOptions, paths: string[]): Promise<PageFigures[]> {
  const bearerTokens = [options.adminToken]
  const requests: LoadRequest[] = paths.map((path) => ({ path, bearerTokens }))
  const serial = await measureSerial(options.api.baseUrl, requests, options.serialRequests)
  const pages: PageFigures[] = []
  for (const [i, request] of requests.entries()) {
    const loaded = await measure({
      generator: options.generator,
      server: options.api,
      name: 'scale',
      request,
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
    })
    pages.push({
      path: request.path,
      loaded,
      serialP50Ms: serial[i]?.p50Ms ?? 0,
      serialP99Ms: serial[i]?.p99Ms ?? 0,
    })
  }
  return pages
}

/** First page vs a page 40 rows from the end, on however many users the database holds. */
export async function runScaleCase(options: ScaleOptions): Promise<ScaleResult> {
  const { rows } = await options.pool.query<{ count: string }>('select count(*) from users')
  const users = Number(rows[0]?.count ?? 0)
  const cursor = await deepCursor(options.pool, 40)
  const [firstPage, deepPage] = await measurePages(options, [
    '/users?limit=20',
    `/users?limit=20&cursor=${cursor}`,
  ])
  if (!firstPage || !deepPage) throw new Error('pages missing')
  return {
    users,
    first: firstPage,
    deep: deepPage,
    serialP50Ratio: deepPage.serialP50Ms / firstPage.serialP50Ms,
    loadedP50Ratio: deepPage.loaded.p50Ms / firstPage.loaded.p50Ms,
    peakRssBytes: Math.max(firstPage.loaded.peakRssBytes, deepPage.loaded.peakRssBytes),
  }
}
