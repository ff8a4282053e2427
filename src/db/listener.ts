import type { Database, Listening } from './client.js'

/** The longest wait before listening again after the listening connection dropped. */
const RELISTEN_MAX_DELAY_MS = 30_000

export interface ListenerLogger {
  warn(details: Record<string, unknown>, message: string): void
}

export interface ListenerOptions {
  database: Pick<Database, 'listen'>
  channel: string
  logger: ListenerLogger
  onNotify(payload: string): void
  /** Called each time the LISTEN is in place; `afterFailure` when changes may have been missed. */
  onListening?(afterFailure: boolean): void
  /** Called when the listening connection drops, before the retry is scheduled. */
  onLost?(): void
  /** Logged with the reason when the connection drops: what still holds meanwhile. */
  lostMessage: string
}

/**
 * A LISTEN kept in place: after the connection drops it listens again, backing off up to
 * RELISTEN_MAX_DELAY_MS. `start` never throws (a first failure is retried the same way).
 */
export function createListener(options: ListenerOptions) {
  const { database, channel, logger } = options
  let listening: Listening | null = null
  let retry: NodeJS.Timeout | null = null
  let stopped = false
  let failures = 0

  async function listen(): Promise<void> {
    retry = null
    try {
      const started = await database.listen(channel, options.onNotify, onLost)
      if (stopped) {
        await started.stop().catch(() => {})
        return
      }
      listening = started
      options.onListening?.(failures > 0)
      failures = 0
    } catch (error) {
      onLost(error instanceof Error ? error : new Error(String(error)))
    }
  }

  function onLost(error: Error) {
    listening = null
    if (stopped) return
    options.onLost?.()
    failures += 1
    const delay = Math.min(RELISTEN_MAX_DELAY_MS, 1_000 * 2 ** (failures - 1))
    logger.warn({ reason: error.message, retryInMs: delay }, options.lostMessage)
    retry = setTimeout(() => void listen(), delay)
    retry.unref()
  }

  return {
    start: listen,
    /** The LISTEN in place now, or null while it is being re-established. */
    current: (): Listening | null => listening,
    /**
     * Gives up `failed` (it stopped answering) and listens again, as after a drop; nothing
     * when the LISTEN in place is another one by now.
     */
    restart(failed: Listening, reason: Error) {
      if (listening !== failed || stopped) return
      void failed.stop().catch(() => {})
      onLost(reason)
    },
    async stop() {
      stopped = true
      if (retry !== null) clearTimeout(retry)
      await listening?.stop().catch(() => {})
      listening = null
    },
  }
}
