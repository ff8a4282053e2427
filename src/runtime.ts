import type { Logger } from 'pino'
import { ConfigError } from './core/config.js'
import { StartupError } from './core/errors.js'

/**
 * What a failed start prints. Expected failures (a bad setting, an unreachable database)
 * are one line each, for the operator to act on; only a bug gets its stack.
 */
function describeFailure(error: unknown): string[] {
  if (error instanceof ConfigError) return error.problems.map((p) => `config error: ${p}`)
  if (error instanceof StartupError) return [`error: ${error.message}`]
  return [error instanceof Error ? (error.stack ?? error.message) : String(error)]
}

/**
 * Every entry point's last resort: runs `main`, exits with the exit code it resolves to
 * (a long-running process resolves to nothing and keeps running), or prints the failure
 * and exits 1.
 */
export function runMain(main: () => Promise<unknown>) {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exit(code)
    },
    (error: unknown) => {
      for (const line of describeFailure(error)) console.error(line)
      process.exit(1)
    },
  )
}

/**
 * Runs `close` once on the first SIGTERM or SIGINT, then exits 0 (1 if closing failed).
 * `close` is where each entry point finishes its in-flight work in order. Should it not
 * finish within `timeoutMs` (a client trickling a request body holds the HTTP server open
 * for minutes), the process says so and exits 1 rather than wait for the orchestrator's
 * SIGKILL, which would cut the log short.
 */
export function closeOnSignals(
  logger: Logger,
  options: { message: string; timeoutMs: number },
  close: () => Promise<void>,
) {
  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    logger.info({ signal }, options.message)
    setTimeout(() => {
      logger.error(
        { timeoutMs: options.timeoutMs },
        'shutdown did not finish within SHUTDOWN_TIMEOUT: exiting',
      )
      process.exit(1)
    }, options.timeoutMs)
    try {
      await close()
      logger.info('stopped')
      process.exit(0)
    } catch (error) {
      logger.error({ err: error }, 'error during shutdown')
      process.exit(1)
    }
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
}
