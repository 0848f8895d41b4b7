// etcd's v3 API of an in-process three-node cluster (node-servers.ts), as a raw gRPC client
// calls it: the cluster started before a file's tests and stopped after them, with every client
// made through it closed.
import { afterAll, beforeAll } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { etcdProtocol } from '../../src/net/etcd-protocol.js'
import { startServers, stopServers, type Servers } from './node-servers.js'

export type EtcdService = 'Lock' | 'Lease' | 'KV' | 'Election'
type Stub = Record<string, (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: unknown) => void) => grpc.ClientUnaryCall>

export interface EtcdCluster {
  /** The cluster (started once beforeAll ran). */
  readonly servers: Servers
  /** A client of `service` at node `id`, on a connection of its own (closed after the file's tests). */
  client(service: EtcdService, id: number): grpc.Client
  /** A unary call of `client`'s `method`, answered or failed within `timeoutMs`. */
  call<T>(client: grpc.Client, method: string, request: Record<string, unknown>, timeoutMs?: number): Promise<T>
  /** The same call, started: its handle cancels it; its outcome is not awaited. */
  start(client: grpc.Client, method: string, request: Record<string, unknown>, timeoutMs: number): grpc.ClientUnaryCall
}

/** Call at a test file's top level: registers the hooks that start and stop the cluster. */
export function useEtcdCluster(): EtcdCluster {
  let servers: Servers | undefined
  const clients: grpc.Client[] = []
  beforeAll(async () => {
    servers = await startServers(false)
  })
  afterAll(async () => {
    for (const client of clients) client.close()
    if (servers !== undefined) await stopServers(servers)
  })
  const cluster: EtcdCluster = {
    get servers() {
      if (servers === undefined) throw new Error('the cluster starts in beforeAll')
      return servers
    },
    client(service, id) {
      const address = cluster.servers.config.nodes.find((node) => node.nodeId === id)?.address as string
      const client = new etcdProtocol[service](address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as grpc.Client
      clients.push(client)
      return client
    },
    call(client, method, request, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        ;(client as unknown as Stub)[method]!(request, { deadline: Date.now() + timeoutMs }, (error, response) => (error === null ? resolve(response as never) : reject(error)))
      })
    },
    start(client, method, request, timeoutMs) {
      return (client as unknown as Stub)[method]!(request, { deadline: Date.now() + timeoutMs }, () => undefined)
    },
  }
  return cluster
}
