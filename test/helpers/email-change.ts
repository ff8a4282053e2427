import { expect } from 'vitest'
import type { TestApp } from './app.js'
import { authHeaders, type MadeUser } from './factories.js'
import { codeFrom } from './smtp.js'

export const WRONG_PASSWORD = 'not-the-password-77'
export const WRONG_CURRENT_PASSWORD = {
  code: 'invalid_credentials',
  detail: [
    {
      loc: ['body', 'current_password'],
      msg: 'Current password is incorrect',
      type: 'invalid_credentials',
    },
  ],
}

let address = 0
/** A client address of its own, so that the login throttle of one test leaves the others be. */
export const nextAddress = () => `198.19.${Math.floor(++address / 250)}.${(address % 250) + 1}`

/** The e-mail change as a signed-in user makes it, on the test app `t` returns. */
export function emailChangeFlows(t: () => TestApp) {
  // One session per user, made once: requests then start at once, as the race test needs.
  const sessions = new Map<string, Promise<{ authorization: string }>>()
  const headersOf = (user: MadeUser) => {
    let headers = sessions.get(user.id)
    if (!headers) {
      headers = authHeaders(t(), user)
      sessions.set(user.id, headers)
    }
    return headers
  }
  const requestChange = async (
    user: MadeUser,
    newEmail: string,
    currentPassword = user.password,
    remoteAddress = nextAddress(),
  ) =>
    t().app.inject({
      method: 'POST',
      url: '/users/me/email',
      headers: await headersOf(user),
      payload: { new_email: newEmail, current_password: currentPassword },
      remoteAddress,
    })
  const confirm = async (user: MadeUser, code: string) =>
    t().app.inject({
      method: 'POST',
      url: '/users/me/email/confirm',
      headers: await headersOf(user),
      payload: { code },
    })
  const me = async (user: MadeUser) =>
    (
      await t().app.inject({ method: 'GET', url: '/users/me', headers: await headersOf(user) })
    ).json()
  /** Requests the change and returns the code of the `nth` message to `newEmail`. */
  async function codeFor(user: MadeUser, newEmail: string, nth = 1) {
    const response = await requestChange(user, newEmail)
    expect(response.statusCode).toBe(202)
    return codeFrom(await t().inbox.waitForMessage(newEmail, nth))
  }
  /** After the clock has moved past the access tokens' lifetime: new sessions. */
  const newSessions = () => sessions.clear()
  return { requestChange, confirm, me, codeFor, newSessions }
}
