import {
  type DestinationStream,
  type LevelWithSilent,
  type Logger,
  levels,
  pino,
  stdSerializers,
} from 'pino'
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

/**
 * Drizzle's `params:` part of an error message lists the bound values; it runs to the end
 * of the text, or of the message when the text is a stack (whose frames are kept).
 */
const QUERY_PARAMS = /(params:)[\s\S]*?(?=\n\s+at |$)/gi

/** `text` with the bound values of a failed query replaced by `mark`. */
export const redactQueryParams = (text: string, mark: string) =>
  text.replace(QUERY_PARAMS, `$1 ${mark}`)

function scrubParams(value: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...value }
  delete copy.params
  for (const key of ['message', 'stack']) {
    if (typeof copy[key] === 'string') {
      copy[key] = redactQueryParams(copy[key] as string, '[redacted]')
    }
  }
  if (copy.cause !== null && typeof copy.cause === 'object') {
    copy.cause = scrubParams(copy.cause as Record<string, unknown>)
  }
  return copy
}

/** A query parameter name worth keeping: short and plain (a bare `?<token>` is not). */
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_.[\]-]{0,31}$/

/**
 * The URL as the log shows it: the path, and each query parameter's name with its value
 * redacted. Values carry tokens (`?access_token=…`) and personal data (`q=` searches).
 */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?')
  if (mark === -1) return url
  const names = url
    .slice(mark + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const name = pair.split('=', 1)[0] as string
      return PLAIN_NAME.test(name) ? `${name}=[redacted]` : '[redacted]'
    })
  return `${url.slice(0, mark)}?${names.join('&')}`
}

/** Fastify's request serialiser (method, url, host, client address), with the query redacted. */
function serializeRequest(request: {
  method: string
  url: string
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

/**
 * JSON logs; human-readable ones only in development on a terminal. `destination` is for
 * tests that read what production would write.
 */
export function createLogger(
  config: Pick<Config, 'logLevel' | 'isProduction'>,
  destination?: DestinationStream,
): Logger {
  const pretty = !config.isProduction && process.stdout.isTTY === true && !destination
  const options = {
    level: config.logLevel,
    serializers: { err: serializeError, req: serializeRequest },
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
  }
  return destination ? pino(options, destination) : pino(options)
}
