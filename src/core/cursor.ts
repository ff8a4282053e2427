import { invalidField } from './errors.js'
import { ULID_PATTERN } from './ids.js'

/**
 * The keyset position of `GET /users`: the last row's `created_at` and `id`.
 * `createdAt` is PostgreSQL's text at microsecond precision (`2026-11-25T10:00:00.123456Z`):
 * a JavaScript Date keeps only milliseconds, and rounding would skip rows created within
 * the same millisecond.
 */
export interface Cursor {
  createdAt: string
  id: string
}

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})\d{3}Z$/
const ULID = new RegExp(ULID_PATTERN)
const BASE64URL = /^[A-Za-z0-9_-]+$/
/** Far above any real cursor (about 80 characters); refuses junk before decoding it. */
export const MAX_CURSOR_LENGTH = 200

/** An opaque base64url token; clients only hand it back. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.id]), 'utf8').toString('base64url')
}

/** The cursor inside `token`, or a `422` naming the `cursor` input: never a 500 from SQL. */
export function decodeCursor(token: string): Cursor {
  const cursor = parse(token)
  if (!cursor) throw invalidField('cursor', 'Invalid cursor', 'value_error')
  return cursor
}

function parse(token: string): Cursor | null {
  if (token.length > MAX_CURSOR_LENGTH || !BASE64URL.test(token)) return null
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))
  } catch {
    return null
  }
  if (!Array.isArray(value) || value.length !== 2) return null
  const [createdAt, id] = value as unknown[]
  if (typeof createdAt !== 'string' || typeof id !== 'string') return null
  if (!ULID.test(id) || !isRealInstant(createdAt)) return null
  return { createdAt, id }
}

/** Rejects shapes PostgreSQL would refuse (a 500 otherwise), such as February 31st. */
function isRealInstant(text: string): boolean {
  const millis = TIMESTAMP.exec(text)?.[1]
  if (millis === undefined) return false
  const date = new Date(`${millis}Z`)
  // Year 0 exists in JavaScript but not in PostgreSQL.
  return date.getUTCFullYear() >= 1 && date.toISOString() === `${millis}Z`
}
