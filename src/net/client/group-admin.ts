// The operator's side of a many-group cluster (raftlog group, raftlog status, raftlog kv there):
// the group catalog read and changed through its Raft group, and each host's count of the groups
// it holds and leads. A catalog change is a proposal to the catalog group, so it is applied on
// every host in the same order; its answer (the new group and its replicas, or why not) comes
// back from the catalog's state machine.
import { randomUUID } from 'node:crypto'
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import { catalogGroup, decodeCatalogResult, encodeCatalogCommand, type CatalogCommand, type CatalogView } from '../../host/group-catalog.js'
import { describeCallFailure } from './call-failure.js'
import { HostClient } from './host-client.js'
import { moveReplica } from '../../host/move-replica.js'
import { RemoteReplicaHost } from './remote-replica-host.js'

/** Pause between two looks at a group being moved (ms). */
const movePauseMs = 100
import type { PeerAddress } from '../transport/grpc-transport.js'

export interface GroupInfo {
  group: number
  replicas: number[]
  /** The host that leads it, as that host says (0: none found). */
  leaderId: number
  /** Whether it holds a shard of the sharded key-value store (it cannot be removed). */
  shard: boolean
  /** A move of one of its replicas under way (raftlog group move): `to` is in replicas already. */
  moving?: { from: number; to: number }
}

export interface HostGroupStatus {
  id: number
  address: string
  reachable: boolean
  /** Replicas on this host, the catalog's own excepted. */
  groups?: number
  /** Of those, the groups this host leads. */
  leading?: number
  /** Replicas here that are quiet (no ticks, no heartbeats), the catalog's counted. */
  quiet?: number
  /** Whether this host leads the catalog (and so runs the leader balancer). */
  catalogLeader?: boolean
  /** The host serves but takes no part in Raft yet: it started with a new directory and waits to know it may (see the README). */
  waiting?: boolean
  error?: string
}

export class GroupAdmin {
  private readonly client: HostClient

  constructor(
    hosts: readonly PeerAddress[],
    private readonly timeoutMs = 5000,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.client = new HostClient(hosts, credentials)
  }

  /** The catalog, read linearizably (a ReadIndex of the catalog group); the hosts that joined are asked at their addresses from then on. */
  async catalog(timeoutMs = this.timeoutMs): Promise<CatalogView> {
    const view = JSON.parse((await this.client.read(catalogGroup, new Uint8Array(0), timeoutMs)).toString()) as CatalogView
    if (view.hosts.length === 0) throw new RaftLogError('ERR_NO_GROUP', 'The group catalog is not founded yet (the cluster is starting): ask again')
    // Hosts that joined after the configuration file was written are reached where the catalog says.
    for (const [id, address] of Object.entries(view.addresses ?? {})) this.client.learnHost({ id: Number(id), address })
    return view
  }

  /** Every group of the catalog with its replicas and its leader, by group id. */
  async list(): Promise<GroupInfo[]> {
    const view = await this.catalog()
    const leaders = new Map<number, number>()
    for (const status of await this.hostLeaders()) for (const [group, leader] of status.leaders) if (leader === status.id) leaders.set(group, leader)
    return view.groups.map(({ group, replicas, moving }) => ({ group, replicas, leaderId: leaders.get(group) ?? 0, shard: group <= view.shards, ...(moving === undefined ? {} : { moving }) }))
  }

  /** Creates a group on `replicas` (host ids), or on `replication` hosts placed evenly; resolves with its id and replicas. */
  async create(options: { replication?: number; replicas?: number[] } = {}): Promise<{ group: number; replicas: number[] }> {
    const result = await this.change({ op: 'create', ...options })
    return { group: result.group as number, replicas: result.replicas as number[] }
  }

  /** Removes group `group` from the catalog: every host stops its replica and drops its log. */
  async remove(group: number): Promise<void> {
    await this.change({ op: 'remove', group })
  }

