import type { KeyObject } from 'node:crypto'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { isAsymmetric } from '../core/signing-keys.js'
import type { SigningKeyRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import type { RecordEvent } from './audit.js'
import { createKeyChanges, type Rotation } from './signing-key-changes.js'

export { type Rotation, SEALED_UNDER_ANOTHER_SECRET } from './signing-key-changes.js'

/** After the access-token TTL, how long a retired key stays: clock skew and slow reloads. */
const RETENTION_MARGIN_MS = 5 * 60_000

type KeyConfig = Pick<
  Config,
  'jwtAlgorithm' | 'accessTokenTtlMs' | 'keyRefreshIntervalMs' | 'signingKeyRotationMs'
>

/**
 * How long a retired key stays published and accepted: an instance that has not reloaded
 * yet may sign with it for up to KEY_REFRESH_INTERVAL, and each token lives ACCESS_TOKEN_TTL.
 */
export const signingKeyRetentionMs = (config: KeyConfig) =>
  config.keyRefreshIntervalMs + config.accessTokenTtlMs + RETENTION_MARGIN_MS

interface KeyChangeLogger {
  info(details: Record<string, unknown>, message: string): void
}

export type Revocation =
  | {
      status: 'revoked'
      kid: string
      /** The state it was in. */
      state: SigningKeyRow['state']
      /** The live keys afterwards. */
      current: string | null
      next: string | null
    }
  | { status: 'not_found' | 'already_revoked' }

export interface SigningKeysDeps {
  repositories: Repositories
  config: Readonly<KeyConfig>
  clock: Clock
  /** AES-256-GCM key sealing the private keys (derived from SECRET_KEY). */
  encryptionKey: KeyObject
  logger: KeyChangeLogger
  /** The audit log's writer: each rotation and revocation is recorded in its transaction. */
  recordEvent: RecordEvent
}

/**
 * The signing keys in the database: creating the first set, rotating, revoking. Every
 * change runs in one transaction under an advisory lock (so concurrent starts and
 * rotations make one set) and announces itself to every instance on commit.
 */
export function createSigningKeysService(deps: SigningKeysDeps) {
  const { repositories, config, clock, logger } = deps
  const algorithm = config.jwtAlgorithm
  const { createKey, liveKeys, rotateLocked, rotateAndAnnounce } = createKeyChanges(deps)

  const inLockedTransaction = <T>(work: (tx: Repositories) => Promise<T>) =>
    repositories.transaction(async (tx) => {
      await tx.signingKeys.lockForChange()
      return work(tx)
    })

  const logRotation = (rotation: Rotation, reason: string) =>
    logger.info(
      { event: 'signing_key_rotated', reason, ...rotation },
      `signing key rotated (${reason}): ${rotation.current} now signs, ${rotation.next} is next` +
        (rotation.retired ? `, ${rotation.retired} retired` : ''),
    )

  /**
   * The scheduler's SIGNING_KEY_ROTATION: rotates once the current key has signed for that
   * long. Never makes the first key: that is the API's start (ensureKeys), which alone
   * knows whether tokens of before an upgrade from HS256 need their window.
   */
  async function rotateIfDue(): Promise<Rotation | null> {
    const maxAge = config.signingKeyRotationMs
    if (maxAge === null || !isAsymmetric(algorithm)) return null
    const rotation = await inLockedTransaction(async (tx) => {
      const { current } = await liveKeys(tx)
      if (current === undefined) return null
      const since = current.activatedAt ?? current.createdAt
      if (clock.now().getTime() - since.getTime() < maxAge) return null
      return rotateAndAnnounce(tx, 'scheduled')
    })
    if (rotation) logRotation(rotation, 'scheduled')
    return rotation
  }

  /**
   * Deletes retired and revoked keys once every token they signed has expired: they left
   * the JWKS at that moment already (key-snapshot.ts applies the same retention).
   */
  async function deleteExpired(): Promise<string[]> {
    const cutoff = new Date(clock.now().getTime() - signingKeyRetentionMs(config))
    const deleted = await inLockedTransaction(async (tx) => {
      const keys = tx.signingKeys
      const rows = await keys.deleteUnusedBefore(cutoff)
      if (rows.length > 0) await keys.announce('deleted')
      return rows
    })
    for (const { kid, state } of deleted) {
      logger.info(
        { event: 'signing_key_deleted', kid, previousState: state },
        `signing key ${kid} deleted (${state}; every token it signed has expired)`,
      )
    }
    return deleted.map((row) => row.kid)
  }

  return {
    list: () => repositories.signingKeys.list(),

    /**
     * At start: a current and a next key of the configured algorithm, made once however
     * many instances start together. Where no key signed before (a new database, or an
     * upgrade from HS256), HS256 tokens stay valid for one access-token lifetime.
     * Null when nothing had to change.
     */
    async ensureKeys(): Promise<Rotation | null> {
      if (!isAsymmetric(algorithm)) return null
      const rotation = await inLockedTransaction(async (tx) => {
        const { current, next, fits } = await liveKeys(tx)
        if (fits(current) && fits(next)) return null
        if (current && fits(current)) {
          if (next) {
            await tx.signingKeys.update(next.kid, { state: 'retired', retiredAt: clock.now() })
          }
          const created = await createKey(tx, 'next')
          await tx.signingKeys.announce('next')
          return { retired: next?.kid ?? null, current: current.kid, next: created.kid }
        }
        return rotateAndAnnounce(tx, 'start', { hs256Upgrade: current === undefined })
      })
      if (rotation) logRotation(rotation, `start with JWT_ALGORITHM=${algorithm}`)
      return rotation
    },

    /**
     * `keys rotate`: the next key signs from now on (every instance within seconds).
     * `reseal`: after a deliberate change of SECRET_KEY, keys sealed under the old one are
     * retired instead of refused.
     */
    async rotate(options: { reseal?: boolean } = {}): Promise<Rotation> {
      if (!isAsymmetric(algorithm)) {
        throw new Error('JWT_ALGORITHM is HS256: there are no signing keys to rotate')
      }
      const rotation = await inLockedTransaction(async (tx) => {
        // No key yet (before the API's first start, or upgrading from HS256): as at start,
        // HS256 tokens issued before stay valid for their lifetime.
        const { current } = await liveKeys(tx)
        const reason = options.reseal ? 'reseal' : 'manual'
        return rotateAndAnnounce(tx, reason, { ...options, hs256Upgrade: current === undefined })
      })
      logRotation(rotation, options.reseal ? 'manual, new SECRET_KEY' : 'manual')
      return rotation
    },

    rotateIfDue,
    deleteExpired,

    /** One scheduler round: rotate when due, then delete the keys no token needs any more. */
    async maintain(): Promise<{ rotation: Rotation | null; deleted: string[] }> {
      const rotation = await rotateIfDue()
      return { rotation, deleted: await deleteExpired() }
    },

    /**
     * `keys revoke KID`: the key is refused and unpublished at once, everywhere, and its
     * private part erased. A revoked current key is replaced by the next one, a revoked
     * next key by a new one.
     */
    async revoke(kid: string): Promise<Revocation> {
      const result = await inLockedTransaction(async (tx): Promise<Revocation> => {
        const keys = tx.signingKeys
        const row = (await keys.list()).find((candidate) => candidate.kid === kid)
        if (!row) return { status: 'not_found' }
        if (row.state === 'revoked') return { status: 'already_revoked' }
        await keys.update(kid, { state: 'revoked', revokedAt: clock.now(), privateKey: null })
        if (row.state === 'current' && isAsymmetric(algorithm)) await rotateLocked(tx)
        if (row.state === 'next' && isAsymmetric(algorithm)) await createKey(tx, 'next')
        await keys.announce(`revoked:${kid}`)
        const details = { kid, previous_state: row.state }
        await deps.recordEvent(tx, {
          type: 'signing_key.revoked',
          userId: null,
          actorId: null,
          details,
        })
        const live = await liveKeys(tx)
        return {
          status: 'revoked',
          kid,
          state: row.state,
          current: live.current?.kid ?? null,
          next: live.next?.kid ?? null,
        }
      })
      if (result.status === 'revoked') {
        logger.info(
          { event: 'signing_key_revoked', kid, previousState: result.state },
          `signing key ${kid} revoked (was ${result.state})`,
        )
      }
      return result
    },
  }
}

export type SigningKeysService = ReturnType<typeof createSigningKeysService>
