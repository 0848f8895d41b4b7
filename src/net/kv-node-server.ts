// The key-value store of `raftlog node`: the generic node server with the KvStateMachine, its
// commands checked before they enter the log, its reads (get, scan) served after a ReadIndex.
import type { ClusterConfig } from './cluster-config.js'
import { answerKvQuery } from './kv-query.js'
import { decodeKvCommand, encodeKvResult, KvStateMachine } from './kv-state-machine.js'
import { serveNode, type NodeServer, type NodeServerOptions } from './node-server.js'

/** `where`: NodeServerOptions' address and join, for a node outside the file. */
export async function startKvNodeServer(cluster: ClusterConfig, nodeId: number, logger: { warn(message: string): void }, where: Pick<NodeServerOptions, 'address' | 'join'> = {}): Promise<NodeServer> {
  const kv = new KvStateMachine()
  return serveNode(
    {
      cluster,
      nodeId,
      stateMachine: kv,
      checkCommand: (command) => {
        try {
          decodeKvCommand(command)
          return undefined
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
    },
  )
}
