// Restores a backup (raftlog snapshot save) as a node directory of a NEW cluster (etcdctl
// snapshot restore): the backup's state machine snapshot becomes the node's snapshot, carrying
// the new cluster's configuration, and raft_state.meta records the node id, the new cluster's
// founding id and that configuration as committed at the snapshot's index. Started, the node
// restores its state machine from the snapshot and its log goes on after it; the new cluster's
// first leader commits a random token, so its id differs from every other cluster's from then on.
// Run it once per node of the new cluster, with the same backup and the same members: every
// node then finds the same founding id and configuration without talking to the others.
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { RaftLogError } from '../../errors.js'
import { checkBackupFile, readBackupSnapshot, type BackupSummary } from '../../storage/backup-file.js'
import { directoryMode } from '../../storage/file-modes.js'
import { RaftStateFile, stateFileName } from '../../storage/raft-state-file.js'
import { SnapshotStore } from '../../storage/snapshot-store.js'
import { encodeConfiguration, votersOnly, type Configuration, type Member } from '../core/configuration.js'

export interface RestoreSnapshotOptions {
  /** The backup file (raftlog snapshot save, ClusterClient.saveSnapshot). */
  file: string
  /** The new node's directory: made (0700) when missing, refused (ERR_NOT_EMPTY) unless empty. */
  dir: string
  /** This node's id: one of `members`. */
  nodeId: number
  /** The new cluster's voters, with the host:port each serves on. */
  members: Member[]
  /** The new cluster's cluster_settings.cluster_name (part of its id, as at a first start). */
  clusterName?: string
}

export interface RestoreReport {
  dir: string
  nodeId: number
  /** What the snapshot covers: the new cluster's log goes on at index + 1. */
  index: number
  term: number
  /** The new cluster's founding id (its id until its first leader commits a random token). */
  foundingId: string
  configuration: Configuration
  /** The backup, as it checked out. */
  backup: BackupSummary
}

/**
 * Builds node `nodeId`'s directory of a new cluster of `members` from a backup; the backup is
 * checked whole first. Rejects with ERR_BAD_ARGUMENT, ERR_NOT_EMPTY (the directory holds files),
 * ERR_NOT_BACKUP, ERR_CORRUPT or ERR_UNSUPPORTED_VERSION (the backup), or a system error; a
 * failed restore leaves the directory as empty as it found it.
 */
export async function restoreSnapshot(options: RestoreSnapshotOptions): Promise<RestoreReport> {
  const { file, dir, nodeId, members } = checkOptions(options)
  const created = prepareDirectory(dir)
  try {
    const backup = await checkBackupFile(file)
    const configuration = votersOnly(
      members.map((member) => member.id),
      Object.fromEntries(members.map((member) => [member.id, member.address])),
    )
    const foundingId = restoredClusterId(backup, configuration, options.clusterName ?? '')
    const metadata = encodeConfiguration(configuration)
    await writeSnapshot(dir, backup, metadata)
    const stateFile = RaftStateFile.open(join(dir, stateFileName))
    try {
      // The snapshot's entry is committed (a majority of the old cluster held it) and so is the
      // new configuration, from the new cluster's point of view: nothing before it is asked for.
      stateFile.save({
        currentTerm: backup.term,
        votedFor: 0,
        commitIndex: backup.index,
        lastApplied: backup.index,
        serverState: 0,
        nodeId,
        clusterId: foundingId,
        memberSince: 0,
        configuration: { index: backup.index, data: metadata },
      })
    } finally {
      stateFile.close()
    }
    return { dir, nodeId, index: backup.index, term: backup.term, foundingId, configuration, backup }
  } catch (error) {
    emptyAgain(dir, created)
    throw error
  }
}

/**
 * The new cluster's founding id: a hash of the backup (its cluster, index and checksum), the new
 * configuration and name. Every node restored from the same backup into the same members finds
 * the same id; any other cluster has another.
 */
function restoredClusterId(backup: BackupSummary, configuration: Configuration, name: string): string {
  return createHash('sha256')
    .update('raftlog restored cluster\0')
    .update(`${backup.clusterId}\0${backup.index}\0${backup.term}\0${backup.checksum}\0${name}\0`)
    .update(encodeConfiguration(configuration))
    .digest('hex')
    .slice(0, 32)
}

async function writeSnapshot(dir: string, backup: BackupSummary, metadata: Uint8Array): Promise<void> {
  const store = SnapshotStore.open(dir)
  const writer = await store.create({ index: backup.index, term: backup.term, metadata })
  const reader = await readBackupSnapshot(backup)
  try {
    for await (const chunk of reader.chunks()) await writer.write(chunk)
    await writer.finish()
  } catch (error) {
    await writer.abort()
    throw error
  } finally {
    await reader.close()
  }
}

/**
 * Makes `dir` (0700) when missing, with its missing parents; refuses one that holds anything.
 * Returns the first directory it made (`dir` or a parent of it), undefined when `dir` was there.
 */
function prepareDirectory(dir: string): string | undefined {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    const made = mkdirSync(dir, { recursive: true, mode: directoryMode })
    // Made by someone else meanwhile: it is checked as any directory that was there.
    return made ?? prepareDirectory(dir)
  }
  if (entries.length > 0) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '')
    throw new RaftLogError('ERR_NOT_EMPTY', `${dir} is not empty (${shown}): a snapshot is restored only into an empty or new directory, never over a node's files`, { dir })
  }
  return undefined
}

/**
 * After a failed restore: the directory as it was (gone, with the parents made for it that nothing
 * else has filled meanwhile, such as another restore beside it; or empty).
 */
function emptyAgain(dir: string, created: string | undefined): void {
  if (created === undefined) {
    for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true })
    return
  }
  rmSync(dir, { recursive: true, force: true })
  // `created` is `dir` or one of its parents: the parents of `dir` down to it, innermost first.
  const top = resolve(created)
  for (let parent = dirname(resolve(dir)); parent.length >= top.length; parent = dirname(parent)) {
    try {
      rmdirSync(parent)
    } catch {
      return // not empty (or gone): what is left is someone else's
    }
  }
}

function checkOptions(options: RestoreSnapshotOptions): RestoreSnapshotOptions {
  const bad = (problem: string, argument: string): RaftLogError => new RaftLogError('ERR_BAD_ARGUMENT', `restoreSnapshot: ${problem}`, { argument })
  if (options === null || typeof options !== 'object') throw bad('options must be an object', 'options')
  if (typeof options.file !== 'string' || options.file === '') throw bad('file must be the path of a backup file', 'file')
  if (typeof options.dir !== 'string' || options.dir === '') throw bad('dir must be a directory path', 'dir')
  if (!Number.isSafeInteger(options.nodeId) || options.nodeId < 1) throw bad(`nodeId must be a whole number from 1, got ${String(options.nodeId)}`, 'nodeId')
  if (!Array.isArray(options.members) || options.members.length === 0) throw bad('members must list the new cluster\'s nodes ({ id, address })', 'members')
  const ids = new Set<number>()
  for (const member of options.members) {
    if (!Number.isSafeInteger(member?.id) || member.id < 1) throw bad(`a member's id must be a whole number from 1, got ${String(member?.id)}`, 'members')
    if (typeof member.address !== 'string') throw bad(`member ${member.id} needs an address (host:port)`, 'members')
    if (ids.has(member.id)) throw bad(`node ${member.id} is listed twice`, 'members')
    ids.add(member.id)
  }
  if (!ids.has(options.nodeId)) throw bad(`node ${options.nodeId} is not one of the members (${[...ids].join(', ')})`, 'nodeId')
  return options
}
