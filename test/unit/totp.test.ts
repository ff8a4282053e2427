import { HOTP, Secret, TOTP } from 'otpauth'
import { describe, expect, it } from 'vitest'
import { deriveKeys } from '../../src/core/keys.js'
import {
  generateRecoveryCodes,
  generateTotpSecret,
  hashRecoveryCode,
  matchTotp,
  totpSecretText,
  totpUri,
} from '../../src/core/mfa.js'
import { open, seal } from '../../src/core/sealing.js'
import { base32Decode, hotp, totpAt } from '../helpers/totp.js'

// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890", 8 digits.
const RFC_SEED = Buffer.from('12345678901234567890', 'ascii')
const RFC_VECTORS: [seconds: number, code: string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
]

describe('RFC 6238 appendix B (SHA-1)', () => {
  it.each(RFC_VECTORS)('at %i s the code is %s, by the test implementation', (seconds, code) => {
    expect(hotp(RFC_SEED, Math.floor(seconds / 30), 8)).toBe(code)
  })

  it.each(RFC_VECTORS)(
    'at %i s the code is %s, by the library the service uses',
    (seconds, code) => {
      const secret = new Secret({ buffer: new Uint8Array(RFC_SEED).buffer })
      expect(TOTP.generate({ secret, digits: 8, timestamp: seconds * 1000 })).toBe(code)
      expect(HOTP.generate({ secret, digits: 8, counter: Math.floor(seconds / 30) })).toBe(code)
    },
  )
})

describe('matchTotp', () => {
  // A fixed secret (RFC 6238's): at `now` the codes two steps away differ from the three
  // accepted ones, so their refusal is asserted every run (a random secret makes them
  // collide three times in a million).
  const secret = Buffer.from('12345678901234567890')
  const text = totpSecretText(secret)
  const now = new Date('2026-11-27T12:00:10Z')
  const step = Math.floor(now.getTime() / 30_000)

  it('gives the step of a code within one step either way of now', () => {
    expect(matchTotp(secret, totpAt(text, now), now)).toBe(step)
    expect(matchTotp(secret, totpAt(text, now, -1), now)).toBe(step - 1)
    expect(matchTotp(secret, totpAt(text, now, 1), now)).toBe(step + 1)
  })

  it('refuses codes two steps away and anything but six digits', () => {
    const twoBack = totpAt(text, now, -2)
    const twoAhead = totpAt(text, now, 2)
    expect(matchTotp(secret, twoBack, now)).toBeNull()
    expect(matchTotp(secret, twoAhead, now)).toBeNull()
    expect(matchTotp(secret, `${totpAt(text, now)}0`, now)).toBeNull()
    expect(matchTotp(secret, 'abcdef', now)).toBeNull()
  })

  it('shows the secret in base32 that decodes to the same 20 bytes', () => {
    expect(secret).toHaveLength(20)
    expect(base32Decode(text).equals(secret)).toBe(true)
  })
})

describe('totpUri', () => {
  it('names the issuer and the account, with SHA-1, 6 digits and 30 s', () => {
    const secret = generateTotpSecret()
    const uri = new URL(totpUri(secret, 'ana@example.com'))
    expect(uri.protocol).toBe('otpauth:')
    expect(uri.host).toBe('totp')
    expect(decodeURIComponent(uri.pathname)).toBe('/Coffee Shop:ana@example.com')
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      issuer: 'Coffee Shop',
      secret: totpSecretText(secret),
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    })
  })
})

describe('sealing', () => {
  const keys = deriveKeys('a-secret-key-for-sealing-tests-0123456789')

  it('opens what it sealed only with the same key and label', () => {
    const secret = generateTotpSecret()
    const sealed = seal(keys.totpSecretSealing, 'totp:A', secret)
    expect(sealed).not.toContain(secret.toString('base64url'))
    expect(open(keys.totpSecretSealing, 'totp:A', sealed).equals(secret)).toBe(true)
    expect(() => open(keys.totpSecretSealing, 'totp:B', sealed)).toThrow()
    expect(() => open(keys.signingKeySealing, 'totp:A', sealed)).toThrow()
  })
})

describe('recovery codes', () => {
  const key = deriveKeys('a-secret-key-for-recovery-tests-0123456789').recoveryCodeHmac

  it('are ten distinct codes of three groups of four', () => {
    const codes = generateRecoveryCodes()
    expect(codes).toHaveLength(10)
    expect(new Set(codes).size).toBe(10)
    for (const code of codes) expect(code).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/)
  })

  it('hash the same whatever the case, spaces and hyphens, and differently per code', () => {
    const [first = '', second = ''] = generateRecoveryCodes()
    const hash = hashRecoveryCode(key, first)
    expect(hashRecoveryCode(key, ` ${first.toUpperCase().replaceAll('-', ' ')} `)).toBe(hash)
    expect(hashRecoveryCode(key, first.replaceAll('-', ''))).toBe(hash)
    expect(hashRecoveryCode(key, second)).not.toBe(hash)
    expect(hash).not.toContain(first.replaceAll('-', ''))
  })
})
