import { type LevelWithSilent, type Logger, levels, pino, stdSerializers } from 'pino'
import type { Config } from './config.js'

const LEVEL_RANK: Record<string, number> = {
  ...levels.values,
  silent: Number.POSITIVE_INFINITY,
}

/** The more severe of two levels: a quiet route (`warn`) must not undercut `LOG_LEVEL=silent`. */
export const moreSevereLevel = (a: LevelWithSilent, b: LevelWithSilent): LevelWithSilent =>
  (LEVEL_RANK[a] ?? 0) >= (LEVEL_RANK[b] ?? 0) ? a : b

/**
 * Drizzle puts the bound parameters (password and token hashes, e-mails) into its error
 * message and a `params` field; neither may reach the log.
 */
export function serializeError(error: unknown) {
  const serialized = stdSerializers.err(error as Error) as unknown as Record<string, unknown>
  return scrubParams(serialized)
}

function scrubParams(value: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...value }
  delete copy.params
  for (const key of ['message', 'stack']) {
    if (typeof copy[key] === 'string') {
      copy[key] = (copy[key] as string).replace(/\nparams: [^\n]*/g, '\nparams: [redacted]')
    }
  }
  if (copy.cause !== null && typeof copy.cause === 'object') {
    copy.cause = scrubParams(copy.cause as Record<string, unknown>)
  }
  return copy
}

/** JSON logs; human-readable ones only in development on a terminal. */
export function createLogger(config: Pick<Config, 'logLevel' | 'isProduction'>): Logger {
  const pretty = !config.isProduction && process.stdout.isTTY === true
  return pino({
    level: config.logLevel,
    serializers: { err: serializeError },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
      censor: '[redacted]',
    },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' },
          },
        }
      : {}),
  })
}
