import type { Variable } from './variable.js'

export type Env = Record<string, string | undefined>

/** Raised when the environment holds a bad value; each line names one variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** `NAME: reason (got "value")`, the value as set; a secret's value is never shown. */
export function problemLine(
  variable: Pick<Variable<unknown>, 'env' | 'secret'>,
  reason: string,
  env: Env,
): string {
  const line = `${variable.env}: ${reason}`
  return variable.secret ? line : `${line} (got "${env[variable.env]}")`
}
