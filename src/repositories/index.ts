import type { Db } from '../db/client.js'
import { type AuditEventsRepository, createAuditEventsRepository } from './audit-events.js'
import { type CleanupRepository, createCleanupRepository } from './cleanup.js'
import { createMfaRepository, type MfaRepository } from './mfa.js'
import { createOneTimeCodesRepository, type OneTimeCodesRepository } from './one-time-codes.js'
import { createRefreshTokensRepository, type RefreshTokensRepository } from './refresh-tokens.js'
import { createSessionsRepository, type SessionsRepository } from './sessions.js'
import { createSigningKeysRepository, type SigningKeysRepository } from './signing-keys.js'
import { createUsersRepository, type UsersRepository } from './users.js'

/** Every repository over one connection or transaction: what the services are given. */
export interface Repositories {
  users: UsersRepository
  refreshTokens: RefreshTokensRepository
  sessions: SessionsRepository
  oneTimeCodes: OneTimeCodesRepository
  signingKeys: SigningKeysRepository
  mfa: MfaRepository
  cleanup: CleanupRepository
  auditEvents: AuditEventsRepository
  /**
   * Runs `work` in one transaction, handing it the repositories bound to that transaction:
   * committed when `work` resolves, rolled back when it throws. Called on a bundle that is
   * already in a transaction, it opens a savepoint.
   */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T>
  /**
   * Runs `effect` once the data written so far is committed: after the outermost
   * transaction commits (never if it, or the savepoint it was asked in, rolls back), or at
   * once outside a transaction. For effects that must not count what did not happen (metrics).
   */
  afterCommit(effect: () => void): void
}

/** The repositories over `db`; the services are wired with one bundle (services/index.ts). */
export function createRepositories(db: Db, committed: (() => void)[] | null = null): Repositories {
  return {
    users: createUsersRepository(db),
    refreshTokens: createRefreshTokensRepository(db),
    sessions: createSessionsRepository(db),
    oneTimeCodes: createOneTimeCodesRepository(db),
    signingKeys: createSigningKeysRepository(db),
    mfa: createMfaRepository(db),
    cleanup: createCleanupRepository(db),
    auditEvents: createAuditEventsRepository(db),
    async transaction(work) {
      const effects: (() => void)[] = []
      const result = await db.transaction((tx) => work(createRepositories(tx, effects)))
      // A savepoint's effects wait for the transaction around it.
      if (committed) committed.push(...effects)
      else for (const effect of effects) effect()
      return result
    },
    afterCommit(effect) {
      if (committed) committed.push(effect)
      else effect()
    },
  }
}
