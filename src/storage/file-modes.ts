// How raftlog opens and creates the files of a node directory (as etcd does): only its own user
// reads them (directories 0700, files 0600), and never through a symlink, which another user
// could have planted to make a node write into a file of theirs (O_NOFOLLOW: ELOOP instead).
import { constants } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { systemError } from './system-error.js'

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } = constants

export const directoryMode = 0o700
export const fileMode = 0o600

/** open(2) flags for the files raftlog keeps in a node directory. */
export const openFlags = {
  /** An existing file, to read. */
  read: O_RDONLY | O_NOFOLLOW,
  /** An existing file, to read and write in place. */
  readWrite: O_RDWR | O_NOFOLLOW,
  /** A file that must not exist yet (EEXIST otherwise): a new snapshot, a new partial copy. */
  createNew: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
  /** A file made afresh whether or not one is there (a segment's zeros). */
  createOrTruncate: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
} as const

/**
 * Creates `temporaryPath` for a new file's bytes, exclusively and owner-only, after removing a
 * leftover of an interrupted write; `what` names it in the error.
 */
export async function createTemporaryFile(temporaryPath: string, what: string): Promise<FileHandle> {
  try {
    await rm(temporaryPath, { force: true })
    return await open(temporaryPath, openFlags.createNew, fileMode)
  } catch (error) {
    throw systemError(error, `Cannot create ${what}`)
  }
}
