import { dictionary } from '@zxcvbn-ts/language-common'
import { invalidField } from './errors.js'

/**
 * The ~49,000 most common passwords (zxcvbn-ts's list), lower-cased for an exact,
 * case-insensitive match. Length is checked by the schema; there are no composition rules.
 */
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(
  (dictionary['passwords-common'] as string[]).map((password) => password.toLowerCase()),
)

export const isCommonPassword = (password: string) => COMMON_PASSWORDS.has(password.toLowerCase())

/** Throws `422 weak_password` at `loc` (e.g. `['body', 'password']`) for a common password. */
export function assertStrongPassword(password: string, loc: (string | number)[]) {
  if (isCommonPassword(password)) {
    throw invalidField(
      loc,
      'Password is too common; choose a less guessable one',
      'weak_password',
      'weak_password',
    )
  }
}
