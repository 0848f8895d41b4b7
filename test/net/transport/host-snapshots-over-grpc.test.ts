// A group's snapshot over the real host stream: three RaftHosts, each with a GrpcHostTransport and
// a gRPC server on this machine; the third starts after the leader has compacted its log behind a
// snapshot of 2.5 MiB, which reaches it in chunks inside the host batches over gRPC, is restored,
// and the log goes on from it.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogEngine } from '../../../src/engine/log-engine.js'
import { RaftHost } from '../../../src/host/raft-host.js'
import { GrpcHostTransport } from '../../../src/net/transport/grpc-host-transport.js'
import { freePorts } from '../../helpers/processes.js'
import { LargeRecorder } from '../../helpers/host-cluster.js'

const stops: (() => void)[] = []
afterEach(() => {
  for (const stop of stops.splice(0)) stop()
})

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('RaftHost snapshots over gRPC', () => {
  it('brings a host that starts late up to date with a snapshot sent in chunks over the host stream', async () => {
    const ports = await freePorts(3)
    const peers = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }))
    const machines = new Map<number, LargeRecorder>()
    const hosts = new Map<number, RaftHost>()
    const start = async (id: number): Promise<void> => {
      const dir = mkdtempSync(join(tmpdir(), 'raftlog-host-grpc-'))
      const engine = LogEngine.open(dir, { fileSize: 1024 * 1024 })
      const transport = new GrpcHostTransport(id, peers)
      const host = new RaftHost({ nodeId: id, hosts: [1, 2, 3], engine, transport, snapshotEveryEntries: 20, snapshotTrailingEntries: 2, tickMs: 20, logger: { warn: () => {} } })
      transport.onBatch((batch) => host.receive(batch))
      const machine = new LargeRecorder()
      machines.set(id, machine)
      host.addGroup(1, [1, 2, 3], machine)
      const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 })
      const service = transport.service()
      server.addService(service.definition, service.implementation)
      await new Promise<number>((resolve, reject) => server.bindAsync(peers[id - 1]?.address as string, grpc.ServerCredentials.createInsecure(), (error, port) => (error === null ? resolve(port) : reject(error))))
      const clock = setInterval(() => host.tick(), 20)
      hosts.set(id, host)
      stops.push(() => {
        clearInterval(clock)
        host.stop()
        transport.close()
        server.forceShutdown()
        engine.close()
        rmSync(dir, { recursive: true, force: true })
      })
    }
    await start(1)
    await start(2)
    const leaderOf = (): RaftHost | undefined => [...hosts.values()].find((host) => host.leaderOf(1) === host.nodeId)
    await until(() => leaderOf() !== undefined, 'a leader')
    const values = Array.from({ length: 60 }, (_, i) => `v${i}`)
    for (const value of values) await (leaderOf() as RaftHost).propose(1, Buffer.from(value))
    await until(() => (leaderOf()?.counters.compactions ?? 0) > 0, 'the leader compacted its log')
    await start(3)
    const late = machines.get(3) as LargeRecorder
    await until(() => late.values.length === values.length, 'host 3 caught up')
    expect(late.restoredFrom).toBeDefined()
    expect(late.values).toEqual(values)
    expect(hosts.get(3)?.counters.snapshotsReceived).toBeGreaterThan(0)
    // The log goes on from the snapshot.
    await (leaderOf() as RaftHost).propose(1, Buffer.from('after'))
    await until(() => late.values.length === values.length + 1, 'host 3 applied the next entry')
    expect(late.values.at(-1)).toBe('after')
  }, 60_000)
})
