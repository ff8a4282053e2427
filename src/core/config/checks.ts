import { type Env, problemLine } from './problems.js'
import { setText } from './variable.js'
import { type SettingName, type Settings, VARIABLES } from './variables.js'

/** Below this a leaked hash falls to a GPU too fast; smaller costs are for tests only. */
const MIN_PRODUCTION_BCRYPT_ROUNDS = 10

/**
 * A rule over several variables. It runs only when every variable it `reads` has a valid
 * value (a bad one is reported already), and sees those alone (`Pick`), so a rule cannot
 * use a value it did not declare.
 */
export interface Check<K extends SettingName = SettingName> {
  reads: readonly K[]
  run(settings: Pick<Settings, K>, env: Env): string[]
}

const check = <const K extends SettingName>(
  reads: readonly K[],
  run: (settings: Pick<Settings, K>, env: Env) => string[],
): Check => ({ reads, run: run as Check['run'] })

const isProduction = (settings: Pick<Settings, 'nodeEnv'>) => settings.nodeEnv === 'production'
/** The line for a variable whose value is refused, showing that value. */
const refused = (env: Env, name: SettingName, reason: string) =>
  problemLine(VARIABLES[name], reason, env)
/** The line for a variable that is missing or refused whatever its value. */
const required = (name: SettingName, reason: string) => `${VARIABLES[name].env}: ${reason}`

export const CHECKS: readonly Check[] = [
  check(['nodeEnv', 'secretKey'], (settings) =>
    isProduction(settings) && settings.secretKey === null
      ? [required('secretKey', 'is required when NODE_ENV=production (at least 32 bytes)')]
      : [],
  ),

  check(['nodeEnv', 'bcryptRounds'], (settings, env) =>
    isProduction(settings) && settings.bcryptRounds < MIN_PRODUCTION_BCRYPT_ROUNDS
      ? [
          refused(
            env,
            'bcryptRounds',
            `must be at least ${MIN_PRODUCTION_BCRYPT_ROUNDS} when NODE_ENV=production`,
          ),
        ]
      : [],
  ),

  // `true` believes whatever X-Forwarded-For a client sends: every client could pick its
  // own address, and so its own rate-limit and login-throttle keys.
  check(['nodeEnv', 'trustProxy'], (settings, env) =>
    isProduction(settings) && settings.trustProxy === true
      ? [
          refused(
            env,
            'trustProxy',
            'true is refused when NODE_ENV=production: it believes any X-Forwarded-For, so clients pick their own rate-limit address; set the hop count of your proxies (e.g. 1) or, better, their addresses/CIDRs (e.g. 10.0.0.0/8)',
          ),
        ]
      : [],
  ),

  // Without SMTP, e-mails go to the log, codes included: fine on a laptop, an account
  // takeover waiting in production unless the operator says that is what they want.
  check(['nodeEnv', 'smtpUrl', 'mailTransport'], ({ smtpUrl, mailTransport, ...rest }) => {
    if (mailTransport === 'smtp' && smtpUrl === null) {
      return [required('mailTransport', 'smtp needs SMTP_URL (smtp://… or smtps://…)')]
    }
    if (isProduction(rest) && mailTransport === null && smtpUrl === null) {
      return [
        required(
          'smtpUrl',
          'is required when NODE_ENV=production (otherwise e-mailed codes are written to the log); set MAIL_TRANSPORT=log if that is what you want',
        ),
      ]
    }
    return []
  }),

  // The account-wide limit must stay above the per-client one, or one client locks
  // accounts before its own limit stops it.
  check(['loginMaxFailures', 'loginAccountMaxFailures'], (settings, env) => {
    const perClient = settings.loginMaxFailures
    const perAccount = settings.loginAccountMaxFailures
    if (perAccount === 0 || perClient === 0 || perAccount > perClient) return []
    return [
      refused(
        env,
        'loginAccountMaxFailures',
        `must be 0 or more than LOGIN_MAX_FAILURES (${perClient}), or a single client locks the account before its own limit stops it`,
      ),
    ]
  }),

  // Two listeners cannot share a port; PORT=0 (any free port) never clashes.
  check(['port', 'metricsPort'], (settings, env) =>
    settings.metricsPort !== null && settings.metricsPort === settings.port
      ? [refused(env, 'metricsPort', 'must differ from PORT (it is a second listener)')]
      : [],
  ),

  // Both or neither, whether or not their values are valid: it reads no values, only
  // whether each is set, so one start reports this along with a bad address.
  check([], (_settings, env) => {
    const email = setText(VARIABLES.firstAdminEmail, env.FIRST_ADMIN_EMAIL)
    const password = setText(VARIABLES.firstAdminPassword, env.FIRST_ADMIN_PASSWORD)
    return (email === undefined) !== (password === undefined)
      ? ['FIRST_ADMIN_EMAIL, FIRST_ADMIN_PASSWORD: set both or neither']
      : []
  }),
]