  /**
   * Moves `group`'s replica from host `from` to host `to` (Raft §6 membership changes of the group
   * itself, as dragonboat and TiKV move replicas): the catalog records the move, which starts an
   * empty replica on `to`; the group adds it as a learner, which catches up by log or snapshot,
   * promotes it, moves leadership off `from` if it leads, and removes `from`, which then drops its
   * replica and frees its log; the catalog records the end. Called again after a failure, it goes
   * on from where the group's configuration is. Resolves with the group's replicas. ERR_NO_GROUP,
   * ERR_BAD_ARGUMENT (no replica on `from`, one on `to` already, `to` no node), ERR_ID_REMOVED (`to`
   * left the group before), ERR_CHANGE_IN_PROGRESS (another move of it under way), ERR_TIMEOUT.
   */
  async move(group: number, from: number, to: number, timeoutMs = 60_000): Promise<{ group: number; replicas: number[] }> {
    await this.change({ op: 'move', group, from, to })
    const { hosts } = await this.catalog()
    const remotes = new Map(hosts.map((id) => [id, new RemoteReplicaHost(this.client, id, group)]))
    const reachable = new Set<number>()
    const moving = moveReplica(group, from, to, {
      hosts,
      host: (id) => (reachable.has(id) ? remotes.get(id) : undefined),
      // The catalog's move entry starts the replica on `to`.
      startReplica: () => {},
      refresh: async () => {
        reachable.clear()
        await Promise.all([...remotes].map(async ([id, remote]) => (await remote.refresh()) && reachable.add(id)))
      },
      pauseMs: movePauseMs,
      timeoutMs,
    })
    await moving.catch((error: unknown) => {
      // Say why it did not finish when the reason is plain: the node it moves to does not answer.
      if (error instanceof RaftLogError && error.code === 'ERR_TIMEOUT' && !reachable.has(to)) throw new RaftLogError('ERR_TIMEOUT', `${error.message} (node ${to} did not answer: is it running?)`, { group })
      throw error
    })
    const result = await this.change({ op: 'moved', group, from, to })
    return { group, replicas: result.replicas as number[] }
  }

  /** The hosts this admin asks: the configuration's, then those that joined (known once the catalog was read). */
  get hosts(): readonly PeerAddress[] {
    return this.client.knownHosts
  }

  /** Each host's counts of the groups it holds, leads and has quiet; hosts that joined the cluster too, when the catalog answers within a second. */
  async hostStatuses(): Promise<HostGroupStatus[]> {
    // No catalog (no leader of it now) must not keep the status of the hosts known from being told.
    await this.catalog(Math.min(this.timeoutMs, 1000)).catch(() => undefined)
    return (await this.hostLeaders()).map(({ id, address, leaders, quietGroups, waiting, error }) => {
      if (error !== undefined) return { id, address, reachable: false, error }
      if (waiting === true) return { id, address, reachable: true, groups: 0, leading: 0, quiet: 0, catalogLeader: false, waiting: true }
      const data = [...leaders].filter(([group]) => group !== catalogGroup)
      return { id, address, reachable: true, groups: data.length, leading: data.filter(([, leader]) => leader === id).length, quiet: quietGroups, catalogLeader: leaders.get(catalogGroup) === id }
    })
  }

  close(): void {
    this.client.close()
  }

  /**
   * Each host's view of the groups it holds: group → the leader it knows (0: none), the catalog
   * among them, and its quiet groups; `error` for a host that did not answer within `timeoutMs`.
   */
  async hostLeaders(timeoutMs = Math.min(this.timeoutMs, 2000)): Promise<{ id: number; address: string; leaders: Map<number, number>; quietGroups: number; waiting?: boolean; error?: string }[]> {
    return Promise.all(
      this.client.knownHosts.map(({ id, address }) =>
        this.client.hostLeadersAt(id, timeoutMs).then(
          ({ leaders, quietGroups, waiting }) => ({ id, address, leaders, quietGroups, ...(waiting ? { waiting } : {}) }),
          (error: grpc.ServiceError) => ({ id, address, leaders: new Map<number, number>(), quietGroups: 0, error: describeCallFailure(error, timeoutMs) }),
        ),
      ),
    )
  }

  private async change(command: Exclude<CatalogCommand, { op: 'init' }>): Promise<{ group?: number; replicas?: number[] }> {
    // HostClient sends a proposal again when an answer is lost: the request id makes that harmless.
    const result = decodeCatalogResult(await this.client.propose(catalogGroup, encodeCatalogCommand({ ...command, request: randomUUID() }), this.timeoutMs))
    if (!result.ok) throw new RaftLogError(result.code, result.message)
    return result
  }
}
