// Kill points inside the snapshot path, for the crash test's snapshot writer process only. The
// writer wraps the calls its node makes on the way (node:fs/promises open and rename, a file
// handle's write and sync, node:fs rmSync and renameSync, RaftLog.compact) and SIGKILLs itself at the one the
// seed picked: production code knows nothing of it, and what is killed is the real code path.
// The wrappers go in by syncBuiltinESMExports(), which makes the storage modules' named imports
// (`import { rename } from 'node:fs/promises'`) see them; the writer of the other rounds arms
// its failpoints the same way.
import fs from 'node:fs'
import fsp, { type FileHandle } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { basename } from 'node:path'
import { RaftLog } from '../../storage/raft-log.js'
import { parseSnapshotFileName } from '../../storage/snapshot-format.js'

/**
 * snapshot-write: a write or the sync of the snapshot's temporary file.
 * snapshot-rename: the rename of the finished temporary file to its real name.
 * log-compaction: a segment deleted by RaftLog.compact after the snapshot is durable.
 * snapshot-prune: an older snapshot file deleted after the compaction.
 */
export type SnapshotKillPoint = 'snapshot-write' | 'snapshot-rename' | 'log-compaction' | 'snapshot-prune'
export const snapshotKillPoints: SnapshotKillPoint[] = ['snapshot-write', 'snapshot-rename', 'log-compaction', 'snapshot-prune']

/** Before the call, after it returned, or (a file write) after writing only the first half of its bytes. */
export type SnapshotKillStep = 'before' | 'after' | 'torn'

export interface SnapshotKillPlan {
  point: SnapshotKillPoint
  /** The writer dies at this call of its point (counted over the whole round, from 1). */
  countdown: number
  step: SnapshotKillStep
}

export interface FailpointHooks {
  /** Tells the parent a line (synchronously, before the kill). */
  say(line: string): void
  /** A snapshot file is about to be created: resolves when the snapshot may go on. */
  snapshotStarting(index: number): Promise<void>
}

const temporarySuffix = '.snap.tmp'
const segmentName = /^segment_\d{20}\.log$/

export async function installSnapshotFailpoints(plan: SnapshotKillPlan, hooks: FailpointHooks): Promise<void> {
  let calls = 0
  /** Counts a call of `point`; true when it is the one to die at. */
  const due = (point: SnapshotKillPoint): boolean => point === plan.point && ++calls === plan.countdown
  const die = (what: string): never => {
    hooks.say(`K ${plan.point} ${plan.step} ${what}`)
    process.kill(process.pid, 'SIGKILL')
    throw new Error('unreachable: SIGKILL sent')
  }

  // Temporary snapshot files, by handle: only their writes and syncs are snapshot-write calls.
  const temporary = new WeakMap<FileHandle, string>()
  const open = fsp.open
  fsp.open = (async (path: fs.PathLike, ...rest: unknown[]) => {
    const name = basename(String(path))
    if (!name.endsWith(temporarySuffix)) return (open as (...args: unknown[]) => Promise<FileHandle>)(path, ...rest)
    hooks.say(`S ${parseSnapshotFileName(name.slice(0, -'.tmp'.length)) ?? name}`)
    await hooks.snapshotStarting(parseSnapshotFileName(name.slice(0, -'.tmp'.length)) ?? 0)
    const handle = await (open as (...args: unknown[]) => Promise<FileHandle>)(path, ...rest)
    temporary.set(handle, name)
    return handle
  }) as typeof fsp.open

  // FileHandle is not exported: its prototype is reached through a handle.
  const probe = await open(process.execPath, 'r')
  const handlePrototype = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown>; sync: () => Promise<void> }
  await probe.close()
  const write = handlePrototype.write
  handlePrototype.write = async function (this: FileHandle, ...args: unknown[]) {
    const name = temporary.get(this)
    if (name === undefined || !due('snapshot-write')) return write.apply(this, args)
    const [buffer, offset, length, position] = args as [Uint8Array, number, number, number]
    const what = `write of ${length} bytes at byte ${position} of ${name}`
    if (plan.step === 'before') die(what)
    if (plan.step === 'torn') {
      await write.call(this, buffer, offset, Math.ceil(length / 2), position)
      die(`${what} (half written)`)
    }
    await write.apply(this, args)
    return die(what)
  }
  const sync = handlePrototype.sync
  handlePrototype.sync = async function (this: FileHandle) {
    const name = temporary.get(this)
    if (name === undefined || !due('snapshot-write')) return sync.call(this)
    if (plan.step !== 'after') die(`sync of ${name}`)
    await sync.call(this)
    die(`sync of ${name}`)
  }

  const rename = fsp.rename
  fsp.rename = async (from: fs.PathLike, to: fs.PathLike) => {
    if (!String(from).endsWith(temporarySuffix) || !due('snapshot-rename')) return rename(from, to)
    const what = `rename of ${basename(String(from))}`
    if (plan.step !== 'after') die(what)
    await rename(from, to)
    die(what)
  }

  // Segments deleted while RaftLog.compact runs are compaction; recovery and truncation delete others.
  let compacting = false
  const compact = RaftLog.prototype.compact
  RaftLog.prototype.compact = function (this: RaftLog, upTo: number) {
    compacting = true
    try {
      compact.call(this, upTo)
    } finally {
      compacting = false
    }
  }
  const rmSync = fs.rmSync
  fs.rmSync = (path: fs.PathLike, options?: fs.RmOptions) => {
    const name = basename(String(path))
    const point = compacting && segmentName.test(name) ? 'log-compaction' : parseSnapshotFileName(name) !== undefined ? 'snapshot-prune' : undefined
    if (point === undefined || !due(point)) return rmSync(path, options)
    const what = `deletion of ${name}`
    if (plan.step !== 'after') die(what)
    rmSync(path, options)
    die(what)
  }
  // A compacted segment leaves the log by a rename to its dropped name (unlinked later, on the
  // thread pool): that rename is the deletion.
  const renameSync = fs.renameSync
  fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    const name = basename(String(from))
    if (!compacting || !segmentName.test(name) || !due('log-compaction')) return renameSync(from, to)
    const what = `deletion of ${name}`
    if (plan.step !== 'after') die(what)
    renameSync(from, to)
    die(what)
  }
  syncBuiltinESMExports()
}
