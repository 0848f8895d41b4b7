// What a node that joins takes from the member it asks (joining.ts): the cluster id it is told
// ends up in its state file and every batch it sends, so only a real id is taken.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { joinCluster } from '../../../src/net/server/joining.js'
import { protocol } from '../../../src/net/protocol.js'
import type { ClusterConfig } from '../../../src/net/config/cluster-config.js'

const servers: grpc.Server[] = []
afterEach(() => {
  for (const server of servers.splice(0)) server.forceShutdown()
})

/** A member whose Join answers with `clusterId`. */
async function member(clusterId: string): Promise<string> {
  const server = new grpc.Server()
  servers.push(server)
  server.addService(protocol.RaftClient.service, {
    Join: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { clusterId, configuration: { voters: [1], learners: [4], members: [{ id: 4, address: '127.0.0.1:4' }] } }),
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return `127.0.0.1:${port}`
}

const cluster = { path: 'cluster.yaml', nodes: [] } as unknown as ClusterConfig

describe('joinCluster', () => {
  it('takes the cluster id of the answer when it is one', async () => {
    const id = '0123456789abcdef0123456789abcdef'
    expect(await joinCluster(cluster, await member(id), { id: 4, address: '127.0.0.1:4' })).toMatchObject({ clusterId: id })
  })

  it('refuses an answer whose cluster id is not one, without repeating it', async () => {
    const forged = `${'f'.repeat(4 * 1024 * 1024)}\n[node 1] forged`
    const via = await member(forged)
    const refusal = await joinCluster(cluster, via, { id: 4, address: '127.0.0.1:4' }).catch((error: Error & { code: string }) => error)
    expect(refusal).toMatchObject({ code: 'ERR_JOIN' })
    expect((refusal as Error).message).toBe(`Node 4 could not join the cluster through ${via}: a cluster id must be 32 hex digits; the answer held "${'f'.repeat(32)}…" (${forged.length} characters)`)
  })
})
