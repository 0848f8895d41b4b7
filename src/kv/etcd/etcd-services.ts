// etcd's v3 API on a raftlog node's port: KV, Watch, Lease, Lock, Election and Cluster whole
// (etcd-kv-service.ts, etcd-watch-service.ts, etcd-lease-service.ts, etcd-recipe-services.ts,
// etcd-cluster-service.ts: raftlog's membership changes), Maintenance.Status and
// Maintenance.Snapshot (raftlog's backup file, etcd-snapshot.ts), and every other method of etcd's
// services answering UNIMPLEMENTED in words, never a wrong answer.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import { packageRoot } from '../../package-root.js'
import { DirectoryBytesCache } from '../../net/server/directory-bytes.js'
import type { ExtraService, ServiceContext } from '../../net/server/node-server.js'
import { etcdProtocol } from '../../net/etcd-protocol.js'
import { etcdHeader, etcdKvService, type EtcdKvOptions } from './etcd-kv-service.js'
import { etcdWatchService, watchServiceDefinition } from './etcd-watch-service.js'
import { etcdLeaseService } from './etcd-lease-service.js'
import { etcdRecipeServices, recipeHost } from './etcd-recipe-services.js'
import { LeaderForwarder } from './leader-forwarder.js'
import { etcdClusterService } from './etcd-cluster-service.js'
import { etcdSnapshot } from './etcd-snapshot.js'
import { WatchHub } from '../watch/watch-hub.js'
import { LeaseClock } from '../lease/lease-clock.js'
import { encodePlain } from '../../session/session-envelope.js'
import { encodeKvCommand } from '../kv-state-machine.js'
import { RaftLogError } from '../../errors.js'

export interface EtcdServiceOptions extends EtcdKvOptions {
  /** The shortest lease TTL granted (s); see etcdLeaseService. */
  minLeaseTtlSeconds: number
  /** How often a watch that asked for progress notifications hears one (ms; etcd's default, 10 minutes). */
  progressNotifyMs?: number
  /** How often the leader checkpoints what leases have left (ms; 0: never); default defaultLeaseCheckpointIntervalMs. */
  leaseCheckpointIntervalMs?: number
  /** The node's max_request_bytes (default 1.5 MiB, etcd's): the size a watch that asked for fragments gets its responses cut below. */
  maxRequestBytes?: number
}

/** etcd's minimum lease TTL for an election timeout of at most `electionTimeoutMaxMs`: 1.5 election timeouts, in whole seconds, so a new leader is elected before a lease it extends could run out. */
export function minLeaseTtlSeconds(electionTimeoutMaxMs: number): number {
  return Math.max(1, Math.ceil((1.5 * electionTimeoutMaxMs) / 1000))
}

/** What raftlog serves of etcd's API, for the UNIMPLEMENTED answers. */
const served = 'it serves KV (Range, Put, DeleteRange, Txn, Compact), Watch, Lease, Lock, Election, Cluster, Maintenance.Status and Maintenance.Snapshot'

/**
 * The version Status reports: the etcd API raftlog follows, with raftlog's own version as semver
 * build metadata, so clients that parse it see 3.4.0 and people see what answers.
 */
export function etcdVersion(): string {
  // Read once: a Status (what health checks poll) read package.json each time, 67 µs of the call.
  if (version === undefined) {
    const manifest = JSON.parse(readFileSync(join(packageRoot(import.meta.url), 'package.json'), 'utf8')) as { version?: unknown }
    version = `3.4.0+raftlog.${typeof manifest.version === 'string' ? manifest.version : 'unknown'}`
  }
  return version
}
let version: string | undefined

/** Every etcd service, ready for NodeServerExtras.services. */
export function etcdServices(node: RaftNode, context: ServiceContext, options: EtcdServiceOptions): ExtraService[] {
  const kv = etcdKvService(node, context, options)
  const hub = new WatchHub(options.kv)
  const forwarder = new LeaderForwarder(node, context)
  const clock = new LeaseClock(options.kv, {
    leaderTerm: () => {
      const status = node.status()
      return status.role === 'leader' ? status.term : undefined
    },
    confirmLeadership: async () => {
      const term = node.status().term
      const leads = (): boolean => {
        const status = node.status()
        return status.role === 'leader' && status.term === term
      }
      if (!leads()) throw new RaftLogError('ERR_NOT_LEADER', 'This node does not lead')
      await node.read()
      if (!leads()) throw new RaftLogError('ERR_NOT_LEADER', 'This node lost leadership')
    },
    propose: async (command) => (await node.propose(encodePlain(encodeKvCommand(command)))) as Uint8Array,
    appliedIndex: () => node.status().lastApplied,
    now: () => performance.now(),
  }, { checkpointIntervalMs: options.leaseCheckpointIntervalMs })
  clock.start()
  const lease = etcdLeaseService(node, { kv: options.kv, clock, forwarder, minTtlSeconds: options.minLeaseTtlSeconds, check: options.check })
  const recipes = etcdRecipeServices(node, recipeHost(node, options.kv, hub, forwarder, options.check), forwarder)
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
    Snapshot: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      void etcdSnapshot(node, call, forwarder, () => etcdHeader(node, options.kv.revision))
    },
  }
  const cluster = etcdClusterService(node, context, forwarder, () => options.kv.revision)
  return [
    { definition: etcdProtocol.KV.service, implementation: kv.implementation, close: kv.close },
    { definition: watchServiceDefinition(), implementation: etcdWatchService(node, { kv: options.kv, hub, progressNotifyMs: options.progressNotifyMs, maxRequestBytes: options.maxRequestBytes }), close: () => hub.close() },
    {
      definition: etcdProtocol.Lease.service,
      implementation: lease,
      close: () => {
        clock.stop()
        forwarder.close()
      },
    },
    { definition: etcdProtocol.Maintenance.service, implementation: withUnimplemented('Maintenance', etcdProtocol.Maintenance.service, maintenance) },
    // Membership changes need what raftlog's own need under TLS: a certificate of the cluster CA or the client CA.
    { definition: etcdProtocol.Cluster.service, implementation: cluster, adminMethods: ['MemberAdd', 'MemberRemove', 'MemberUpdate', 'MemberPromote'] },
    { definition: etcdProtocol.Lock.service, implementation: recipes.lock },
    { definition: etcdProtocol.Election.service, implementation: recipes.election },
    { definition: etcdProtocol.Auth.service, implementation: withUnimplemented('Auth', etcdProtocol.Auth.service, {}) },
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
