// `raftlog recover DIR --as-new-cluster`: one surviving node's directory becomes the only member
// of a new cluster, when the rest of its cluster is lost for good and no majority can ever answer
// again (etcd's --force-new-cluster, hashicorp/raft's RecoverCluster). Every entry the node holds
// stays, committed or not; a new configuration with only this node is appended to its log as a
// Config entry, in a term above any it has seen, and recorded as committed in raft_state.meta
// with a new cluster id, so the node's start-up path (starting-configuration.ts) finds it as the
// latest configuration whatever node list its YAML file gives. Every file it changes is copied
// into a folder beside DIR first.
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { RaftLogError } from '../errors.js'
import { isLockHeld, lockFile, unlockFile } from '../storage/native.js'
import { RaftLog } from '../storage/raft-log.js'
import { RaftStateFile, stateFileName, type RaftState } from '../storage/raft-state-file.js'
import { EntryType } from '../storage/log-entry.js'
import { frameHeaderSizeBytes } from '../storage/segment-format.js'
import { systemError } from '../storage/system-error.js'
import { decodeConfiguration, encodeConfiguration, membersOf, removedOf, type Configuration } from '../raft/core/configuration.js'
import { clusterIdOf, newClusterToken } from '../raft/node/cluster-identity.js'
import { checkLog, type LogCheck } from './log-check.js'
import { checkLogDirectory, withFileBytes, type SegmentScan } from './log-reader.js'
import { backUp, backupFolderName } from './log-repair.js'
import { checkSnapshots } from './snapshot-check.js'
import { checkStateFile } from './state-check.js'

/** What recovery will do to one directory, worked out before anything changes. */
export interface NewClusterPlan {
  dir: string
  nodeId: number
  /** The node's log: its last index and term (a snapshot's when the log is empty). */
  lastIndex: number
  lastTerm: number
  /** The highest index this node knew committed (raft_state.meta). */
  commitIndex: number
  /** Entries after commitIndex: kept, and committed by the new cluster, though no client may have been told. */
  beyondCommit: number
  /** The configuration the node would use now, and where it is. */
  current: { index: number; config: Configuration }
  /** The new cluster's configuration: this node alone, every other member removed. */
  next: Configuration
  /** The index and term of the Config entry that carries it. */
  entryIndex: number
  entryTerm: number
  /** The cluster id users see now, and the founding id behind it (raft_state.meta). */
  oldClusterId: string
  oldFoundingId: string
  /** The founding id recorded in raft_state.meta, and the cluster id users see (with the token). */
  newFoundingId: string
  newClusterId: string
  /** Files of DIR copied before they change, and the folder they go to (created on apply). */
  files: string[]
  backup: string
  /** When the plan was made: the backup folder's name comes from it. */
  at: Date
  /** Things the operator should know before saying yes. */
  notes: string[]
}

/** Recovery's plan for `dir`: reads only, holding the directory's lock (ERR_LOCKED while a node runs). */
export async function planNewClusterRecovery(dir: string, now = new Date()): Promise<NewClusterPlan> {
  checkDirectory(dir)
  const lock = lockDirectory(dir)
  try {
    return await plan(dir, now)
  } finally {
    unlockFile(lock)
  }
}

