import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { assertValidEmail, assertValidPassword, normaliseEmail } from '../core/credentials.js'
import { decodeCursor, encodeCursor } from '../core/cursor.js'
import { AppError, forbidden, invalidField, notFound } from '../core/errors.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import type { RequestContext } from '../core/request-context.js'
import { hashPassword } from '../core/security.js'
import { isUniqueViolation } from '../db/errors.js'
import type { NewUserRow, SessionEndReason, UserRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import { createAdminBootstrap, isActiveVerifiedAdmin } from './admins.js'
import type { RecordEvent } from './audit.js'
import { checkCurrentPassword } from './current-password.js'
import { endSessions } from './sessions.js'

/** The changes to a user; absent fields stay as they are. */
export interface UserPatch {
  fullName?: string | null
  password?: string
  currentPassword?: string
  email?: string
  role?: 'user' | 'admin'
  isVerified?: boolean
  isActive?: boolean
}

export interface ListUsersInput {
  /** 20 when omitted. */
  limit?: number
  cursor?: string
  role?: 'user' | 'admin'
  isVerified?: boolean
  isActive?: boolean
  q?: string
}

const DEFAULT_PAGE_SIZE = 20
const ADMIN_ONLY_FIELDS = ['email', 'role', 'isVerified', 'isActive'] as const

const userNotFound = () => notFound('User not found')
const lastAdmin = () =>
  new AppError(
    409,
    'last_admin',
    'The last active verified admin cannot be demoted, deactivated, unverified or deleted',
  )
const emailTaken = () => new AppError(409, 'email_taken', 'Email already registered')

/** True when applying `patch` takes an admin out of the set of active verified admins. */
const leavesAdminSet = (user: UserRow, patch: UserPatch) =>
  isActiveVerifiedAdmin(user) &&
  (patch.role === 'user' || patch.isActive === false || patch.isVerified === false)

/**
 * Why a patch ends the user's sessions, if it does: a deactivation, a withdrawn
 * verification or a password change, so that reactivating or re-verifying never revives an
 * old token.
 */
function sessionsEndedBy(patch: UserPatch): SessionEndReason | null {
  if (patch.isActive === false) return 'deactivated'
  if (patch.isVerified === false) return 'unverified'
  if (patch.password !== undefined) return 'password_changed'
  return null
}

/**
 * The contract's PATCH permissions. A non-admin gets 403 for someone else's id whether
 * or not it exists, so the answer reveals nothing about other accounts.
 */
function authorizePatch(actor: UserRow, id: string, patch: UserPatch) {
  if (actor.role === 'admin') return
  if (actor.id !== id) throw forbidden()
  if (ADMIN_ONLY_FIELDS.some((field) => patch[field] !== undefined)) {
    throw forbidden('Only an admin may change email, role, is_verified or is_active')
  }
}

/** The patch's fields, by their API names, whose value differs from `user`'s; never the password. */
function changedFields(user: UserRow, patch: UserPatch): string[] {
  const fields: string[] = []
  if (patch.fullName !== undefined && patch.fullName !== user.fullName) fields.push('full_name')
  if (patch.email !== undefined && normaliseEmail(patch.email) !== user.email) fields.push('email')
  if (patch.role !== undefined && patch.role !== user.role) fields.push('role')
  if (patch.isVerified !== undefined && patch.isVerified !== user.isVerified) {
    fields.push('is_verified')
  }
  if (patch.isActive !== undefined && patch.isActive !== user.isActive) fields.push('is_active')
  return fields
}

function validatePatch(actor: UserRow, patch: UserPatch) {
  if (patch.email !== undefined) assertValidEmail('email', patch.email)
  if (patch.currentPassword !== undefined && patch.password === undefined) {
    throw invalidField('password', 'Field required with current_password', 'missing')
  }
  if (patch.password === undefined) return
  if (actor.role !== 'admin' && patch.currentPassword === undefined) {
    throw invalidField('currentPassword', 'Field required to change the password', 'missing')
  }
  assertValidPassword('password', patch.password)
}

export function createUsersService(deps: {
  config: Readonly<Config>
  repositories: Repositories
  clock: Clock
  /** The audit log's writer: events go in the transaction of their change. */
  recordEvent: RecordEvent
}) {
  const { config, repositories, clock, recordEvent } = deps
  const { users } = repositories
  const admins = createAdminBootstrap(deps)

  /** Column changes of a patch; the password is hashed here, outside any transaction. */
  async function changesOf(patch: UserPatch, now: Date): Promise<Partial<NewUserRow>> {
    const changes: Partial<NewUserRow> = {}
    if (patch.fullName !== undefined) changes.fullName = patch.fullName
    if (patch.email !== undefined) changes.email = normaliseEmail(patch.email)
    if (patch.role !== undefined) changes.role = patch.role
    if (patch.isVerified === false) changes.isVerified = false
    if (patch.isActive !== undefined) changes.isActive = patch.isActive
    if (sessionsEndedBy(patch) !== null) changes.tokensValidAfter = now
    if (patch.password !== undefined) {
      changes.passwordHash = await hashPassword(patch.password, config.bcryptRounds)
    }
    return changes
  }

  /**
   * Writes a patch in one transaction with its events (`fields`: what it changes besides the
   * password); the admin-set lock only when the set may change. A new e-mail address voids
   * the user's pending codes: those sent to the old one, and any e-mail change of theirs.
   */
  function applyPatch(
    id: string,
    patch: UserPatch,
    changes: Partial<NewUserRow>,
    now: Date,
    fields: string[],
    context?: RequestContext,
  ) {
    return repositories.transaction(async (tx) => {
      const repo = tx.users
      if (
        patch.role !== undefined ||
        patch.isActive !== undefined ||
        patch.isVerified !== undefined
      ) {
        await repo.lockAdminSet()
        // Re-read under the lock: a concurrent demotion may have committed meanwhile.
        const current = await repo.findById(id)
        if (!current) throw userNotFound()
        if (leavesAdminSet(current, patch) && (await repo.countActiveVerifiedAdmins()) <= 1) {
          throw lastAdmin()
        }
      }
      const row =
        patch.isVerified === true
          ? await repo.markVerified(id, now, changes)
          : await repo.update(id, changes)
      if (!row) throw userNotFound()
      const reason = sessionsEndedBy(patch)
      if (reason !== null) await endSessions(tx, { userId: id }, reason, now)
      if (fields.length > 0) {
        await recordEvent(tx, { type: 'user.updated', userId: id, details: { fields } }, context)
      }
      if (patch.password !== undefined) {
        await recordEvent(tx, { type: 'password.changed', userId: id }, context)
      }
      if (fields.includes('email')) await tx.oneTimeCodes.voidAll(id, now)
      return row
    })
  }

  return {
    async getUser(id: string): Promise<UserRow> {
      const user = await users.findById(id)
      if (!user) throw userNotFound()
      return user
    },

    async listUsers(
      input: ListUsersInput,
    ): Promise<{ items: UserRow[]; nextCursor: string | null }> {
      const limit = input.limit ?? DEFAULT_PAGE_SIZE
      const after = input.cursor === undefined ? null : decodeCursor(input.cursor)
      // One extra row tells whether a next page exists, without a count.
      const rows = await users.list({
        limit: limit + 1,
        after,
        role: input.role,
        isVerified: input.isVerified,
        isActive: input.isActive,
        q: input.q,
      })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      const nextCursor =
        rows.length > limit && last
          ? encodeCursor({ createdAt: last.createdAt, id: last.row.id })
          : null
      return { items: page.map(({ row }) => row), nextCursor }
    },

    async updateUser(
      actor: UserRow,
      id: string,
      patch: UserPatch,
      throttle: LoginThrottle,
      context?: RequestContext,
    ): Promise<UserRow> {
      authorizePatch(actor, id, patch)
      validatePatch(actor, patch)
      const target = actor.id === id ? actor : await users.findById(id)
      if (!target) throw userNotFound()
      if (patch.currentPassword !== undefined) {
        await checkCurrentPassword(target, patch.currentPassword, throttle)
      }
      const now = clock.now()
      const changes = await changesOf(patch, now)
      try {
        return await applyPatch(id, patch, changes, now, changedFields(target, patch), context)
      } catch (error) {
        if (isUniqueViolation(error, 'users_email_key')) throw emailTaken()
        throw error
      }
    },

    async deleteUser(id: string, context?: RequestContext): Promise<void> {
      await repositories.transaction(async (tx) => {
        const repo = tx.users
        await repo.lockAdminSet()
        const target = await repo.findById(id)
        if (!target) throw userNotFound()
        if (isActiveVerifiedAdmin(target) && (await repo.countActiveVerifiedAdmins()) <= 1) {
          throw lastAdmin()
        }
        await repo.delete(id)
        await recordEvent(tx, { type: 'user.deleted', userId: id }, context)
      })
    },

    ensureFirstAdmin: admins.ensureFirstAdmin,
    createOrPromoteAdmin: admins.createOrPromoteAdmin,
  }
}
