import type { KeyObject } from 'node:crypto'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import {
  generateSigningKeyPair,
  isAsymmetric,
  openPrivateKey,
  sealPrivateKey,
} from '../core/signing-keys.js'
import type { SigningKeyRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import type { RecordEvent } from './audit.js'

/** What a rotation did, by kid; logged, and printed by the CLI. */
export interface Rotation {
  retired: string | null
  current: string
  next: string
}

/** The `code` of the error a rotation throws when this process cannot open the live keys. */
export const SEALED_UNDER_ANOTHER_SECRET = 'sealed_under_another_secret'

const sealMismatch = (row: SigningKeyRow) =>
  Object.assign(
    new Error(
      `this process's SECRET_KEY cannot open the ${row.state} signing key ${row.kid}: it is ` +
        'not the SECRET_KEY the keys were sealed with, and rotating now would leave keys the ' +
        'instances cannot open',
    ),
    { code: SEALED_UNDER_ANOTHER_SECRET },
  )

export interface KeyChangesDeps {
  config: Readonly<Pick<Config, 'jwtAlgorithm' | 'accessTokenTtlMs'>>
  clock: Clock
  /** AES-256-GCM key sealing the private keys (derived from SECRET_KEY). */
  encryptionKey: KeyObject
  /**
   * The audit log's writer: each rotation is recorded in its transaction. Keys change from
   * the CLI, the scheduler or a start, never a request: no actor.
   */
  recordEvent: RecordEvent
}

/** Why a rotation happened, as the audit log records it. */
type RotationReason = 'start' | 'scheduled' | 'manual' | 'reseal'

/**
 * The steps of a change to the signing keys, each given the repositories of a transaction
 * that holds the signing-keys lock (signing-keys.ts opens it): make a key, read the live
 * ones, rotate.
 */
export function createKeyChanges(deps: KeyChangesDeps) {
  const { config, clock } = deps
  const algorithm = config.jwtAlgorithm

  async function createKey(
    tx: Repositories,
    state: 'current' | 'next',
    extra: Partial<SigningKeyRow> = {},
  ): Promise<SigningKeyRow> {
    if (!isAsymmetric(algorithm)) throw new Error('HS256 has no signing keys')
    const pair = generateSigningKeyPair(algorithm)
    const now = clock.now()
    return tx.signingKeys.insert({
      kid: pair.kid,
      algorithm: pair.algorithm,
      state,
      publicJwk: { ...pair.publicJwk },
      privateKey: sealPrivateKey(deps.encryptionKey, pair.kid, pair.privateKey),
      createdAt: now,
      activatedAt: state === 'current' ? now : null,
      ...extra,
    })
  }

  /** Within a locked transaction: the live keys, and whether they fit the configured algorithm. */
  async function liveKeys(tx: Repositories) {
    const rows = await tx.signingKeys.list()
    const current = rows.find((row) => row.state === 'current')
    const next = rows.find((row) => row.state === 'next')
    return { current, next, fits: (row?: SigningKeyRow) => row?.algorithm === algorithm }
  }

  /** Whether this process's SECRET_KEY opens the key's private half. */
  function opens(row: SigningKeyRow): boolean {
    if (row.privateKey === null) return false
    try {
      openPrivateKey(deps.encryptionKey, row.kid, row.privateKey)
      return true
    } catch {
      return false
    }
  }

  /**
   * Retires `current` (when there is one), makes `next` current when it fits the configured
   * algorithm (else a new key), and makes a new next key. `tx` holds the lock; the caller
   * announces the change (once: each NOTIFY makes every instance reload).
   *
   * A live key this process cannot open means its SECRET_KEY is not the one that sealed
   * the keys: rotating would leave keys the instances cannot open, so it refuses, unless
   * `reseal` says SECRET_KEY was changed on purpose (then such keys are retired, not used).
   */
  async function rotateLocked(
    tx: Repositories,
    options: { hs256Upgrade?: boolean; reseal?: boolean } = {},
  ): Promise<Rotation> {
    const keys = tx.signingKeys
    const { current, next, fits } = await liveKeys(tx)
    if (!options.reseal) {
      for (const row of [current, next]) {
        if (row && fits(row) && !opens(row)) throw sealMismatch(row)
      }
    }
    const now = clock.now()
    if (current) await keys.update(current.kid, { state: 'retired', retiredAt: now })
    const promotable = next !== undefined && fits(next) && opens(next)
    if (next && !promotable) await keys.update(next.kid, { state: 'retired', retiredAt: now })
    const hs256AcceptedUntil = options.hs256Upgrade
      ? new Date(now.getTime() + config.accessTokenTtlMs)
      : null
    const promoted =
      next && promotable
        ? await keys.update(next.kid, { state: 'current', activatedAt: now, hs256AcceptedUntil })
        : await createKey(tx, 'current', { hs256AcceptedUntil })
    if (!promoted) throw new Error('the next signing key vanished during rotation')
    const created = await createKey(tx, 'next')
    return { retired: current?.kid ?? null, current: promoted.kid, next: created.kid }
  }

  const rotateAndAnnounce = async (
    tx: Repositories,
    reason: RotationReason,
    options?: Parameters<typeof rotateLocked>[1],
  ) => {
    const rotation = await rotateLocked(tx, options)
    await tx.signingKeys.announce('rotated')
    const details = { reason, ...rotation }
    await deps.recordEvent(tx, {
      type: 'signing_key.rotated',
      userId: null,
      actorId: null,
      details,
    })
    return rotation
  }

  return { createKey, liveKeys, rotateLocked, rotateAndAnnounce }
}