async function plan(dir: string, now: Date): Promise<NewClusterPlan> {
  const stateCheck = checkStateFile(dir)
  const problem = stateCheck.problems[0]
  if (problem !== undefined) throw new RaftLogError('ERR_CORRUPT', `${join(dir, stateFileName)} is damaged (${problem.problem}): this directory cannot be recovered; pick another survivor`, { dir })
  const state = stateCheck.current?.state
  if (state === undefined || (state.nodeId ?? 0) === 0) throw new RaftLogError('ERR_NOT_RAFTLOG', `${dir} has no node recorded in ${stateFileName}: it never ran as a node of a cluster`, { dir })
  const log = checkLog(dir)
  const damage = log.problems[0]
  if (damage !== undefined) {
    throw new RaftLogError('ERR_CORRUPT', `${dir} has a damaged log (${damage.file}: byte ${damage.offset}: ${damage.problem}): run raftlog verify ${dir} and raftlog repair ${dir} first, or pick another survivor`, { dir, file: damage.file })
  }
  const end = await logEnd(dir, log)
  const current = currentConfiguration(dir, state, log)
  const nodeId = state.nodeId as number
  if (!membersOf(current.config).includes(nodeId)) {
    throw new RaftLogError('ERR_NOT_MEMBER', `Node ${nodeId} is not a member of the configuration its log holds (index ${current.index}: removed, or never added): it cannot found the new cluster; pick another survivor`, { dir, nodeId })
  }
  const entryIndex = end.lastIndex + 1
  const entryTerm = Math.max(state.currentTerm, end.lastTerm) + 1
  const others = membersOf(current.config).filter((id) => id !== nodeId)
  const removed = [...new Set([...removedOf(current.config), ...others])].sort((a, b) => a - b)
  const token = newClusterToken()
  const next: Configuration = {
    voters: [nodeId],
    outgoing: [],
    learners: [],
    addresses: current.config.addresses[nodeId] === undefined ? {} : { [nodeId]: current.config.addresses[nodeId] as string },
    ...(removed.length > 0 ? { removed } : {}),
    clusterToken: token,
  }
  const newFoundingId = randomBytes(16).toString('hex')
  const notes: string[] = []
  if (!current.config.voters.includes(nodeId) && !current.config.outgoing.includes(nodeId)) notes.push(`node ${nodeId} is a learner: it may lack entries the voters committed`)
  if (state.removed === true) notes.push(`a member told node ${nodeId} it was removed from its cluster: its log may lag behind what that cluster committed`)
  return {
    dir,
    nodeId,
    lastIndex: end.lastIndex,
    lastTerm: end.lastTerm,
    commitIndex: state.commitIndex,
    beyondCommit: Math.max(0, end.lastIndex - state.commitIndex),
    current,
    next,
    entryIndex,
    entryTerm,
    oldClusterId: clusterIdOf(state.clusterId ?? '', committedToken(state)),
    oldFoundingId: state.clusterId ?? '',
    newFoundingId,
    newClusterId: clusterIdOf(newFoundingId, token),
    files: changedFiles(log),
    backup: backupFolderName(dir, 'recover', now),
    at: now,
    notes,
  }
}

/**
 * Carries `plan` out: backs up its files, appends the new configuration and records it (with
 * the new term and cluster id) in raft_state.meta. Refuses, changing nothing, when the directory
 * changed since the plan was made. Returns the backup folder.
 */
export async function recoverAsNewCluster(plan: NewClusterPlan): Promise<string> {
  checkDirectory(plan.dir)
  const lock = lockDirectory(plan.dir)
  let backup: string
  try {
    const again = await logEnd(plan.dir, checkLog(plan.dir))
    if (again.lastIndex !== plan.lastIndex || again.lastTerm !== plan.lastTerm) {
      throw new RaftLogError('ERR_LOCKED', `${plan.dir} changed since recovery looked at it (its log now ends at index ${again.lastIndex}, term ${again.lastTerm}): is a node running on it? Nothing was changed`, { dir: plan.dir })
    }
    backup = backUp(plan.dir, plan.files, plan.at, 'recover')
  } finally {
    // RaftLog.open takes the lock itself (flock is per open file: this descriptor would refuse it).
    unlockFile(lock)
  }
  const log = RaftLog.open(plan.dir)
  let stateFile: RaftStateFile | undefined
  try {
    stateFile = RaftStateFile.open(join(plan.dir, stateFileName))
    if (log.lastIndex !== plan.lastIndex || log.lastTerm !== plan.lastTerm) {
      throw new RaftLogError('ERR_LOCKED', `${plan.dir}'s log opened at index ${log.lastIndex}, term ${log.lastTerm}, not the index ${plan.lastIndex}, term ${plan.lastTerm} recovery planned for; nothing was appended (the backup is in ${backup})`, { dir: plan.dir })
    }
    const data = encodeConfiguration(plan.next)
    // The state file's term goes up first: a term never trails the log. A crash part way leaves
    // the old membership with a higher term, or the new configuration as the log's latest entry
    // (which a starting node uses, committed or not) without the new cluster id: running
    // recover again finishes either.
    const saved = stateFile.load()
    stateFile.save({ ...saved, currentTerm: plan.entryTerm, votedFor: 0, serverState: 0 })
    log.append([{ term: plan.entryTerm, type: EntryType.Config, data }])
    await log.flush()
    // Recorded as committed, with the new founding id: the node starts as this configuration's
    // only voter, in the new cluster, and a YAML file listing the old members cannot bring them back.
    stateFile.save({ ...stateFile.load(), commitIndex: plan.entryIndex, clusterId: plan.newFoundingId, memberSince: 0, removed: false, configuration: { index: plan.entryIndex, data } })
  } finally {
    stateFile?.close()
    log.close()
  }
  return backup
}

