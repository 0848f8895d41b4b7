// etcd's v3 gRPC API as raftlog serves it: proto/etcd/rpc.proto, kv.proto, v3lock.proto and
// v3election.proto (etcd's package, message and field names and numbers), loaded at run time like
// raftlog's own protocol.
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { packageRoot } from '../package-root.js'

const protoDir = join(packageRoot(import.meta.url), 'proto', 'etcd')

export interface EtcdServices {
  KV: grpc.ServiceClientConstructor
  Watch: grpc.ServiceClientConstructor
  Lease: grpc.ServiceClientConstructor
  Cluster: grpc.ServiceClientConstructor
  Maintenance: grpc.ServiceClientConstructor
  Auth: grpc.ServiceClientConstructor
  /** v3lockpb.Lock (v3lock.proto). */
  Lock: grpc.ServiceClientConstructor
  /** v3electionpb.Election (v3election.proto). */
  Election: grpc.ServiceClientConstructor
}

/**
 * Unary methods that wait, on the leader, for as long as a lock or a leadership is held by another
 * (v3lock's Lock, v3election's Campaign): no deadline of raftlog's own ends them, only the caller's.
 */
export const etcdWaitingMethods: ReadonlySet<string> = new Set(['Lock', 'Campaign'])

/**
 * The services, loaded once. Field names as in the .proto (snake_case, etcd's), 64-bit numbers
 * as JavaScript numbers (revisions stay far below 2^53), enums by name, oneofs named.
 */
export const etcdProtocol: EtcdServices = (() => {
  const files = ['rpc.proto', 'v3lock.proto', 'v3election.proto'].map((file) => join(protoDir, file))
  const definition = protoLoader.loadSync(files, { includeDirs: [protoDir], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: EtcdServices; v3lockpb: { Lock: grpc.ServiceClientConstructor }; v3electionpb: { Election: grpc.ServiceClientConstructor } }
  return { ...loaded.etcdserverpb, Lock: loaded.v3lockpb.Lock, Election: loaded.v3electionpb.Election }
})()
