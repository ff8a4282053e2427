import { invalidField } from '../core/errors.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import { verifyPassword } from '../core/security.js'
import type { UserRow } from '../db/schema.js'

/**
 * The `current_password` of any route that takes one: wrong, it is `422
 * invalid_credentials` at that field, and a failed login of the account, under the same
 * throttle (a `429` once over it, even with the right password).
 */
export async function checkCurrentPassword(
  user: UserRow,
  password: string,
  throttle: LoginThrottle,
): Promise<void> {
  const attempt = await throttle.begin(user.email)
  if (!(await verifyPassword(password, user.passwordHash))) {
    throw invalidField(
      'currentPassword',
      'Current password is incorrect',
      'invalid_credentials',
      'invalid_credentials',
    )
  }
  await attempt.matched()
}
