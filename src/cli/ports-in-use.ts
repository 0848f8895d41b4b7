// Before `raftlog cluster` starts its nodes: a node port something else listens on already (most
// often the same cluster, started before in another terminal). Started anyway, the nodes failed
// to bind, but first the leader watcher reached the other cluster and reported its leader as this
// one's.
import { createServer } from 'node:net'
import type { NodeConfig } from '../net/config/cluster-config.js'

/** The nodes whose ip_address:port cannot be listened on because it is taken (EADDRINUSE). */
export async function nodesWithPortInUse(nodes: readonly NodeConfig[]): Promise<NodeConfig[]> {
  const taken = await Promise.all(nodes.map((node) => portTaken(node.ipAddress, node.port)))
  return nodes.filter((_, i) => taken[i])
}

/** Whether listening on `host`:`port` fails with EADDRINUSE (any other failure, an address not on this machine say, is the node's to report). */
function portTaken(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)))
  })
}
