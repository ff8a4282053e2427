import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { assertValidEmail, assertValidPassword, normaliseEmail } from '../core/credentials.js'
import { notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { hashPassword } from '../core/security.js'
import { isUniqueViolation } from '../db/errors.js'
import type { UserRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import type { UsersRepository } from '../repositories/users.js'
import type { RecordEvent } from './audit.js'
import { endSessions } from './sessions.js'

/** An admin who can log in: only these count for the last-admin rule. */
export const isActiveVerifiedAdmin = (user: UserRow) =>
  user.role === 'admin' && user.isActive && user.isVerified

/**
 * Admins made outside the API: FIRST_ADMIN_EMAIL at start and `cli create-admin`. Both
 * take the admin-set lock, as every change to the set of active verified admins does.
 */
export function createAdminBootstrap(deps: {
  config: Readonly<Pick<Config, 'bcryptRounds' | 'firstAdminEmail' | 'firstAdminPassword'>>
  repositories: Repositories
  clock: Clock
  /** The audit log's writer; no actor: an operator at start or at the CLI. */
  recordEvent: RecordEvent
}) {
  const { config, repositories, clock, recordEvent } = deps

  /** The events of a bootstrap: the account made, or what changed on the existing one. */
  async function recordBootstrap(
    tx: Repositories,
    before: UserRow | undefined,
    user: UserRow,
    source: 'first_admin' | 'create_admin',
  ) {
    const event = { userId: user.id, actorId: null }
    if (!before) {
      await recordEvent(tx, { type: 'user.signed_up', ...event, details: { source } })
      return
    }
    const fields = (['role', 'isVerified', 'isActive'] as const)
      .filter((field) => before[field] !== user[field])
      .map((field) => ({ role: 'role', isVerified: 'is_verified', isActive: 'is_active' })[field])
    if (fields.length > 0) {
      await recordEvent(tx, { type: 'user.updated', ...event, details: { fields, source } })
    }
    await recordEvent(tx, { type: 'password.changed', ...event, details: { source } })
  }

  /** Creates, or promotes and re-keys, a verified active admin; call under the admin-set lock. */
  async function upsertAdmin(repo: UsersRepository, email: string, passwordHash: string) {
    const now = clock.now()
    const existing = await repo.findByEmail(email)
    if (!existing) {
      const user = await repo.insert({
        id: newId(),
        email,
        passwordHash,
        role: 'admin',
        isVerified: true,
        verifiedAt: now,
      })
      return { user, before: undefined, action: 'created' as const }
    }
    // The password is replaced too: whoever registered this address first must not
    // inherit admin rights with a password the operator does not know.
    const user = await repo.markVerified(existing.id, now, {
      role: 'admin',
      isActive: true,
      passwordHash,
      tokensValidAfter: now,
    })
    if (!user) throw notFound('User not found')
    const action = isActiveVerifiedAdmin(existing) ? ('updated' as const) : ('promoted' as const)
    return { user, before: existing, action }
  }

  async function bootstrapAdmin(email: string, password: string, onlyIfNoAdmin: boolean) {
    const source = onlyIfNoAdmin ? 'first_admin' : 'create_admin'
    assertValidEmail('email', email)
    assertValidPassword('password', password)
    const normalised = normaliseEmail(email)
    const passwordHash = await hashPassword(password, config.bcryptRounds)
    try {
      return await repositories.transaction(async (tx) => {
        const repo = tx.users
        await repo.lockAdminSet()
        if (onlyIfNoAdmin && (await repo.countActiveVerifiedAdmins()) > 0) return null
        const { before, ...result } = await upsertAdmin(repo, normalised, passwordHash)
        if (result.action !== 'created') {
          await endSessions(tx, { userId: result.user.id }, 'password_changed', clock.now())
        }
        await recordBootstrap(tx, before, result.user, source)
        return result
      })
    } catch (error) {
      // Another process created this address between our read and insert (a different
      // database, or a PGlite lock we do not share): the admin exists, which is the goal.
      if (onlyIfNoAdmin && isUniqueViolation(error, 'users_email_key')) return null
      throw error
    }
  }

  return {
    /**
     * At start: makes FIRST_ADMIN_EMAIL a verified admin when no active verified admin exists.
     * Idempotent, and safe when several processes start at once (lock plus unique index).
     */
    async ensureFirstAdmin() {
      if (config.firstAdminEmail === null || config.firstAdminPassword === null) return null
      return bootstrapAdmin(config.firstAdminEmail, config.firstAdminPassword, true)
    },

    /** `cli create-admin`: creates the admin, or promotes, verifies and re-keys the user. */
    async createOrPromoteAdmin(email: string, password: string) {
      const result = await bootstrapAdmin(email, password, false)
      if (!result) throw new Error('unreachable: create-admin always writes')
      return result
    },
  }
}
