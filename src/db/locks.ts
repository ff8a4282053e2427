import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import type { Database, Db } from './client.js'
import * as schema from './schema.js'

/**
 * Every advisory lock of the application. Any constants work; they only have to be the
 * same in every process sharing the database, and distinct from one another.
 */
const LOCK_KEYS = {
  /** Applying migrations: concurrent starts (API, worker, migrate job) apply them once. */
  migrations: 4_106_731_001,
  /** A cleanup round: one at a time across every process. */
  cleanup: 4_106_731_002,
  /** Creating, rotating and revoking signing keys. */
  signingKeys: 4_106_731_003,
  /** Every change to the set of active verified admins (last-admin rule, first admin). */
  adminSet: 4_106_731_004,
} as const

export type LockName = keyof typeof LOCK_KEYS

/**
 * Inside a transaction: waits for the lock, then holds it until the transaction ends.
 * Call it first in the transaction, before reading what the lock protects.
 */
export async function lockForTransaction(db: Db, name: LockName): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(${LOCK_KEYS[name]})`)
}

export type SessionLockOutcome<T> = { acquired: true; value: T } | { acquired: false }

/**
 * Runs `work` holding a session-level lock, on a connection of its own (`work` gets a
 * `Db` bound to it). With `wait: false` it gives up at once when another session holds
 * the lock. Unlike a transaction lock, this one lets `work` commit as it goes: each of its
 * statements keeps its row locks only while it runs.
 *
 * If the connection dies, the lock and the work stop together (the server frees a dead
 * session's locks). A transaction-mode pooler such as PgBouncer would break session
 * locks: connect directly.
 */
export async function withSessionLock<T>(
  database: Database,
  name: LockName,
  options: { wait: boolean },
  work: (db: Db) => Promise<T>,
): Promise<SessionLockOutcome<T>> {
  if (database.pool === null) return withLocalLock(database, name, options, work)
  const key = LOCK_KEYS[name]
  const client = await database.pool.connect()
  let broken: Error | undefined
  try {
    if (options.wait) {
      await client.query('select pg_advisory_lock($1)', [key])
    } else {
      const { rows } = await client.query<{ locked: boolean }>(
        'select pg_try_advisory_lock($1) as locked',
        [key],
      )
      if (rows[0]?.locked !== true) return { acquired: false }
    }
    try {
      return { acquired: true, value: await work(drizzle(client, { schema })) }
    } finally {
      await client.query('select pg_advisory_unlock($1)', [key])
    }
  } catch (error) {
    // Destroy rather than reuse a connection in an unknown state: its lock dies with it.
    broken = error instanceof Error ? error : new Error(String(error))
    throw error
  } finally {
    client.release(broken)
  }
}

/*
 * PGlite: one instance is one session, so a session lock would be re-entrant and useless
 * between two users of it in one process; an in-process lock per database and name plays
 * its role. Another process cannot share the instance: the data directory's pid lock
 * (db/client.ts) refuses a second process.
 */
const localLocks = new WeakMap<Database, Map<LockName, Promise<unknown>>>()

async function withLocalLock<T>(
  database: Database,
  name: LockName,
  options: { wait: boolean },
  work: (db: Db) => Promise<T>,
): Promise<SessionLockOutcome<T>> {
  let held = localLocks.get(database)
  if (!held) {
    held = new Map()
    localLocks.set(database, held)
  }
  for (let holder = held.get(name); holder; holder = held.get(name)) {
    if (!options.wait) return { acquired: false }
    await holder.catch(() => {})
  }
  const running = work(database.db)
  held.set(name, running)
  try {
    return { acquired: true, value: await running }
  } finally {
    held.delete(name)
  }
}
