// Before `raftlog cluster` starts its nodes: a node port something else listens on already (most
// often the same cluster, started before in another terminal). Started anyway, the nodes failed
// to bind, but first the leader watcher reached the other cluster and reported its leader as this
// one's.
import { createServer } from 'node:net'
import type { NodeConfig } from '../net/config/cluster-config.js'

/** Pause between two looks at the ports while they are taken. */
const recheckMs = 250

/**
 * The nodes whose ip_address:port cannot be listened on because it is taken (EADDRINUSE), looked
 * at again for up to `waitMs` while some are: the nodes of a cluster stopped just before (a
 * supervisor starting this command again at once) free their ports within a few seconds. One
 * port at a time: two nodes on one port at overlapping addresses would find each other's probe.
 */
export async function nodesWithPortInUse(nodes: readonly NodeConfig[], waitMs = 0): Promise<NodeConfig[]> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const taken: NodeConfig[] = []
    for (const node of nodes) if (await portTaken(node.ipAddress, node.port)) taken.push(node)
    if (taken.length === 0 || Date.now() >= deadline) return taken
    await new Promise((resolve) => setTimeout(resolve, recheckMs))
  }
}

/** Whether listening on `host`:`port` fails with EADDRINUSE (any other failure, an address not on this machine say, is the node's to report). */
function portTaken(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)))
  })
}
