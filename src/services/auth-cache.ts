import type { Database } from '../db/client.js'
import { createListener, type ListenerLogger } from '../db/listener.js'
import { AUTH_CHANGES_CHANNEL, type UserWithSession } from '../repositories/users.js'

/** Sessions remembered per user: a user rarely has more live ones in use at once. */
const SESSIONS_PER_USER = 16
/**
 * A round trip slower than this is given up: its requests read the database, and the
 * listening connection is replaced (one that stopped answering would stall every hit).
 */
const ROUND_TRIP_TIMEOUT_MS = 1_000

/** What `find` tells the metrics about one lookup. */
type AuthCacheOutcome = 'hit' | 'miss' | 'off'

export interface AuthCacheDeps {
  database: Pick<Database, 'listen'>
  /** Users kept; 0 turns the cache off (every lookup reads the database). */
  maxUsers: number
  logger: ListenerLogger
  onLookup?: (outcome: AuthCacheOutcome) => void
}

/** Only such entries are kept: the triggers announce changes to these rows alone (0009). */
const isCacheable = (found: UserWithSession) =>
  found.user.isVerified && found.user.isActive && found.session !== null && !found.session.endedAt

/**
 * Each instance's copy of the users and sessions it authenticated recently, so a request of
 * a known session reads nothing from the database.
 *
 * Why it is never stale for a request: database triggers NOTIFY every change to a cached
 * kind of row (migration 0009), whoever makes it, and an entry is used only after a round
 * trip on the listening connection that started after the request arrived. PostgreSQL
 * hands a listener the notifications of every transaction committed before it reads a
 * query ahead of that query's answer, so by then every change committed before the request
 * has removed its entries. One round trip serves all the requests that wait for it. While
 * the listening connection is down, the cache is empty and unused.
 *
 * A lookup that misses reads the database; its result is kept only when no change arrived
 * while it was read (it might predate that change).
 */
export function createAuthCache(deps: AuthCacheDeps) {
  const { maxUsers } = deps
  const users = new Map<string, Map<string, UserWithSession>>()
  /** Bumped by every change heard and every (re)listen: a read that spans one is not kept. */
  let changes = 0
  let inFlight: Promise<void> | null = null
  let queued: Promise<void> | null = null

  function forget(userId: string) {
    changes += 1
    if (userId === '*') users.clear()
    else users.delete(userId)
  }

  const listener = createListener({
    database: deps.database,
    channel: AUTH_CHANGES_CHANNEL,
    logger: deps.logger,
    onNotify: forget,
    onListening: () => forget('*'),
    onLost: () => forget('*'),
    lostMessage: 'not listening for user and session changes; authentication reads the database',
  })

  /** A round trip on the listening connection sent after this call (shared by the callers of one turn). */
  function roundTripFromNow(): Promise<void> {
    const listening = listener.current()
    if (listening === null) return Promise.reject(new Error('not listening'))
    if (inFlight === null) {
      inFlight = listening
        .roundTrip(ROUND_TRIP_TIMEOUT_MS)
        .catch((error: Error) => {
          listener.restart(listening, error)
          throw error
        })
        .finally(() => {
          inFlight = null
        })
      return inFlight
    }
    // The one in flight may have been read before this request's change committed.
    const next = () => {
      queued = null
      return roundTripFromNow()
    }
    queued ??= inFlight.then(next, next)
    return queued
  }

  async function fresh(userId: string, sessionId: string): Promise<UserWithSession | undefined> {
    if (users.get(userId)?.get(sessionId) === undefined) return undefined
    try {
      await roundTripFromNow()
    } catch {
      return undefined
    }
    return users.get(userId)?.get(sessionId)
  }

  function keep(userId: string, sessionId: string, found: UserWithSession) {
    let sessions = users.get(userId)
    if (sessions === undefined) {
      // Oldest first out: Map keeps insertion order.
      if (users.size >= maxUsers) users.delete(users.keys().next().value as string)
      sessions = new Map()
      users.set(userId, sessions)
    }
    if (sessions.size >= SESSIONS_PER_USER) sessions.delete(sessions.keys().next().value as string)
    sessions.set(sessionId, found)
  }

  return {
    /**
     * The user and the state of one of its sessions, from the cache when it holds them and
     * nothing changed since, else from `load` (the database).
     */
    async find(
      userId: string,
      sessionId: string,
      load: () => Promise<UserWithSession | undefined>,
    ): Promise<UserWithSession | undefined> {
      if (maxUsers === 0 || listener.current() === null) {
        deps.onLookup?.('off')
        return load()
      }
      const cached = await fresh(userId, sessionId)
      if (cached !== undefined) {
        deps.onLookup?.('hit')
        return cached
      }
      deps.onLookup?.('miss')
      const changesBefore = changes
      const found = await load()
      if (found && isCacheable(found) && changes === changesBefore && listener.current()) {
        keep(userId, sessionId, found)
      }
      return found
    },

    /** Listens for changes (never throws; retried while the database is away). */
    async start(): Promise<void> {
      if (maxUsers > 0) await listener.start()
    },

    async stop(): Promise<void> {
      await listener.stop()
      users.clear()
    },
  }
}

export type AuthCache = ReturnType<typeof createAuthCache>
