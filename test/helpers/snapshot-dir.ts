// A node directory with snapshots, made the way a node makes one: a log of text entries, snapshot
// files written through the SnapshotStore, then the log compacted behind them. Fast (no Raft
// node, no timers), so the tool tests can build many shapes of directory.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../../src/index.js'
import { SnapshotStore } from '../../src/storage/snapshot-store.js'
import { snapshotFileName } from '../../src/storage/snapshot-format.js'
import { silentLogger } from './entries.js'
import { tempDir } from './temp-dir.js'

export interface SnapshotDirOptions {
  /** Entries in the log, `entry <i>`, term 1 + (i >> 6) (default 300). */
  entries?: number
  /** Snapshots to take, by index. */
  snapshots: number[]
  /** RaftLog.compact(upTo) after them (default: no compaction). */
  compactTo?: number
}

/** The term of entry `index` in these directories. */
export function termOf(index: number): number {
  return 1 + (index >> 6)
}

export async function makeSnapshotDir(options: SnapshotDirOptions): Promise<string> {
  const dir = tempDir()
  const log = RaftLog.open(dir, { segmentSize: 4096, logger: silentLogger })
  for (let i = 1; i <= (options.entries ?? 300); i++) log.append([{ term: termOf(i), data: Buffer.from(`entry ${i}`) }])
  await log.flush()
  const store = SnapshotStore.open(dir)
  for (const index of options.snapshots) {
    const writer = await store.create({ index, term: termOf(index), metadata: new Uint8Array(0) })
    await writer.write(Buffer.from(`state after ${index}\n`.repeat(50)))
    await writer.finish()
  }
  if (options.compactTo !== undefined) log.compact(options.compactTo)
  log.close()
  return dir
}

/** Flips one bit of a snapshot file at `offset`. */
export function damageSnapshot(dir: string, index: number, offset: number): string {
  const path = join(dir, snapshotFileName(index))
  const bytes = readFileSync(path)
  bytes[offset] = bytes[offset]! ^ 0x01
  writeFileSync(path, bytes)
  return snapshotFileName(index)
}
