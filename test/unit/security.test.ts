import { createHmac, createSecretKey } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  generateCode,
  generateRefreshToken,
  hashCode,
  hashPassword,
  hashToken,
  safeEqual,
  verifyPassword,
} from '../../src/core/security.js'

describe('passwords', () => {
  it('stores bcrypt and verifies the exact password only', async () => {
    const hash = await hashPassword('Crema-Lungo-2026', 4)
    expect(hash).toMatch(/^\$2b\$04\$/)
    expect(hash).not.toContain('Crema')
    expect(await verifyPassword('Crema-Lungo-2026', hash)).toBe(true)
    expect(await verifyPassword('crema-lungo-2026', hash)).toBe(false)
    expect(await verifyPassword('Crema-Lungo-2026 ', hash)).toBe(false)
  })

  it('counts every character past bcrypt’s 72 bytes', async () => {
    const base = 'x'.repeat(100)
    const hash = await hashPassword(`${base}a`, 4)
    expect(await verifyPassword(`${base}a`, hash)).toBe(true)
    expect(await verifyPassword(`${base}b`, hash)).toBe(false)
    expect(await verifyPassword(base, hash)).toBe(false)
  })

  it('compares any script as sent, with no Unicode normalisation', async () => {
    const composed = 'café-crème-brûlée'.normalize('NFC')
    const hash = await hashPassword(composed, 4)
    expect(await verifyPassword(composed, hash)).toBe(true)
    expect(await verifyPassword(composed.normalize('NFD'), hash)).toBe(false)
  })
})

describe('one-time codes', () => {
  it('are 6 digits, leading zeros kept, spread over the range', () => {
    const codes = Array.from({ length: 2_000 }, generateCode)
    for (const code of codes) expect(code).toMatch(/^\d{6}$/)
    expect(codes.some((code) => code.startsWith('0'))).toBe(true)
    expect(new Set(codes).size).toBeGreaterThan(1_900)
  })

  it('are stored as an HMAC bound to the secret and the scope', () => {
    const keyA = createSecretKey(Buffer.from('secret-a'))
    const hash = hashCode(keyA, 'verify_email:01J', '123456')
    expect(hash).toBe(
      createHmac('sha256', 'secret-a').update('verify_email:01J:123456').digest('hex'),
    )
    expect(hash).not.toContain('123456')
    const keyB = createSecretKey(Buffer.from('secret-b'))
    expect(hashCode(keyB, 'verify_email:01J', '123456')).not.toBe(hash)
    expect(hashCode(keyA, 'reset_password:01J', '123456')).not.toBe(hash)
    expect(hashCode(keyA, 'verify_email:01K', '123456')).not.toBe(hash)
  })

  it('compare in constant time, and unequal lengths are simply unequal', () => {
    expect(safeEqual('abc', 'abc')).toBe(true)
    expect(safeEqual('abc', 'abd')).toBe(false)
    expect(safeEqual('abc', 'abcd')).toBe(false)
  })
})

describe('refresh tokens', () => {
  it('are 256 random bits in base64url, stored as SHA-256', () => {
    const token = generateRefreshToken()
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(token, 'base64url')).toHaveLength(32)
    expect(generateRefreshToken()).not.toBe(token)
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/)
    expect(hashToken(token)).not.toBe(hashToken(generateRefreshToken()))
  })
})
