// A host that joins a running many-group cluster: it asks the catalog (through any host it can
// reach) for a 'join' entry naming it and its address. Once that entry applies, every host sends
// to it there, groups can be placed on it or moved to it, and the catalog's leader adds it to the
// catalog group (catalog-members.ts), whose log then reaches this host's joining replica.
import { randomUUID } from 'node:crypto'
import type * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import { catalogGroup, decodeCatalogResult, encodeCatalogCommand } from '../../host/group-catalog.js'
import { HostClient } from '../client/host-client.js'
import type { PeerAddress } from '../transport/grpc-transport.js'
import { joinTimeoutMs } from './joining.js'

/** Pause before asking again a cluster whose catalog is not founded yet (ms). */
const foundingPauseMs = 200

/**
 * Asks the cluster, first through `via` (host:port of any of its hosts) then through `hosts`, to
 * take host `member` at its address (`fresh`: its directory is new); resolves with the cluster's
 * hosts once the catalog took it. Asked again (a restart, a lost answer), it answers as the first
 * time. ERR_JOIN naming `via` when no host took it within `timeoutMs`, or the catalog refused it
 * (ERR_ID_IN_USE: a founding id, or a joined one from another address or with a new directory).
 */
export async function joinHostCluster(via: string, hosts: readonly PeerAddress[], member: PeerAddress & { fresh: boolean }, credentials: grpc.ChannelCredentials, timeoutMs = joinTimeoutMs): Promise<number[]> {
  // `via` may be any host, of an id not known here: id 0 stands for it (host ids start at 1).
  const others = hosts.filter((host) => host.id !== member.id && host.address !== via)
  const client = new HostClient([{ id: 0, address: via }, ...others], credentials)
  const deadline = Date.now() + timeoutMs
  try {
    for (;;) {
      const command = encodeCatalogCommand({ op: 'join', host: member.id, address: member.address, fresh: member.fresh, request: randomUUID() })
      const result = decodeCatalogResult(await client.propose(catalogGroup, command, Math.max(1, deadline - Date.now())))
      if (result.ok) return result.hosts ?? []
      // A cluster that is starting too (its catalog not founded yet): ask again until it is.
      if (result.code !== 'ERR_NO_GROUP' || Date.now() >= deadline) throw new RaftLogError(result.code, result.message)
      await new Promise((resolve) => setTimeout(resolve, foundingPauseMs))
    }
  } catch (error) {
    const code = (error as RaftLogError).code ?? 'ERR_JOIN'
    throw new RaftLogError('ERR_JOIN', `Node ${member.id} could not join the cluster through ${via}: ${code === 'ERR_JOIN' ? '' : `${code}: `}${(error as Error).message}`, { address: via })
  } finally {
    client.close()
  }
}
