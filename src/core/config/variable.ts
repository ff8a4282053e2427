import type { Parser, Verdict } from './parsers.js'

/** What one environment variable is: how it is read, and how it is documented. */
interface Declaration<T> {
  /** The environment variable. */
  env: string
  parse: Parser<T>
  /** The text used when the variable is unset or empty, parsed like a set value. */
  default?: string
  /** `.env.example` shows this value on a commented-out line instead of the default. */
  example?: string
  /** For the README, what an unset variable without a default means (`in-process`). */
  unset?: string
  /** Where production differs, for the README: `required in production`. */
  production?: string
  /**
   * The comment above the variable in `.env.example`. Without one the variable shares the
   * comment of the one before it, and its row in the README's table.
   */
  doc?: string
  /** The README table's meaning, for a variable with a `doc`. */
  summary?: string
  /**
   * Taken exactly as set (never trimmed) and never echoed in an error: a password.
   * Other values are trimmed, and an error line shows what was set.
   */
  secret?: boolean
}

export interface Variable<V> extends Omit<Declaration<unknown>, 'parse'> {
  /** The value of the variable as set in the environment (`undefined` when unset). */
  read(raw: string | undefined): Verdict<V>
}

/** The text of a variable, or undefined when unset or empty. */
export function setText(variable: Pick<Declaration<unknown>, 'secret'>, raw: string | undefined) {
  const value = variable.secret ? raw : raw?.trim()
  return value === undefined || value === '' ? undefined : value
}

/**
 * Declares one variable. Its value is the parsed text, or the parsed default when unset;
 * without a default, `whenUnset` (null unless given).
 */
export function variable<T>(declaration: Declaration<T> & { default: string }): Variable<T>
export function variable<T, U>(declaration: Declaration<T> & { whenUnset: U }): Variable<T | U>
export function variable<T>(declaration: Declaration<T>): Variable<T | null>
export function variable<T>(
  declaration: Declaration<T> & { whenUnset?: unknown },
): Variable<unknown> {
  const { parse, whenUnset = null, ...rest } = declaration
  return {
    ...rest,
    read(raw) {
      const text = setText(declaration, raw) ?? declaration.default
      return text === undefined ? { value: whenUnset } : parse(text)
    },
  }
}
