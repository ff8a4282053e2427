import { createHash, createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { deriveKeys, emailPseudonym, keysFor } from '../../src/core/keys.js'
import { hashCode } from '../../src/core/security.js'

const SECRET = 'unit-test-secret-0123456789abcdef0123456789'
const bytesOf = (keys: ReturnType<typeof deriveKeys>) =>
  Object.values(keys).map((key) => key.export().toString('hex'))

describe('keys derived from SECRET_KEY', () => {
  it('are 256-bit, distinct from each other and from the secret itself', () => {
    const hex = bytesOf(deriveKeys(SECRET))
    expect(hex).toHaveLength(6)
    for (const key of hex) expect(key).toMatch(/^[0-9a-f]{64}$/)
    expect(new Set(hex).size).toBe(6)
    expect(hex).not.toContain(Buffer.from(SECRET).toString('hex').slice(0, 64))
  })

  it('are the same for the same secret (tokens survive a restart) and differ for another', () => {
    expect(bytesOf(deriveKeys(SECRET))).toEqual(bytesOf(deriveKeys(SECRET)))
    const other = bytesOf(deriveKeys(`${SECRET}x`))
    for (const key of bytesOf(deriveKeys(SECRET))) expect(other).not.toContain(key)
  })

  it('are derived once per secret and then shared', () => {
    expect(keysFor(SECRET)).toBe(keysFor(SECRET))
    expect(bytesOf(keysFor(SECRET))).toEqual(bytesOf(deriveKeys(SECRET)))
  })

  it('refuse an empty secret', () => {
    expect(() => deriveKeys('')).toThrow('SECRET_KEY is not set')
    expect(() => keysFor(null)).toThrow('SECRET_KEY is not set')
  })

  it('hash codes under the code key: not the JWT key, not the raw secret', () => {
    const keys = deriveKeys(SECRET)
    const scope = 'reset_password:01JD8X4ZQK3V7M2N5P6R8S9T0W'
    const stored = hashCode(keys.codeHmac, scope, '123456')
    const under = (key: Parameters<typeof createHmac>[1]) =>
      createHmac('sha256', key).update(`${scope}:123456`).digest('hex')
    expect(stored).toBe(under(keys.codeHmac))
    expect(stored).not.toBe(under(keys.accessToken))
    expect(stored).not.toBe(under(SECRET))
  })
})

describe('emailPseudonym', () => {
  it('names an address stably without revealing it, and only with the secret', () => {
    const keys = deriveKeys(SECRET)
    const name = emailPseudonym(keys, 'ana@example.com')
    expect(name).toMatch(/^[0-9a-f]{32}$/)
    expect(emailPseudonym(keys, 'ana@example.com')).toBe(name)
    expect(emailPseudonym(keys, 'bob@example.com')).not.toBe(name)
    expect(emailPseudonym(deriveKeys(`${SECRET}x`), 'ana@example.com')).not.toBe(name)
    // Not the plain SHA-256 anyone could compute from a list of addresses.
    const sha = createHash('sha256').update('ana@example.com').digest('hex')
    expect(sha.startsWith(name)).toBe(false)
  })
})
