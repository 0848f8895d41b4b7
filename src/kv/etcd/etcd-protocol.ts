// etcd's v3 gRPC API as raftlog serves it: proto/etcd/rpc.proto and kv.proto (etcd's package,
// message and field names and numbers), loaded at run time like raftlog's own protocol.
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { packageRoot } from '../../package-root.js'

const protoDir = join(packageRoot(import.meta.url), 'proto', 'etcd')

export interface EtcdServices {
  KV: grpc.ServiceClientConstructor
  Watch: grpc.ServiceClientConstructor
  Lease: grpc.ServiceClientConstructor
  Cluster: grpc.ServiceClientConstructor
  Maintenance: grpc.ServiceClientConstructor
  Auth: grpc.ServiceClientConstructor
}

/**
 * The services, loaded once. Field names as in the .proto (snake_case, etcd's), 64-bit numbers
 * as JavaScript numbers (revisions stay far below 2^53), enums by name, oneofs named.
 */
export const etcdProtocol: EtcdServices = (() => {
  const definition = protoLoader.loadSync(join(protoDir, 'rpc.proto'), { includeDirs: [protoDir], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })
  return (grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: EtcdServices }).etcdserverpb
})()
