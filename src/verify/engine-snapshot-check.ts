// `raftlog verify` of the snapshots beside a shared log engine: every group's folder
// (snapshots/group_<id>/) judged file by file as a single node's snapshots are (checkSnapshots),
// and each group's log checked to fit its newest valid snapshot as a starting replica needs it
// (the log starts at most one index after the snapshot; openReplica refuses otherwise). Reads only.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { groupSnapshotDir, snapshotsFolderName } from '../host/host-snapshots.js'
import type { Problem } from './log-reader.js'
import { replayEngineDirectory, type EngineVerifyResult } from './engine-check.js'
import { checkSnapshots, type SnapshotsCheck } from './snapshot-check.js'

/** One group's snapshot folder, judged. */
export interface GroupSnapshotsVerdict {
  group: number
  /** The folder, relative to the engine directory. */
  folder: string
  check: SnapshotsCheck
  /** The engine holds no log of this group: a host starting the group deletes the folder. */
  orphan: boolean
}

export interface EngineVerifyWithSnapshots extends EngineVerifyResult {
  snapshotFolders: GroupSnapshotsVerdict[]
}

const groupFolderPattern = /^group_(\d+)$/

/** verifyEngineDirectory's check, plus every group's snapshots and their fit with its log; problems name `snapshots/group_<id>/<file>`. */
export async function verifyEngineWithSnapshots(dir: string): Promise<EngineVerifyWithSnapshots> {
  const { result, replay } = replayEngineDirectory(dir)
  const problems: Problem[] = [...result.problems]
  const snapshotFolders: GroupSnapshotsVerdict[] = []
  const root = join(dir, snapshotsFolderName)
  const groups = existsSync(root)
    ? readdirSync(root)
        .map((name) => groupFolderPattern.exec(name)?.[1])
        .filter((id): id is string => id !== undefined)
        .map(Number)
        .sort((a, b) => a - b)
    : []
  for (const group of groups) {
    const folder = join(snapshotsFolderName, `group_${group}`)
    const check = await checkSnapshots(groupSnapshotDir(dir, group))
    const held = replay.groups.get(group)
    snapshotFolders.push({ group, folder, check, orphan: held === undefined && result.ok })
    for (const snapshot of check.snapshots) {
      if (snapshot.problem !== undefined) problems.push({ ...snapshot.problem, file: join(folder, snapshot.problem.file) })
    }
    // Only a log read to its end can be judged against its snapshot.
    if (held === undefined || !result.ok) continue
    const covered = check.newestValid?.index ?? 0
    if (held.first > covered + 1) {
      const newest = check.newestValid === undefined ? 'it has no valid snapshot' : `its newest valid snapshot, ${join(folder, check.newestValid.file)}, ends at index ${covered}`
      problems.push({ file: folder, offset: 0, index: held.first, problem: `group ${group}'s log starts at index ${held.first}, but ${newest}: a replica cannot start (entries ${covered + 1} to ${held.first - 1} are in neither)` })
    }
  }
  return { ...result, ok: problems.length === 0, problems, snapshotFolders }
}
