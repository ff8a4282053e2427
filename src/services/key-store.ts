import type { KeyObject } from 'node:crypto'
import type { TokenSigner, VerificationKeys } from '../core/access-tokens.js'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { AppError } from '../core/errors.js'
import { isAsymmetric } from '../core/signing-keys.js'
import type { Database } from '../db/client.js'
import { databaseMessage } from '../db/errors.js'
import { createListener } from '../db/listener.js'
import { SIGNING_KEYS_CHANNEL } from '../repositories/signing-keys.js'
import { buildKeySnapshot, emptySnapshot, type KeySnapshot } from './key-snapshot.js'
import { type SigningKeysService, signingKeyRetentionMs } from './signing-keys.js'

/** A token naming an unknown kid reloads the keys at most this often (it may be brand new). */
const UNKNOWN_KID_RELOAD_MS = 5_000

export interface KeyStoreLogger {
  info(details: Record<string, unknown>, message: string): void
  warn(details: Record<string, unknown>, message: string): void
  error(details: Record<string, unknown>, message: string): void
}

export interface KeyStoreDeps {
  database: Pick<Database, 'listen'>
  config: Readonly<Pick<Config, 'jwtAlgorithm' | 'accessTokenTtlMs' | 'keyRefreshIntervalMs'>>
  clock: Clock
  logger: KeyStoreLogger
  signingKeys: Pick<SigningKeysService, 'list' | 'ensureKeys'>
  /** Opens the stored private keys. */
  encryptionKey: KeyObject
  /** Signs in HS256 mode; checks the tokens of before an upgrade. */
  hs256Key: KeyObject
}

/**
 * Each instance's copy of the signing keys, so that no request reads them from the
 * database. It reloads every KEY_REFRESH_INTERVAL, at once when a change is NOTIFYed
 * (rotation, revocation), and when a token names a kid it does not know yet (at most
 * every few seconds).
 *
 * One closure rather than smaller functions: the snapshot, the opened keys, the timer and
 * the listener are state that signing, verifying, `start` and `stop` share.
 */
