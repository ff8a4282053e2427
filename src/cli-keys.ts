import type { Config } from './core/config.js'
import type { SigningKeyRow } from './db/schema.js'
import {
  type Rotation,
  SEALED_UNDER_ANOTHER_SECRET,
  type SigningKeysService,
} from './services/signing-keys.js'

/** `keys list | keys rotate [--reseal] | keys revoke KID`, parsed. */
export type KeysCommand =
  | { action: 'list' }
  | { action: 'rotate'; reseal: boolean }
  | { action: 'revoke'; kid: string }

export const KEYS_USAGE = 'keys list | rotate [--reseal] | revoke KID'

export const KEYS_HELP = `The keys that sign access tokens (JWT_ALGORITHM ES256 or EdDSA).

  keys list          every stored key: kid, algorithm, state, when it was created,
                     retired and revoked. next: published, signs after the next
                     rotation; current: signs; retired: published until every token
                     it signed has expired; revoked: refused and unpublished.
  keys rotate        the next key signs from now on, the current one is retired and
                     a new next key is made. Every instance follows at once.
     --reseal        after changing SECRET_KEY on purpose: keys this SECRET_KEY cannot
                     open are retired instead of refusing to rotate.
  keys revoke KID    an emergency: tokens signed by KID are refused at once by every
                     instance, and KID leaves the published key set. A revoked
                     current key is replaced by the next one.

Use the API's DATABASE_URL and SECRET_KEY. With the embedded database, stop the API
first; it sees the change when it starts again.`

/** The arguments after `keys`, or an error message; checked before any database opens. */
export function parseKeysCommand(args: string[]): KeysCommand | string {
  const [action, ...rest] = args
  if (action === 'list' && rest.length === 0) return { action }
  if (action === 'rotate' && rest.every((arg) => arg === '--reseal')) {
    return { action, reseal: rest.length > 0 }
  }
  if (action === 'revoke') {
    const [kid, ...extra] = rest
    if (kid === undefined || kid.startsWith('-')) return 'keys revoke needs the KID to revoke'
    if (extra.length > 0) return `keys revoke takes one KID, not ${rest.length}`
    return { action, kid }
  }
  if (action === undefined) return 'keys needs list, rotate or revoke'
  if (action === 'list' || action === 'rotate') {
    return `unexpected argument for keys ${action}: ${rest.join(' ')}`
  }
  return `unknown keys command: ${action}`
}

const at = (date: Date | null) => (date === null ? '-' : date.toISOString())

/** One line per key, oldest first, in aligned columns. */
function formatKeyList(rows: SigningKeyRow[]): string {
  const table = [
    ['KID', 'ALG', 'STATE', 'CREATED', 'RETIRED', 'REVOKED'],
    ...rows.map((row) => [
      row.kid,
      row.algorithm,
      row.state,
      at(row.createdAt),
      at(row.retiredAt),
      at(row.revokedAt),
    ]),
  ]
  const widths = table[0]?.map((_, column) =>
    Math.max(...table.map((line) => line[column]?.length ?? 0)),
  )
  return table
    .map((line) =>
      line
        .map((cell, column) => cell.padEnd(widths?.[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

const describeRotation = (rotation: Rotation) =>
  `${rotation.current} signs now, ${rotation.next} is next` +
  (rotation.retired ? `, ${rotation.retired} retired (valid until its tokens expire)` : '')

export interface KeysCommandDeps {
  config: Readonly<Pick<Config, 'jwtAlgorithm'>>
  signingKeys: Pick<SigningKeysService, 'list' | 'rotate' | 'revoke'>
  print(line: string): void
  printError(line: string): void
}

/** Runs a parsed `keys` command; resolves to the exit code. */
export async function runKeysCommand(command: KeysCommand, deps: KeysCommandDeps) {
  const { signingKeys, print, printError } = deps
  const hs256 = deps.config.jwtAlgorithm === 'HS256'
  switch (command.action) {
    case 'list': {
      const rows = await signingKeys.list()
      print(formatKeyList(rows))
      if (rows.length === 0) print('(no keys yet: the API makes them when it first starts)')
      if (hs256) print('JWT_ALGORITHM=HS256: tokens are signed with a key derived from SECRET_KEY.')
      return 0
    }
    case 'rotate': {
      if (hs256) {
        printError('error: JWT_ALGORITHM is HS256: there are no signing keys to rotate')
        return 1
      }
      try {
        print(`rotated: ${describeRotation(await signingKeys.rotate({ reseal: command.reseal }))}`)
        return 0
      } catch (error) {
        if ((error as { code?: unknown }).code !== SEALED_UNDER_ANOTHER_SECRET) throw error
        printError(
          `error: ${(error as Error).message}.\nRun it with the API's SECRET_KEY; after ` +
            'changing SECRET_KEY on purpose: keys rotate --reseal',
        )
        return 1
      }
    }
    case 'revoke': {
      const result = await signingKeys.revoke(command.kid)
      if (result.status !== 'revoked') {
        if (result.status === 'already_revoked') {
          print(`${command.kid} was already revoked: nothing changed`)
          return 0
        }
        printError(`error: no signing key ${command.kid} (npm run cli -- keys list)`)
        return 1
      }
      print(
        `revoked: ${result.kid} (was ${result.state}); its tokens are refused from now on. ` +
          (result.current ? `${result.current} signs now, ${result.next} is next.` : ''),
      )
      return 0
    }
  }
}
