// The snapshot files of a log directory as `inspect` and `verify` judge them. Every file is read
// whole by the store's own check (SnapshotStore.check: every chunk checksum, the end record and
// the whole), so the tools call valid exactly what a starting node accepts. Reads only: the
// store is opened with inspect(), which leaves the leftovers of interrupted writes in place.
import { RaftLogError } from '../errors.js'
import { SnapshotStore, type SnapshotFile } from '../storage/snapshot-store.js'
import type { Problem } from './log-reader.js'

export interface SnapshotVerdict {
  file: string
  /** The last index the snapshot covers (from its name, which a valid file's header agrees with). */
  index: number
  /** The term of that entry; undefined when the header cannot be read. */
  term: number | undefined
  sizeBytes: number
  /** The whole file checks out, and its header agrees with its name. */
  valid: boolean
  /** What is wrong with it: file, byte, index and problem. */
  problem: Problem | undefined
}

export interface SnapshotsCheck {
  /** Oldest first. */
  snapshots: SnapshotVerdict[]
  /** The one a starting node restores: the newest valid file. */
  newestValid: SnapshotVerdict | undefined
  /** `.snap.tmp` and `.snap.partial` files: a starting node deletes them. */
  leftovers: string[]
}

export async function checkSnapshots(dir: string): Promise<SnapshotsCheck> {
  const store = SnapshotStore.inspect(dir)
  const snapshots: SnapshotVerdict[] = []
  for (const snapshot of store.list()) snapshots.push(await judge(store, snapshot))
  return { snapshots, newestValid: snapshots.filter((snapshot) => snapshot.valid).at(-1), leftovers: store.leftovers() }
}

async function judge(store: SnapshotStore, snapshot: SnapshotFile): Promise<SnapshotVerdict> {
  const verdict: SnapshotVerdict = { file: snapshot.file, index: snapshot.index, term: snapshot.header?.term, sizeBytes: snapshot.sizeBytes, valid: false, problem: undefined }
  try {
    await store.check(snapshot)
  } catch (error) {
    if (!(error instanceof RaftLogError) || error.code !== 'ERR_CORRUPT') throw error
    const { offset, problem } = error.details as { offset: number; problem: string }
    verdict.problem = { file: snapshot.file, offset, index: snapshot.index, problem }
    return verdict
  }
  // The checksums hold, but a name that disagrees with the header would put it in the wrong place
  // (list() found it; the header's index field is at byte 8).
  if (snapshot.problem !== undefined) {
    verdict.problem = { file: snapshot.file, offset: 8, index: snapshot.index, problem: snapshot.problem }
    return verdict
  }
  verdict.valid = true
  return verdict
}
