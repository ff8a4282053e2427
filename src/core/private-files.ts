import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'

/** Group and others' permission bits: none may be set on the data folder or its files. */
const GROUP_AND_OTHERS = 0o077
const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`

/**
 * Creates `path` (and missing parents) for its owner only, and takes group and others'
 * access away from an existing one: the data folder holds e-mails, hashes and the key.
 */
export function ensurePrivateDirectory(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 })
  if ((statSync(path).mode & GROUP_AND_OTHERS) !== 0) chmodSync(path, 0o700)
}

/**
 * Takes group and others' access away from everything under `path` (symbolic links are
 * left alone); returns how many entries it changed. Cheap when nothing needs a change.
 */
export function restrictTree(path: string): number {
  let changed = 0
  for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
    if (entry.isSymbolicLink()) continue
    const file = join(entry.parentPath, entry.name)
    const mode = lstatSync(file).mode
    if ((mode & GROUP_AND_OTHERS) !== 0) {
      chmodSync(file, mode & 0o700)
      changed++
    }
  }
  return changed
}

/** The generated key: 32 random bytes as 64 lower-case hex digits. */
const SECRET_KEY_FORMAT = /^[0-9a-f]{64}$/

/**
 * Writes a new key to `file` unless one is there. Written aside and linked into place, so
 * a concurrent start never reads a half-written file; the loser of a race keeps the winner's.
 */
export function createSecretKeyFile(file: string): void {
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(draft, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' })
  try {
    linkSync(draft, file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    rmSync(draft, { force: true })
  }
}

/**
 * Reads the key file, refusing one that is not a regular file of the current user, is
 * readable by group or others, or does not hold a generated key. Returns the key, or the
 * one-line problem naming the file and what to do.
 */
export function readSecretKeyFile(
  file: string,
  ownerUid = process.getuid?.(),
): { key: string } | { problem: string } {
  const regenerate =
    'delete it to have a new key generated (tokens and codes issued with the old one stop working)'
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw error
    return {
      problem: `${file}: is a symbolic link; put the key file itself there, or ${regenerate}`,
    }
  }
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) return { problem: `${file}: is not a regular file; ${regenerate}` }
    // Owner and mode mean nothing on Windows, which has no getuid.
    if (ownerUid !== undefined && stats.uid !== ownerUid) {
      return {
        problem: `${file}: is owned by uid ${stats.uid}, not by the user running the API (uid ${ownerUid}); chown it, or ${regenerate}`,
      }
    }
    if (ownerUid !== undefined && (stats.mode & GROUP_AND_OTHERS) !== 0) {
      return {
        problem: `${file}: has mode ${octal(stats.mode)} (group or others have access); run chmod 600 ${file}, or ${regenerate}`,
      }
    }
    const key = readFileSync(fd, 'utf8').trim()
    if (!SECRET_KEY_FORMAT.test(key)) {
      return { problem: `${file}: does not hold a key of 64 hex digits; ${regenerate}` }
    }
    return { key }
  } finally {
    closeSync(fd)
  }
}
