import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/core/config.js'
import {
  assertValidPassword,
  checkEmail,
  checkPassword,
  isCommonPassword,
  normaliseEmail,
} from '../../src/core/credentials.js'
import { AppError } from '../../src/core/errors.js'
import { EmailSchema, PasswordSchema } from '../../src/schemas/common.js'
import { problemsOf } from '../helpers/config.js'

// The API's validator as app.ts configures it: ajv counts characters, not UTF-16 units.
const ajv = new Ajv()
const schemaAccepts = ajv.compile(EmailSchema)
const schemaAcceptsPassword = ajv.compile(PasswordSchema)

describe('e-mail addresses: the schema and checkEmail apply one rule', () => {
  it.each(['ana@example.com', ' Ana.Lima+coffee@Example.co.uk ', "o'neil@example.com"])(
    'both accept %j (stored trimmed and lower-cased)',
    (email) => {
      expect(schemaAccepts(email)).toBe(true)
      expect(checkEmail(email)).toBeNull()
    },
  )

  it.each([
    'ana@exa_mple.com',
    'Ana <ana@example.com>',
    '<ana@example.com>',
    'ana@example.com, bob@example.com',
    'ana@example.com;bob@example.com',
    'ana@example.com\r\nBcc: eve@example.com',
    '"ana lima"@example.com',
    'ana@localhost',
    'ana@@example.com',
    'ana example@example.com',
    'ana@-example.com',
    'anä@example.com',
    '',
    `${'a'.repeat(243)}@example.com`,
  ])('both refuse %j', (email) => {
    expect(schemaAccepts(email)).toBe(false)
    expect(checkEmail(email)).toEqual({ msg: 'Not a valid e-mail address', type: 'value_error' })
  })

  it('takes the longest address both ways, and one character more neither way', () => {
    const longest = `${'a'.repeat(243)}@example.co`
    expect(longest).toHaveLength(254)
    expect(schemaAccepts(longest)).toBe(true)
    expect(checkEmail(longest)).toBeNull()
    expect(schemaAccepts(`a${longest}`)).toBe(false)
    expect(checkEmail(`a${longest}`)).not.toBeNull()
  })

  it('refuses line breaks around an address in a request; settings and options are trimmed', () => {
    expect(schemaAccepts('ana@example.com\n')).toBe(false)
    expect(schemaAccepts('\nana@example.com')).toBe(false)
    expect(checkEmail('ana@example.com\n')).toBeNull()
    expect(normaliseEmail(' \tAna@Example.COM\n')).toBe('ana@example.com')
  })
})

describe('passwords: the schema and checkPassword apply one rule', () => {
  it.each([
    ['8 characters', 'brew-8ch'],
    ['128 characters', 'x'.repeat(128)],
    ['128 characters outside the BMP (256 UTF-16 units)', '☕'.repeat(8) + '𝄞'.repeat(120)],
  ])('both accept %s', (_label, password) => {
    expect(schemaAcceptsPassword(password)).toBe(true)
    expect(checkPassword(password)).toBeNull()
  })

  it.each([
    ['7 characters', 'brew-7c'],
    ['129 characters', 'x'.repeat(129)],
  ])('both refuse %s', (_label, password) => {
    expect(schemaAcceptsPassword(password)).toBe(false)
    expect(checkPassword(password)).toEqual({
      msg: 'Password must be 8 to 128 characters',
      type: 'value_error',
    })
  })

  it('refuses common passwords case-insensitively, not unusual ones', () => {
    expect(isCommonPassword('password')).toBe(true)
    expect(isCommonPassword('PaSsWoRd')).toBe(true)
    expect(isCommonPassword('brewed-arabica-42-crema')).toBe(false)
    expect(checkPassword('Password123')).toEqual({
      msg: 'Password is too common; choose a less guessable one',
      type: 'weak_password',
    })
    expect(checkPassword('brewed-arabica-42-crema')).toBeNull()
  })

  it('gives services a domain error naming the field, not an HTTP location', () => {
    let refused: unknown
    try {
      assertValidPassword('newPassword', 'qwerty123')
    } catch (error) {
      refused = error
    }
    expect(refused).toBeInstanceOf(AppError)
    expect(refused).toMatchObject({
      status: 422,
      code: 'weak_password',
      detail: 'Password is too common; choose a less guessable one',
      invalidInput: { field: 'newPassword', type: 'weak_password' },
    })
  })
})

describe('FIRST_ADMIN_EMAIL and FIRST_ADMIN_PASSWORD follow the API rules', () => {
  const admin = (email: string, password: string) => ({
    FIRST_ADMIN_EMAIL: email,
    FIRST_ADMIN_PASSWORD: password,
  })
  const PASSWORD = 'a long admin password'

  it.each(['ana@exa_mple.com', 'ana@localhost', 'Ana <ana@example.com>', 'anä@example.com'])(
    'refuses the address %j, which the API would refuse too',
    (email) => {
      expect(problemsOf(admin(email, PASSWORD))).toEqual([
        `FIRST_ADMIN_EMAIL: Not a valid e-mail address (got "${email}")`,
      ])
    },
  )

  it('refuses a password of 7 or 129 characters, or a common one, without echoing it', () => {
    for (const password of ['p'.repeat(129), 'brew-7c']) {
      expect(problemsOf(admin('boss@example.com', password))).toEqual([
        'FIRST_ADMIN_PASSWORD: Password must be 8 to 128 characters',
      ])
    }
    expect(problemsOf(admin('boss@example.com', 'Password123'))).toEqual([
      'FIRST_ADMIN_PASSWORD: Password is too common; choose a less guessable one',
    ])
  })

  it('takes a 128-character password, counted in characters, and stores the address normalised', () => {
    const password = '𝄞'.repeat(128)
    const config = loadConfig(admin(' Boss@Example.COM ', password))
    expect(config.firstAdminEmail).toBe('boss@example.com')
    expect(config.firstAdminPassword).toBe(password)
  })

  it('keeps the password exactly as given, surrounding spaces included', () => {
    const config = loadConfig({
      FIRST_ADMIN_EMAIL: 'a@example.com',
      FIRST_ADMIN_PASSWORD: '  spaced out admin  ',
    })
    expect(config.firstAdminPassword).toBe('  spaced out admin  ')
  })
})
