// etcd's cluster id is 64 bits, above JavaScript's exact 2^53: every answer's header must carry
// the same id, from every member and by every path. A follower that relayed its leader's answer
// (a Put, a LeaseGrant, a keep-alive) decoded it with 64-bit fields as numbers and sent on an id
// with its low bits lost, another cluster's id to a client that compares them (etcdctl prints it).
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { settled } from '../../helpers/node-servers.js'
import { useEtcdCluster } from '../../helpers/etcd-cluster.js'

const cluster = useEtcdCluster()

/** etcd's services decoded as a client that keeps 64-bit numbers whole (etcdctl, Go) sees them. */
const exact = (() => {
  const dir = join(import.meta.dirname, '../../../proto/etcd')
  const definition = protoLoader.loadSync([join(dir, 'rpc.proto')], { includeDirs: [dir], keepCase: true, longs: String, defaults: true, oneofs: true })
  return (grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> }).etcdserverpb
})()

function call(client: grpc.Client, method: string, request: Record<string, unknown>): Promise<{ header: { cluster_id: string } }> {
  return new Promise((resolve, reject) => {
    ;(client as unknown as Record<string, (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: never) => void) => void>)[method]!(request, { deadline: Date.now() + 10_000 }, (error, response) => (error === null ? resolve(response) : reject(error)))
  })
}

describe("etcd's cluster id in answer headers", () => {
  it('is the same from the leader, from a follower, and in what a follower relays from the leader', async () => {
    const { leader, follower } = await settled(cluster.servers)
    const expected = BigInt(`0x${leader.node.clusterId.slice(0, 16)}`).toString()
    const clients: grpc.Client[] = []
    const at = (service: string, id: number): grpc.Client => {
      const address = cluster.servers.config.nodes.find((node) => node.nodeId === id)?.address as string
      const client = new exact[service]!(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 })
      clients.push(client)
      return client
    }
    try {
      const ids: Record<string, string> = {}
      for (const [where, id] of [['leader', leader.node.id], ['follower', follower.node.id]] as const) {
        ids[`${where} Put`] = (await call(at('KV', id), 'Put', { key: Buffer.from('id'), value: Buffer.from(where) })).header.cluster_id
        ids[`${where} Range`] = (await call(at('KV', id), 'Range', { key: Buffer.from('id') })).header.cluster_id
        ids[`${where} LeaseGrant`] = (await call(at('Lease', id), 'LeaseGrant', { TTL: 60 })).header.cluster_id
        // A keep-alive: relayed on the follower's stream to the leader.
        const stream = (at('Lease', id) as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<unknown, { header: { cluster_id: string } }> }).LeaseKeepAlive()
        const granted = await call(at('Lease', id), 'LeaseGrant', { TTL: 60 }) as unknown as { ID: string }
        const answer = new Promise<{ header: { cluster_id: string } }>((resolve, reject) => {
          stream.once('data', resolve)
          stream.once('error', reject)
        })
        stream.write({ ID: granted.ID })
        ids[`${where} LeaseKeepAlive`] = (await answer).header.cluster_id
        stream.cancel()
      }
      expect(ids).toEqual(Object.fromEntries(Object.keys(ids).map((name) => [name, expected])))
    } finally {
      for (const client of clients) client.close()
    }
  })
})
