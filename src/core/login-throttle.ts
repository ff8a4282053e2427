/**
 * The login throttle as the services see it: they report each password check, the HTTP
 * layer decides the limits and binds one throttle to the client of each request.
 * An attempt is counted before the password is compared, so parallel guesses cannot get
 * past the limit; a right password takes its attempt back.
 */
export interface LoginThrottle {
  /** Counts a password attempt on this account (a normalised e-mail); a 429 AppError when over. */
  begin(email: string): Promise<PasswordAttempt>
}

export interface PasswordAttempt {
  /** The password was right: the attempt is no failure, and this client's failures are forgotten. */
  matched(): Promise<void>
}

const nothingToTakeBack: PasswordAttempt = { matched: async () => {} }

/** When the throttle is off (LOGIN_MAX_FAILURES=0 and LOGIN_ACCOUNT_MAX_FAILURES=0). */
export const unthrottled: LoginThrottle = { begin: async () => nothingToTakeBack }
