import { createRequire } from 'node:module'
import { invalidField } from './errors.js'

/**
 * The e-mail and password rules, in one place for every way in: the API's schemas
 * (schemas/common.ts derives its constraints from these constants), the services, the
 * FIRST_ADMIN_* settings and the CLI. A value one of them accepts, the others accept too.
 */

export const EMAIL_MAX_LENGTH = 254
export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 128

/**
 * One address, no display name, no list, no CR/LF. Every repetition is bounded (by the
 * 254 of the maximum length, so nothing valid changes): the validator also runs this on
 * over-long strings, and bounded it gives up on them in well under a millisecond.
 */
export const EMAIL_ADDRESS_PATTERN =
  "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,254}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){1,126}"

// The `u` flag, as the schema validator compiles patterns.
const EMAIL_ADDRESS = new RegExp(`^${EMAIL_ADDRESS_PATTERN}$`, 'u')

const require = createRequire(import.meta.url)
let commonPasswords: ReadonlySet<string> | undefined

/**
 * The ~49,000 most common passwords (zxcvbn-ts's list), lower-cased for an exact,
 * case-insensitive match. There are no composition rules. Loaded on the first password
 * checked: the list and its module keep about 10 MB resident (docs/benchmark.md,
 * "Memory"), which a process that only serves signed-in requests never needs.
 */
function commonPasswordList(): ReadonlySet<string> {
  if (commonPasswords === undefined) {
    const { dictionary } = require('@zxcvbn-ts/language-common') as {
      dictionary: Record<string, string[]>
    }
    commonPasswords = new Set(
      (dictionary['passwords-common'] as string[]).map((password) => password.toLowerCase()),
    )
  }
  return commonPasswords
}

/** Why a credential is refused: a sentence for people, and the 422 item's `type`. */
export interface CredentialProblem {
  msg: string
  type: 'value_error' | 'weak_password'
}

/** Trimmed and lower-cased: how addresses are stored and compared. */
export const normaliseEmail = (email: string) => email.trim().toLowerCase()

/** Checks the address as it will be stored (normalised); null when it is fine. */
export function checkEmail(email: string): CredentialProblem | null {
  const normalised = normaliseEmail(email)
  if (normalised.length > EMAIL_MAX_LENGTH || !EMAIL_ADDRESS.test(normalised)) {
    return { msg: 'Not a valid e-mail address', type: 'value_error' }
  }
  return null
}

export const isCommonPassword = (password: string) =>
  commonPasswordList().has(password.toLowerCase())

/**
 * A password is compared exactly as given (no trimming, no Unicode normalisation); its
 * length counts characters (code points), as the schema validator does. Null when fine.
 */
export function checkPassword(password: string): CredentialProblem | null {
  const length = [...password].length
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    return {
      msg: `Password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`,
      type: 'value_error',
    }
  }
  if (isCommonPassword(password)) {
    return { msg: 'Password is too common; choose a less guessable one', type: 'weak_password' }
  }
  return null
}

/** The domain error for a refused credential: a 422 naming the input `field`. */
function refuse(field: string, problem: CredentialProblem): never {
  const code = problem.type === 'weak_password' ? 'weak_password' : 'validation_error'
  throw invalidField(field, problem.msg, problem.type, code)
}

/** For services: throws a 422 naming `field` (e.g. `newPassword`) unless the password is fine. */
export function assertValidPassword(field: string, password: string) {
  const problem = checkPassword(password)
  if (problem) refuse(field, problem)
}

/** For services: throws a 422 naming `field` unless the address is fine. */
export function assertValidEmail(field: string, email: string) {
  const problem = checkEmail(email)
  if (problem) refuse(field, problem)
}
