// A group's replica applies its committed entries from the engine's log. A turn's finish waits
// for the turn's flush; meanwhile a snapshot received from the leader may be stepped in, and the
// core then cuts the log to start after it at once (its restore follows in the next Ready). The
// finish must not read the entries cut away: they are the snapshot's.
import { afterEach, describe, expect, it } from 'vitest'
import { rmSync } from 'node:fs'
import { LogEngine } from '../../src/engine/log-engine.js'
import { GroupReplica } from '../../src/host/group-replica.js'
import { RaftCore } from '../../src/raft/core/raft-core.js'
import type { LogEntry } from '../../src/storage/log-entry.js'
import { tempDir } from '../helpers/temp-dir.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function replicaOnEngine() {
  const dir = tempDir('raftlog-replica-')
  const engine = LogEngine.open(dir, { fileSize: 64 * 1024 })
  cleanups.push(() => {
    engine.close()
    rmSync(dir, { recursive: true, force: true })
  })
  engine.createGroup(1)
  const log = engine.group(1)
  const core = new RaftCore({ id: 2, peers: [1, 2, 3], log, hardState: { currentTerm: 1, votedFor: 0, commitIndex: 0 }, electionTicks: [10, 20], heartbeatTicks: 1, random: () => 0.5 })
  const applied: string[] = []
  const machine = { apply: (entry: LogEntry) => applied.push(Buffer.from(entry.data).toString()) }
  const replica = new GroupReplica(1, core, log, machine, 0)
  const append = (from: number, to: number): void => {
    const entries = []
    for (let index = from; index <= to; index++) entries.push({ term: 1, data: Buffer.from(`v${index}`) })
    log.append(entries)
  }
  return { log, replica, applied, append }
}

describe('GroupReplica', () => {
  it('skips entries a snapshot stepped in since the turn cut from the log, and applies after its restore', async () => {
    const { log, replica, applied, append } = replicaOnEngine()
    append(1, 5)
    await replica.applyTo(2)
    // A turn saw commit index 5 and waits for its flush; a snapshot at 20 is stepped in meanwhile.
    log.reset(21, 1)
    await replica.applyTo(5)
    let restored = false
    await replica.restoreFrom({ index: 20, term: 1 }, async () => {
      restored = true
    })
    append(21, 22)
    await replica.applyTo(22)
    expect(restored).toBe(true)
    expect(applied).toEqual(['v1', 'v2', 'v21', 'v22'])
    expect(replica.applied).toBe(22)
  })
})
