import type { Variable } from './variable.js'
import { E_MAIL, FIRST_ADMIN, LIMITS, MFA } from './variables-accounts.js'
import {
  BACKGROUND_WORK,
  DATABASE,
  ERROR_REPORTING,
  HTTP,
  METRICS,
  RUNTIME,
} from './variables-service.js'
import { TOKENS } from './variables-tokens.js'

/**
 * Every variable the service reads, once, in the sections and order of `.env.example`
 * (`npm run docs:config` writes it and the README's table from these).
 */
export const SECTIONS = [
  { title: 'runtime', variables: RUNTIME },
  { title: 'database', variables: DATABASE },
  { title: 'tokens', variables: TOKENS },
  { title: 'background work', variables: BACKGROUND_WORK },
  { title: 'e-mail', variables: E_MAIL },
  { title: 'limits', variables: LIMITS },
  { title: 'HTTP', variables: HTTP },
  { title: 'first admin', variables: FIRST_ADMIN },
  { title: 'two-factor authentication', variables: MFA },
  { title: 'error reporting', variables: ERROR_REPORTING },
  { title: 'metrics', variables: METRICS },
] as const

export const VARIABLES = {
  ...RUNTIME,
  ...DATABASE,
  ...TOKENS,
  ...BACKGROUND_WORK,
  ...E_MAIL,
  ...LIMITS,
  ...HTTP,
  ...FIRST_ADMIN,
  ...MFA,
  ...ERROR_REPORTING,
  ...METRICS,
}

export type SettingName = keyof typeof VARIABLES
/** The value of each variable, under its config name. */
export type Settings = {
  [K in SettingName]: (typeof VARIABLES)[K] extends Variable<infer V> ? V : never
}

/** The config: the variables' values, completed with what follows from them. */
export function completeSettings(settings: Settings) {
  return {
    ...settings,
    isProduction: settings.nodeEnv === 'production',
    mailTransport: settings.mailTransport ?? (settings.smtpUrl === null ? 'log' : 'smtp'),
    publicUrl: settings.publicUrl ?? `http://localhost:${settings.port}`,
  }
}