const stopFirst = 'stop the node first (recovery works on a directory no process holds)'

/** A raftlog directory no running node holds (ERR_NOT_RAFTLOG, ERR_LOCKED). */
function checkDirectory(dir: string): void {
  try {
    checkLogDirectory(dir)
  } catch (error) {
    if (error instanceof RaftLogError && error.code === 'ERR_LOCKED') throw new RaftLogError('ERR_LOCKED', `${error.message}: ${stopFirst}`, { dir })
    throw error
  }
}

function lockDirectory(dir: string): number {
  try {
    return lockFile(join(dir, 'LOCK'))
  } catch (error) {
    if (isLockHeld(error)) throw new RaftLogError('ERR_LOCKED', `${dir} is locked by a running raftlog process: ${stopFirst}`, { dir })
    throw systemError(error, `Cannot lock ${dir}`)
  }
}

/** The last index and term the node holds: its log's, or its newest snapshot's when the log is empty. */
async function logEnd(dir: string, log: LogCheck): Promise<{ lastIndex: number; lastTerm: number }> {
  const lastFrame = keptFrames(log).at(-1)
  if (lastFrame !== undefined) return { lastIndex: lastFrame.index, lastTerm: lastFrame.term }
  const snapshot = (await checkSnapshots(dir)).newestValid
  const first = log.scans[0]
  if (snapshot !== undefined && snapshot.index >= (first?.baseIndex ?? 1) - 1) return { lastIndex: snapshot.index, lastTerm: snapshot.term ?? 0 }
  return { lastIndex: (first?.baseIndex ?? 1) - 1, lastTerm: first?.header?.prevTerm ?? 0 }
}

/** Every frame the log holds once opened, with the scan it is in, oldest first. */
function keptFrames(log: LogCheck): (SegmentScan['frames'][number] & { scan: SegmentScan })[] {
  const last = log.lastIndex ?? 0
  const removed = new Set(log.removals.map((removal) => removal.file))
  return log.scans.filter((scan) => !removed.has(scan.file)).flatMap((scan) => scan.frames.filter((frame) => frame.index <= last).map((frame) => ({ ...frame, scan })))
}

/**
 * The configuration the node would use: the latest Config entry of its log after the one its
 * state file records as committed, else that one (as starting-configuration.ts decides).
 */
function currentConfiguration(dir: string, state: RaftState, log: LogCheck): { index: number; config: Configuration } {
  const recorded = state.configuration
  const entries = keptFrames(log).filter((frame) => frame.type === EntryType.Config && frame.index > (recorded?.index ?? 0))
  for (const frame of entries.reverse()) {
    const data = withFileBytes(frame.scan.path, (bytes) => Buffer.from(bytes.subarray(frame.offset + frameHeaderSizeBytes, frame.offset + frameHeaderSizeBytes + frame.length)))
    try {
      return { index: frame.index, config: decodeConfiguration(data) }
    } catch {
      // An unreadable configuration entry is skipped at start too.
    }
  }
  if (recorded !== undefined) return { index: recorded.index, config: decodeConfiguration(recorded.data) }
  throw new RaftLogError('ERR_NO_CONFIGURATION', `${dir} holds no cluster configuration (none recorded in ${stateFileName}, none in its log): the node's membership is unknown, so it cannot be recovered`, { dir })
}

/** The cluster token of the state file's committed configuration, if any. */
function committedToken(state: RaftState): string | undefined {
  if (state.configuration === undefined) return undefined
  try {
    return decodeConfiguration(state.configuration.data).clusterToken
  } catch {
    return undefined
  }
}

/** What opening and appending may change: the state file, the segment appended to, and what open() cuts or deletes. */
function changedFiles(log: LogCheck): string[] {
  const removed = new Set(log.removals.map((removal) => removal.file))
  const kept = log.scans.filter((scan) => !removed.has(scan.file))
  const files = new Set([stateFileName, ...log.cuts.map((cut) => cut.file), ...removed])
  const last = kept.at(-1)
  if (last !== undefined) files.add(last.file)
  return [...files]
}
