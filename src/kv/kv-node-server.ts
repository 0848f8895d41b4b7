// The key-value store of `raftlog node`: the generic node server with the KvStateMachine, its
// commands checked before they enter the log (well formed, keys within max_key_bytes), its reads
// (get, scan) served after a ReadIndex, and etcd's v3 API over the same store on the same port
// (etcd/etcd-services.ts).
import type { ClusterConfig } from '../net/config/cluster-config.js'
import { answerKvQuery } from './kv-query.js'
import { encodeKvResult, KvStateMachine, type KvCommand } from './kv-state-machine.js'
import { serveNode, type NodeServer, type NodeServerOptions } from '../net/server/node-server.js'
import { defaultMaxKeyBytes, defaultMaxRequestBytes } from '../net/config/request-limits.js'
import { etcdServices, minLeaseTtlSeconds } from './etcd/etcd-services.js'
import { RaftLogError } from '../errors.js'
import { keyProblem, kvCommandProblem } from './kv-command-check.js'

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
      checkCommand: (command) => kvCommandProblem(command, maxKeyBytes),
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
          maxRequestBytes,
          check: (command, encoded) => {
            const bytes = encoded.length
            if (bytes > maxRequestBytes) return new RaftLogError('ERR_REQUEST_TOO_LARGE', `Command of ${bytes} bytes is larger than max_request_bytes (${maxRequestBytes} bytes)`)
            return keyProblem(command as KvCommand<Buffer>, maxKeyBytes)
          },
        }),
    },
  )
}
