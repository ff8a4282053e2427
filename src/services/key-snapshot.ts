import { createPublicKey, type KeyObject } from 'node:crypto'
import type { TokenSigner } from '../core/access-tokens.js'
import {
  type JwtAlgorithm,
  openPrivateKey,
  type PublicJwk,
  publicKeyOf,
  toPublicJwk,
} from '../core/signing-keys.js'
import type { SigningKeyRow } from '../db/schema.js'

/** One load of the signing-keys table, turned into what signing and verification read. */
export interface KeySnapshot {
  signer: TokenSigner | null
  /** Keys of the configured algorithm that verify: current, next, retired until expiry. */
  publicKeys: ReadonlyMap<string, KeyObject>
  /**
   * Kids in the table that do not verify and never will again (revoked, retired past their
   * retention, another algorithm): a token naming one is refused without reloading.
   */
  refusedKids: ReadonlySet<string>
  /** Everything published, whatever its algorithm. */
  jwks: { keys: PublicJwk[] }
  /** After an upgrade from HS256: until when, and for tokens issued before which second. */
  hs256Window: { untilMs: number; issuedBefore: number } | null
  /** Why no token can be signed, for the log and the readiness probe; null when one can. */
  problem: string | null
}

export const emptySnapshot = (problem: string | null): KeySnapshot => ({
  signer: null,
  publicKeys: new Map(),
  refusedKids: new Set(),
  jwks: { keys: [] },
  hs256Window: null,
  problem,
})

export interface SnapshotContext {
  algorithm: JwtAlgorithm
  nowMs: number
  /** How long a retired key stays published after its retirement. */
  retentionMs: number
  encryptionKey: KeyObject
  /** Private keys already opened, by kid: decrypting once per key, not once per load. */
  openedKeys: Map<string, KeyObject>
}

function isPublished(row: SigningKeyRow, context: SnapshotContext): boolean {
  if (row.state === 'current' || row.state === 'next') return true
  const retiredAt = row.retiredAt?.getTime()
  return (
    row.state === 'retired' &&
    retiredAt !== undefined &&
    context.nowMs - retiredAt < context.retentionMs
  )
}

/** The private key of `row`, checked against its public JWK. Throws why it cannot sign. */
function openSigner(row: SigningKeyRow, jwk: PublicJwk, context: SnapshotContext): TokenSigner {
  let key = context.openedKeys.get(row.kid)
  if (key === undefined) {
    if (row.privateKey === null) throw new Error('its private key is erased')
    key = openPrivateKey(context.encryptionKey, row.kid, row.privateKey)
    const derived = createPublicKey(key).export({ format: 'jwk' })
    if (derived.x !== jwk.x || derived.y !== jwk.y) throw new Error('its key pair does not match')
    context.openedKeys.set(row.kid, key)
  }
  return { algorithm: jwk.alg, kid: row.kid, key }
}

function currentSigner(rows: SigningKeyRow[], context: SnapshotContext) {
  const current = rows.find((row) => row.state === 'current')
  if (current === undefined) {
    return { signer: null, problem: 'the database holds no current signing key' }
  }
  if (current.algorithm !== context.algorithm) {
    return {
      signer: null,
      problem: `the current signing key ${current.kid} is ${current.algorithm} but JWT_ALGORITHM=${context.algorithm}: every instance must use the same JWT_ALGORITHM`,
    }
  }
  try {
    const jwk = toPublicJwk(current.kid, current.algorithm, current.publicJwk)
    if (jwk === null) throw new Error('its public key is malformed')
    return { signer: openSigner(current, jwk, context), problem: null }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return {
      signer: null,
      problem: `the current signing key ${current.kid} cannot sign (${reason}); was SECRET_KEY changed?`,
    }
  }
}

/** What the stored rows mean right now. Only well-formed public JWKs are published or used. */
export function buildKeySnapshot(rows: SigningKeyRow[], context: SnapshotContext): KeySnapshot {
  const published = rows.flatMap((row) => {
    const jwk = isPublished(row, context) && toPublicJwk(row.kid, row.algorithm, row.publicJwk)
    return jwk ? [jwk] : []
  })
  const publicKeys = new Map<string, KeyObject>()
  for (const jwk of published) {
    if (jwk.alg === context.algorithm) publicKeys.set(jwk.kid, publicKeyOf(jwk))
  }
  const refusedKids = new Set(rows.map((row) => row.kid).filter((kid) => !publicKeys.has(kid)))
  const upgrade = rows.find((row) => row.hs256AcceptedUntil !== null)
  return {
    ...currentSigner(rows, context),
    publicKeys,
    refusedKids,
    jwks: { keys: published },
    hs256Window: upgrade?.hs256AcceptedUntil
      ? {
          untilMs: upgrade.hs256AcceptedUntil.getTime(),
          // A token of the upgrade's own second may predate it: that second is included.
          issuedBefore: Math.floor(upgrade.createdAt.getTime() / 1000) + 1,
        }
      : null,
  }
}