export function createKeyStore(deps: KeyStoreDeps) {
  const { config, clock, logger } = deps
  const algorithm = config.jwtAlgorithm
  const hs256Mode = !isAsymmetric(algorithm)
  const hs256Always = { key: deps.hs256Key, issuedBefore: Number.POSITIVE_INFINITY }
  let snapshot: KeySnapshot = hs256Mode
    ? { ...emptySnapshot(null), signer: { algorithm: 'HS256', key: deps.hs256Key } }
    : emptySnapshot('the signing keys are not loaded yet')
  const openedKeys = new Map<string, KeyObject>()
  const removedListeners = new Set<(kids: ReadonlySet<string>) => void>()
  const retentionMs = signingKeyRetentionMs({ ...config, signingKeyRotationMs: null })

  const verificationKeys: VerificationKeys = {
    algorithm,
    publicKey: (kid) => snapshot.publicKeys.get(kid),
    get hs256() {
      if (hs256Mode) return hs256Always
      const window = snapshot.hs256Window
      if (window === null || clock.now().getTime() >= window.untilMs) return null
      return { key: deps.hs256Key, issuedBefore: window.issuedBefore }
    },
  }

  function install(next: KeySnapshot) {
    const removed = new Set<string>()
    for (const kid of snapshot.publicKeys.keys()) if (!next.publicKeys.has(kid)) removed.add(kid)
    const signingKid = next.signer?.algorithm === 'HS256' ? undefined : next.signer?.kid
    for (const kid of openedKeys.keys()) if (kid !== signingKid) openedKeys.delete(kid)
    if (next.problem !== null && next.problem !== snapshot.problem) {
      logger.error({ event: 'signing_keys_unusable' }, `cannot sign access tokens: ${next.problem}`)
    }
    if (next.problem === null && snapshot.problem !== null) {
      logger.info({ kid: signingKid, algorithm }, 'signing keys ready')
    }
    snapshot = next
    if (removed.size > 0) for (const listener of removedListeners) listener(removed)
  }

  /**
   * Reads the table; creates the keys first when there is no current one (first start).
   * Failures are described by the database's own message only: Drizzle's also lists the
   * bound parameters, a sealed private key among them.
   */
  async function loadOnce(): Promise<void> {
    let rows = await deps.signingKeys.list()
    if (!rows.some((row) => row.state === 'current')) {
      try {
        await deps.signingKeys.ensureKeys()
        rows = await deps.signingKeys.list()
      } catch (error) {
        const reason = databaseMessage(error)
        install(
          emptySnapshot(`the database holds no signing key and creating one failed: ${reason}`),
        )
        return
      }
    }
    install(
      buildKeySnapshot(rows, {
        algorithm,
        nowMs: clock.now().getTime(),
        retentionMs,
        encryptionKey: deps.encryptionKey,
        openedKeys,
      }),
    )
  }

  let inFlight: Promise<void> | null = null
  let queued: Promise<void> | null = null
  /**
   * Loads the keys; never rejects (a failed load keeps the keys already loaded). A call
   * during a load queues one more after it: the change may have committed after the
   * load in flight read the table.
   */
  function reload(): Promise<void> {
    if (hs256Mode) return Promise.resolve()
    if (inFlight === null) {
      inFlight = loadOnce()
        .catch((error: unknown) =>
          logger.warn(
            { reason: databaseMessage(error) },
            'reloading the signing keys failed; keeping the loaded ones',
          ),
        )
        .finally(() => {
          inFlight = null
        })
      return inFlight
    }
    queued ??= inFlight.then(() => {
      queued = null
      return reload()
    })
    return queued
  }

  let unknownKidReload: { at: number; done: Promise<void> } | null = null
  const listening = createListener({
    database: deps.database,
    channel: SIGNING_KEYS_CHANNEL,
    logger,
    onNotify: () => void reload(),
    // A change may have been missed while not listening.
    onListening: (afterFailure) => {
      if (afterFailure) void reload()
    },
    lostMessage: 'not listening for signing-key changes; the periodic reload still applies them',
  })
  let timer: NodeJS.Timeout | null = null

  return {
    verificationKeys,

    /** The key new tokens are signed with; a 503 when this instance has none. */
    signer(): TokenSigner {
      if (snapshot.signer === null) {
        throw new AppError(503, 'service_unavailable', 'Access tokens cannot be issued right now')
      }
      return snapshot.signer
    },

    /** The public keys to publish (none in HS256 mode). */
    jwks: () => snapshot.jwks,

    /** Why this instance cannot sign, or null: the readiness probe reports it. */
    problem: () => snapshot.problem,

    reload,

    /**
     * A token names `kid`, which is not loaded: reload (at most every few seconds, the
     * others wait for that reload) and tell whether it is known now. A kid the table holds
     * but refuses (revoked, expired) is refused without a reload.
     */
    async reloadForUnknownKid(kid: string): Promise<boolean> {
      const now = clock.now().getTime()
      // A revoked or expired key stays refused: no reload would change that.
      if (hs256Mode || snapshot.refusedKids.has(kid)) return false
      if (unknownKidReload === null || now - unknownKidReload.at >= UNKNOWN_KID_RELOAD_MS) {
        unknownKidReload = { at: now, done: reload() }
      }
      await unknownKidReload.done
      return snapshot.publicKeys.has(kid)
    },

    /** `listener` gets the kids that stopped verifying (revoked, or past their retention). */
    onKeysRemoved(listener: (kids: ReadonlySet<string>) => void) {
      removedListeners.add(listener)
    },

    /**
     * Listens for changes, makes sure the keys fit JWT_ALGORITHM (creating the first ones),
     * loads them, then reloads periodically. Never throws: an instance that cannot sign
     * says why in the log and fails its readiness probe.
     */
    async start(): Promise<void> {
      if (hs256Mode || timer !== null) return
      await listening.start()
      await deps.signingKeys
        .ensureKeys()
        .catch((error: unknown) =>
          logger.warn(
            { reason: databaseMessage(error) },
            'could not create or update the signing keys',
          ),
        )
      await reload()
      timer = setInterval(() => void reload(), config.keyRefreshIntervalMs)
      timer.unref()
    },

    async stop(): Promise<void> {
      if (timer !== null) clearInterval(timer)
      timer = null
      await listening.stop()
      await inFlight
    },
  }
}

export type KeyStore = ReturnType<typeof createKeyStore>
