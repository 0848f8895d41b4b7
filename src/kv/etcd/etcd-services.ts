// etcd's v3 API on a raftlog node's port: KV whole (etcd-kv-service.ts), Maintenance.Status and
// Cluster.MemberList (what `etcdctl endpoint status` and `member list` call), and every other
// method of etcd's services answering UNIMPLEMENTED in words, never a wrong answer.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import { packageRoot } from '../../package-root.js'
import { DirectoryBytesCache } from '../../net/server/directory-bytes.js'
import type { ExtraService, ServiceContext } from '../../net/server/node-server.js'
import { etcdProtocol } from './etcd-protocol.js'
import { etcdHeader, etcdKvService, type EtcdKvOptions } from './etcd-kv-service.js'

/** What raftlog serves of etcd's API, for the UNIMPLEMENTED answers. */
const served = 'it serves KV (Range, Put, DeleteRange, Txn, Compact), Maintenance.Status and Cluster.MemberList'

/**
 * The version Status reports: the etcd API raftlog follows, with raftlog's own version as semver
 * build metadata, so clients that parse it see 3.4.0 and people see what answers.
 */
export function etcdVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot(import.meta.url), 'package.json'), 'utf8')) as { version?: unknown }
  return `3.4.0+raftlog.${typeof manifest.version === 'string' ? manifest.version : 'unknown'}`
}

/** Every etcd service, ready for NodeServerExtras.services. */
export function etcdServices(node: RaftNode, context: ServiceContext, options: EtcdKvOptions): ExtraService[] {
  const kv = etcdKvService(node, context, options)
  const disk = new DirectoryBytesCache(context.dir)
  const maintenance: grpc.UntypedServiceImplementation = {
    Status: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      const status = node.status()
      disk.bytes().then(
        (dbSize) =>
          callback(null, {
            header: etcdHeader(node, options.kv.revision),
            version: etcdVersion(),
            dbSize,
            dbSizeInUse: dbSize,
            leader: status.leaderId,
            raftIndex: status.commitIndex,
            raftTerm: status.term,
            raftAppliedIndex: status.lastApplied,
            errors: status.diskFull ? [`disk full: ${status.diskFullReason}`] : [],
            isLearner: status.configuration.learners.includes(node.id),
          }),
        (error: Error) => callback({ code: grpc.status.INTERNAL, details: `Cannot measure ${context.dir}: ${error.message}` }),
      )
    },
  }
  const cluster: grpc.UntypedServiceImplementation = {
    MemberList: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      const configuration = node.configuration
      const scheme = context.tls ? 'https' : 'http'
      const member = (id: number, isLearner: boolean): Record<string, unknown> => {
        const address = context.addressOf(id)
        const urls = address === '' ? [] : [`${scheme}://${address}`]
        return { ID: id, name: `node_${id}`, peerURLs: urls, clientURLs: urls, isLearner }
      }
      const voters = [...new Set([...configuration.voters, ...configuration.outgoing])].sort((a, b) => a - b)
      callback(null, { header: etcdHeader(node, options.kv.revision), members: [...voters.map((id) => member(id, false)), ...[...configuration.learners].sort((a, b) => a - b).map((id) => member(id, true))] })
    },
  }
  return [
    { definition: etcdProtocol.KV.service, implementation: kv.implementation, close: kv.close },
    { definition: etcdProtocol.Maintenance.service, implementation: withUnimplemented('Maintenance', etcdProtocol.Maintenance.service, maintenance) },
    { definition: etcdProtocol.Cluster.service, implementation: withUnimplemented('Cluster', etcdProtocol.Cluster.service, cluster) },
    ...(['Watch', 'Lease', 'Auth'] as const).map((name) => ({ definition: etcdProtocol[name].service, implementation: withUnimplemented(name, etcdProtocol[name].service, {}) })),
  ]
}

/** `served` plus a handler for every other method of `definition` that answers UNIMPLEMENTED, naming the method. */
function withUnimplemented(service: string, definition: grpc.ServiceDefinition, implemented: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
  const all: grpc.UntypedServiceImplementation = { ...implemented }
  for (const [method, spec] of Object.entries(definition)) {
    if (all[method] !== undefined) continue
    const error = { code: grpc.status.UNIMPLEMENTED, details: `raftlog does not serve etcdserverpb.${service}/${method} yet: ${served}` }
    all[method] = spec.responseStream
      ? (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', error)
      : (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(error)
  }
  return all
}
