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
}

/** The repositories over `db`; the services are wired with one bundle (services/index.ts). */
export function createRepositories(db: Db): Repositories {
  return {
    users: createUsersRepository(db),
    refreshTokens: createRefreshTokensRepository(db),
    sessions: createSessionsRepository(db),
    oneTimeCodes: createOneTimeCodesRepository(db),
    signingKeys: createSigningKeysRepository(db),
    mfa: createMfaRepository(db),
    cleanup: createCleanupRepository(db),
    auditEvents: createAuditEventsRepository(db),
    transaction: (work) => db.transaction((tx) => work(createRepositories(tx))),
  }
}
