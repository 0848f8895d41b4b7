// `raftlog node` whose storage fails stops and says so with its exit status, so a supervisor
// restarts it (or a human looks), instead of serving forever as a follower that answers nothing.
import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog, RaftNode } from '../../src/index.js'
import { MemoryNetwork } from '../../src/testing/index.js'
import { silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'
import { runCli } from '../helpers/cli.js'
import { freePort } from '../helpers/processes.js'


describe('raftlog node on a damaged log', () => {
  it('exits 1 after a corrupt committed entry in a sealed segment is found', async () => {
    const root = tempDir('raftlog-node-failure-')
    const dir = join(root, 'logs', 'node_1')
    const segmentSize = 64 * 1024
    // A one-node cluster's history: 300 committed entries over several sealed segments.
    const node = await RaftNode.start({ id: 1, peers: [1], dir, stateMachine: { apply: () => undefined }, transport: new MemoryNetwork().endpoint(1), logger: silentLogger, segmentSize, electionTimeout: [60, 120], heartbeatInterval: 15 })
    while (node.status().role !== 'leader') await new Promise((resolve) => setTimeout(resolve, 10))
    await Promise.all(Array.from({ length: 300 }, (_, i) => node.propose(new Uint8Array(1000).fill(i & 0xff))))
    await node.stop()
    const log = RaftLog.open(dir, { logger: silentLogger })
    const [first] = log.describeSegments()
    log.close()
    expect(first!.sealed).toBe(true)
    const path = join(dir, first!.file)
    const bytes = readFileSync(path)
    bytes[64 + 32 + 8] = bytes[64 + 32 + 8]! ^ 0x01
    writeFileSync(path, bytes)
    const config = join(root, 'cluster.yaml')
    writeFileSync(config, `nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: ${await freePort()} }\ncluster_settings:\n  log_directory: "./logs"\n  log_segment_size: ${segmentSize}\n`)
    const result = await runCli(['node', '--node-id', '1', '--config', config], { timeoutMs: 30_000 })
    expect(result.status).toBe(1)
    // Found when the entry is read to be applied again (the configuration comes from raft_state.meta,
    // so the start no longer reads every frame): the node stops on it, naming segment, byte and index.
    expect(result.stderr).toMatch(/stopping after a storage failure: Segment segment_\d{20}\.log is corrupt at byte \d+ \(index 1\): checksum mismatch\n/)
  })
})
