// A host entering a many-group cluster. One that joins a running cluster asks the catalog, through
// the host it was pointed at, for a 'join' entry naming it and its address: once that entry
// applies, every host sends to it there, groups can be placed on it or moved to it, and the
// catalog's leader adds it to the catalog group (catalog-members.ts), whose log then reaches this
// host's joining replica. A founding host that starts with a new directory checks in ('started'),
// so that one whose directory was lost is refused instead of voting twice in a term.
import { randomUUID } from 'node:crypto'
import type * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import { catalogGroup, decodeCatalogResult, encodeCatalogCommand } from '../../host/group-catalog.js'
import { HostClient } from '../client/host-client.js'
import type { PeerAddress } from '../transport/grpc-transport.js'
import { joinTimeoutMs } from './joining.js'

/** How long a starting founder waits for each other host to say whether its catalog is founded (ms). */
const probeTimeoutMs = 1000

/** How long a starting founder waits for the catalog to record its start, each time it asks (ms). */
const checkInTimeoutMs = 3000

/** How often a starting founder that waits says so (ms). */
const waitingReportMs = 5000

/** Pause before asking again a cluster not listening yet, or whose catalog is not founded yet (ms). */
const foundingPauseMs = 200

/**
 * Asks the cluster, through `via` (host:port of any of its hosts), to take host `member` at its
 * address (`fresh`: its directory is new); resolves with the cluster's hosts once the catalog took
 * it. Asked again (a restart, a lost answer), it answers as the first time. ERR_JOIN naming `via`
 * when no host took it within `timeoutMs`, or the catalog refused it (with the catalog's code:
 * ERR_ID_IN_USE for a founding id, or a joined one from another address or with a new directory).
 */
export async function joinHostCluster(via: string, member: PeerAddress & { fresh: boolean }, credentials: grpc.ChannelCredentials, timeoutMs = joinTimeoutMs): Promise<number[]> {
  // `via` may be any host, of an id not known here: id 0 stands for it (host ids start at 1). The
  // leader, if another, is found from its answer (HostClient learns the address it gives).
  const client = new HostClient([{ id: 0, address: via }], credentials)
  const deadline = Date.now() + timeoutMs
  /** Why `via` did not answer, when it refused the connection: a call cut short by the deadline says less. */
  let refused: string | undefined
  try {
    for (;;) {
      const command = encodeCatalogCommand({ op: 'join', host: member.id, address: member.address, fresh: member.fresh, request: randomUUID() })
      let result
      try {
        result = decodeCatalogResult(await client.propose(catalogGroup, command, Math.max(1, deadline - Date.now())))
      } catch (error) {
        if ((error as RaftLogError).code === 'ERR_NO_CLUSTER') refused = (error as Error).message
        if (Date.now() >= deadline) throw new RaftLogError('ERR_JOIN', `no answer within ${Math.round(timeoutMs / 1000)} s (last: ${(refused ?? (error as Error).message).replaceAll('host 0', via)})`)
        // Nothing listens at `via` yet (a cluster starting beside this node): ask again until the deadline.
        if ((error as RaftLogError).code !== 'ERR_NO_CLUSTER') throw error
        await new Promise((resolve) => setTimeout(resolve, foundingPauseMs))
        continue
      }
      if (result.ok) return result.hosts ?? []
      // A cluster that is starting too (its catalog not founded yet): ask again until it is.
      if (result.code !== 'ERR_NO_GROUP' || Date.now() >= deadline) throw new RaftLogError(result.code, result.message)
      await new Promise((resolve) => setTimeout(resolve, foundingPauseMs))
    }
  } catch (error) {
    const code = (error as RaftLogError).code ?? 'ERR_JOIN'
    throw new RaftLogError('ERR_JOIN', `Node ${member.id} could not join the cluster through ${via}: ${code === 'ERR_JOIN' ? '' : `${code}: `}${(error as Error).message.replaceAll('host 0', via)}`, { address: via })
  } finally {
    client.close()
  }
}

/**
 * Before a founding host whose directory is new takes part in Raft (its port already serves, so
 * that the others can ask it the same). It asks the other hosts whether the cluster is founded:
 * - when one says so, the catalog is asked to record this host's start ('started'), and the host
 *   waits until it has: a founder that ran before lost the votes it gave with its directory and is
 *   refused (ERR_ID_IN_USE), as is a host the founding did not name (ERR_CONFIG: it must join);
 * - when the others that answer all say no, the cluster is being founded now: resolves false (the
 *   start is recorded once the catalog is founded);
 * - when none answers, it waits: it cannot tell a first start from a lost directory.
 * Says what it waits for through `say`, every few seconds. Resolves true once the start is recorded.
 */
export async function admitFreshFounder(self: PeerAddress, hosts: readonly PeerAddress[], credentials: grpc.ChannelCredentials, say: (message: string) => void): Promise<boolean> {
  const others = hosts.filter((host) => host.id !== self.id)
  if (others.length === 0) return false
  const client = new HostClient(others, credentials)
  const request = randomUUID()
  let saidAt = Date.now()
  try {
    for (;;) {
      const founded = await Promise.all(others.map((host) => client.hostLeadersAt(host.id, probeTimeoutMs).then((answer) => answer.catalogFounded, () => undefined)))
      if (!founded.includes(true) && founded.includes(false)) return false
      let waitingFor = `another node of the cluster to answer (${others.map((host) => `node ${host.id} at ${host.address}`).join(', ')}), to know whether the cluster was founded without it`
      if (founded.includes(true)) {
        let result
        try {
          result = decodeCatalogResult(await client.propose(catalogGroup, encodeCatalogCommand({ op: 'started', host: self.id, fresh: true, address: self.address, request }), checkInTimeoutMs))
        } catch {
          result = undefined
        }
        if (result?.ok === true) return true
        if (result !== undefined && result.code !== 'ERR_NO_GROUP') throw new RaftLogError(result.code, result.message)
        waitingFor = `the group catalog to record its start (node ${others[founded.indexOf(true)]?.id} says the cluster is founded, and the catalog has no leader now): a node that ran before and lost its directory must not take part; start the other nodes`
      }
      if (Date.now() - saidAt >= waitingReportMs) {
        say(`node ${self.id} has a new directory and waits for ${waitingFor}`)
        saidAt = Date.now()
      }
      await new Promise((resolve) => setTimeout(resolve, foundingPauseMs))
    }
  } finally {
    client.close()
  }
}
