// The key-value store of `raftlog node`: the generic node server with the KvStateMachine, its
// commands checked before they enter the log (well formed, keys within max_key_bytes), its reads
// (get, scan) served after a ReadIndex, and etcd's v3 API over the same store on the same port
// (etcd/etcd-services.ts).
import type { ClusterConfig } from '../net/config/cluster-config.js'
import { answerKvQuery } from './kv-query.js'
import { decodeKvCommand, encodeKvCommand, encodeKvResult, KvStateMachine, type KvCommand } from './kv-state-machine.js'
import { serveNode, type NodeServer, type NodeServerOptions } from '../net/server/node-server.js'
import { defaultMaxKeyBytes, defaultMaxRequestBytes } from '../net/config/request-limits.js'
import { etcdServices, minLeaseTtlSeconds } from './etcd/etcd-services.js'
import { RaftLogError } from '../errors.js'
import { txnKeys, txnShapeProblem } from './kv-txn.js'

/** `where`: NodeServerOptions' address and join, for a node outside the file, and the metrics hook. */
export async function startKvNodeServer(cluster: ClusterConfig, nodeId: number, logger: { warn(message: string): void }, where: Pick<NodeServerOptions, 'address' | 'join' | 'metrics'> = {}): Promise<NodeServer> {
  const kv = new KvStateMachine()
  const maxKeyBytes = cluster.maxKeyBytes ?? defaultMaxKeyBytes
  const maxRequestBytes = cluster.maxRequestBytes ?? defaultMaxRequestBytes
  return serveNode(
    {
      cluster,
      nodeId,
      stateMachine: kv,
      checkCommand: (command) => {
        try {
          return clientCommandProblem(decodeKvCommand(command), maxKeyBytes)
        } catch (error) {
          return (error as Error).message
        }
      },
      read: (query) => answerKvQuery(kv, query),
      logger,
      ...where,
    },
    {
      // The key-value client's get: a Read request with the key and no query.
      readKey: (key) => encodeKvResult({ ok: true, value: kv.get(key) }),
      status: () => ({ kvWritesApplied: kv.writesApplied }),
      // etcd's v3 API on the same port (see the README: one port, one listener, one TLS set-up).
      services: (node, context) =>
        etcdServices(node, context, {
          kv,
          minLeaseTtlSeconds: minLeaseTtlSeconds(cluster.electionTimeout[1]),
          leaseCheckpointIntervalMs: cluster.leaseCheckpointIntervalMs,
          check: (command) => {
            const bytes = encodeKvCommand(command).length
            if (bytes > maxRequestBytes) return new RaftLogError('ERR_REQUEST_TOO_LARGE', `Command of ${bytes} bytes is larger than max_request_bytes (${maxRequestBytes} bytes)`)
            return keyProblem(command as KvCommand<Buffer>, maxKeyBytes)
          },
        }),
    },
  )
}

/**
 * Why a client may not propose `command`: ERR_BAD_COMMAND for a lease checkpoint (the leader's
 * lease clock writes those, past this check; from a client one would shorten another holder's
 * lease with no revoke to show for it) or a transaction of the wrong shape (refused here, it
 * never takes a log entry), or keyProblem's answer.
 */
function clientCommandProblem(command: KvCommand<Buffer>, maxKeyBytes: number): RaftLogError | undefined {
  if (command.op === 'leaseCheckpoint') return new RaftLogError('ERR_BAD_COMMAND', "A lease checkpoint is written by the leader's lease clock, never proposed by a client")
  const shape = command.op === 'txn' ? txnShapeProblem(command.txn) : undefined
  if (shape !== undefined) return new RaftLogError('ERR_BAD_COMMAND', `A transaction of the wrong shape, ${shape}`)
  return keyProblem(command, maxKeyBytes)
}

/** ERR_KEY_TOO_LARGE for the first key of `command` longer than `maxKeyBytes`. */
function keyProblem(command: KvCommand<Buffer>, maxKeyBytes: number): RaftLogError | undefined {
  const keys = command.op === 'batch' ? command.puts.map((put) => put.key) : command.op === 'txn' ? txnKeys(command.txn) : 'key' in command ? [command.key] : []
  const position = keys.findIndex((key) => key.length > maxKeyBytes)
  if (position === -1) return undefined
  const which = command.op === 'batch' ? `Key ${position + 1} of a batch of ${keys.length} puts` : command.op === 'txn' ? `Key ${position + 1} of ${keys.length} a transaction names` : `The ${command.op}'s key`
  return new RaftLogError('ERR_KEY_TOO_LARGE', `${which} is ${(keys[position] as Buffer).length} bytes, larger than max_key_bytes (${maxKeyBytes} bytes)`)
}
