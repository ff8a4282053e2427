import { describe, expect, it } from 'vitest'
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from '../../src/core/cursor.js'
import { AppError } from '../../src/core/errors.js'

const position = { createdAt: '2026-11-25T10:00:00.123456Z', id: '01JD8X4ZQK3V7M2N5P6R8S9T0W' }
const token = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

function rejection(cursor: string): AppError {
  try {
    decodeCursor(cursor)
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error(`accepted ${cursor}`)
}

describe('keyset cursor', () => {
  it('round-trips the position at microsecond precision', () => {
    const cursor = encodeCursor(position)
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(cursor.length).toBeLessThan(MAX_CURSOR_LENGTH)
    expect(decodeCursor(cursor)).toEqual(position)
  })

  it.each([
    ['empty', ''],
    ['padding and other base64 characters', `${encodeCursor(position)}=`],
    ['not JSON', Buffer.from('{"oops').toString('base64url')],
    ['a number', token(42)],
    ['null', token(null)],
    ['an object', token(position)],
    ['one element', token([position.createdAt])],
    ['three elements', token([position.createdAt, position.id, 'x'])],
    ['a numeric time', token([1_764_064_800_000, position.id])],
    ['milliseconds only', token(['2026-11-25T10:00:00.123Z', position.id])],
    ['an offset instead of Z', token(['2026-11-25T10:00:00.123456+01:00', position.id])],
    ['February 31st', token(['2026-02-31T10:00:00.123456Z', position.id])],
    ['month 13', token(['2026-13-01T10:00:00.123456Z', position.id])],
    ['year 0', token(['0000-01-01T00:00:00.000000Z', position.id])],
    ['SQL in the time', token(["2026-11-25T10:00:00.123456Z'; drop table users;--", position.id])],
    ['a lower-case id', token([position.createdAt, position.id.toLowerCase()])],
    ['an id with I, L, O or U', token([position.createdAt, '01JD8X4ZQK3V7M2N5P6R8S9T0I'])],
    ['an id beyond 48-bit time', token([position.createdAt, '81JD8X4ZQK3V7M2N5P6R8S9T0W'])],
    ['too long', 'A'.repeat(MAX_CURSOR_LENGTH + 1)],
  ])('rejects %s with a 422 naming the cursor', (_name, cursor) => {
    const error = rejection(cursor)
    expect(error.status).toBe(422)
    expect(error.code).toBe('validation_error')
    expect(error.detail).toBe('Invalid cursor')
    expect(error.invalidInput).toEqual({ field: 'cursor', type: 'value_error' })
  })
})
