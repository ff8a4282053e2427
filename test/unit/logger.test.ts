import { Writable } from 'node:stream'
import type { LevelWithSilent } from 'pino'
import { describe, expect, it } from 'vitest'
import { createLogger, moreSevereLevel, redactUrl, serializeError } from '../../src/core/logger.js'

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

describe('redactUrl', () => {
  it.each([
    ['/users/me', '/users/me'],
    ['/users/me?access_token=eyJhbGciOi.x.y', '/users/me?access_token=[redacted]'],
    ['/users?q=ana%40example&limit=5', '/users?q=[redacted]&limit=[redacted]'],
    ['/users?q=', '/users?q=[redacted]'],
    ['/users?flag', '/users?flag=[redacted]'],
    ['/users/me?eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', '/users/me?[redacted]'],
    ['/users?a=1&&b=2', '/users?a=[redacted]&b=[redacted]'],
    ['/users?', '/users?'],
  ])('%s → %s', (url, logged) => expect(redactUrl(url)).toBe(logged))
})

describe('createLogger', () => {
  it('writes the request line with the path and no query value', () => {
    const lines: string[] = []
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const logger = createLogger({ logLevel: 'info', isProduction: true }, destination)
    const request = {
      method: 'GET',
      url: '/users?q=secret-search&access_token=secret-token',
      host: 'api.example.com',
      ip: '203.0.113.9',
      socket: { remotePort: 5555 },
    }
    logger.child({ reqId: 'r-1' }).info({ req: request }, 'incoming request')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      reqId: 'r-1',
      req: {
        method: 'GET',
        url: '/users?q=[redacted]&access_token=[redacted]',
        remoteAddress: '203.0.113.9',
      },
    })
    expect(lines[0]).not.toContain('secret-')
  })
})
