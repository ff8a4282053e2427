import type { LevelWithSilent } from 'pino'
import { describe, expect, it } from 'vitest'
import { moreSevereLevel, serializeError } from '../../src/core/logger.js'

describe('serializeError', () => {
  it('keeps bound query parameters (hashes, e-mails) out of logged errors', () => {
    const cause = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
    })
    const error = Object.assign(
      new Error(
        'Failed query: insert into "users" ("email", "password_hash") values ($1, $2)\nparams: ana@example.com,$2b$12$secrethash',
      ),
      { query: 'insert into "users" ...', params: ['ana@example.com', '$2b$12$secrethash'], cause },
    )
    const serialized = serializeError(error)
    const text = JSON.stringify(serialized)
    expect(text).not.toContain('secrethash')
    expect(text).not.toContain('ana@example.com')
    expect(serialized.message).toContain('Failed query: insert into "users"')
    expect(serialized.message).toContain('params: [redacted]')
    expect(text).toContain('duplicate key value')
  })
})

describe('moreSevereLevel', () => {
  it.each([
    ['warn', 'info', 'warn'],
    ['warn', 'silent', 'silent'],
    ['warn', 'error', 'error'],
    ['debug', 'info', 'info'],
  ] as [LevelWithSilent, LevelWithSilent, LevelWithSilent][])('(%s, %s) → %s', (a, b, expected) =>
    expect(moreSevereLevel(a, b)).toBe(expected),
  )
})
