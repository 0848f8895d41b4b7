// The group catalog: which groups exist and on which hosts their replicas live, agreed on by every
// host because it is itself a Raft group (catalogGroup, a replica on every host) whose state machine is
// this class. Creating or removing a group is an entry in its log; each host starts or stops its
// own replicas as the entries apply (host-server.ts listens), so a host that was down catches up
// by replaying the catalog like any other log. Chosen over a catalog in the YAML file (which would
// need every host restarted to change) and over a catalog on one host (which would be a single
// point of failure); it is what CockroachDB's meta ranges and TiKV's PD keep for the same reason,
// reduced to a map small enough to replay.
//
// Placement is computed when an entry applies, from the catalog's own state (placement.ts, pure),
// so every host computes the same replicas without them being chosen by whoever proposed.
// Group ids are never reused: a removed group's id is not handed out again, so a host that missed
// the removal never mistakes a new group for the old one's leftovers.
import { RaftLogError } from '../errors.js'
import type { LogEntry } from '../storage/log-entry.js'
import type { StateMachine } from '../raft/state-machine.js'
import { placeGroup, placeGroups, replicationFor } from './placement.js'

/**
 * The catalog's own group id: every host has a replica of it. The last id the engine and the wire
 * take, not 0: on the wire (proto3) a group of 0 is not sent at all, so a message that lost its
 * group field reads as group 0, and the host transport drops group 0 for that reason.
 */
export const catalogGroup = 2 ** 52 - 1

/** How messages name a group: "group 7", or "the group catalog" for catalogGroup (its id means nothing to a reader). */
export function groupName(group: number): string {
  return group === catalogGroup ? 'the group catalog' : `group ${group}`
}

/** Groups the catalog holds at most (each costs every host of it a replica). */
export const maxCatalogGroups = 100_000

/**
 * The largest catalog command a client may propose (bytes): the longest a host's own commands get
 * is a join's address or a create's replica list. The catalog's log is never compacted and every
 * host keeps the answers of its last requests whole, so a larger one would only grow every host.
 */
export const maxCatalogCommandBytes = 64 * 1024

/** Answers to changes kept by request id, the oldest forgotten first: a change sent again after a lost answer gets its first answer. */
export const maxRememberedRequests = 1024

export type CatalogCommand =
  /** Founds the catalog: groups 1..groups, the key space's shards. Ignored once founded (every host's leader may ask). */
  | { op: 'init'; hosts: number[]; groups: number; replication: number }
  /**
   * A new group; its replicas are `replicas` or placed by placement.ts. `request`: the caller's id
   * for this change (any unique string): sent again, it is answered as the first time, not done twice.
   */
  | { op: 'create'; replication?: number; replicas?: number[]; request?: string }
  | { op: 'remove'; group: number; request?: string }
  /**
   * A replica move begins: host `to` holds a replica of `group` from now on (it joins the group,
   * empty, and catches up), `from` keeps its own until the group's membership change removed it.
   * The membership change itself is the group's (GroupAdmin.move drives it); asked again for the
   * same move, it answers as the first time.
   */
  | { op: 'move'; group: number; from: number; to: number; request?: string }
  /** The move is done: the group's configuration no longer has `from`, which never holds the group again. */
  | { op: 'moved'; group: number; from: number; to: number; request?: string }
  /**
   * Host `host`, serving at `address` (host:port), joins the cluster: groups may be placed on it or
   * moved to it from now on, every host sends to it there, and the catalog's leader adds it to the
   * catalog group (learner, then voter once caught up: catalog-members.ts). Asked again from the
   * same address by a host that kept its directory, it answers as the first time. `fresh`: the
   * host's directory is new (it held no catalog replica when it asked).
   */
  | { op: 'join'; host: number; address: string; fresh?: boolean; request?: string }
  /**
   * Founding host `host` started (`fresh`: with a new directory). The catalog remembers which
   * founders ran, so that one coming back with a new directory, which lost the votes it gave, is
   * refused instead of voting twice in a term; and a host the founding did not name is told to join.
   */
  | { op: 'started'; host: number; fresh: boolean; address?: string; request?: string }

export type CatalogResult = { ok: true; group?: number; replicas?: number[]; hosts?: number[] } | { ok: false; code: string; message: string }

/** A replica move under way: `to` holds a replica already (in `replicas`), `from` until the group removed it. */
export interface ReplicaMove {
  from: number
  to: number
}

export interface CatalogView {
  /** Hosts of the cluster: those it was founded with, then those that joined. */
  hosts: number[]
  /** Where each host that joined serves (host:port); founding hosts are at their configuration file's addresses. */
  addresses: Record<number, string>
  /** Founding hosts that ran (their start recorded: one starting again with a new directory is refused). */
  started: number[]
  /** Groups 1..shards hold the sharded key space (shard-of.ts): they cannot be removed. */
  shards: number
  groups: { group: number; replicas: number[]; moving?: ReplicaMove }[]
}

export type CatalogChange = { kind: 'added'; group: number; replicas: number[] } | { kind: 'removed'; group: number } | { kind: 'moving' | 'moved'; group: number; move: ReplicaMove } | { kind: 'joined'; host: number; address: string }

/** The longest address a joining host may give (a host name and a port). */
const maxAddressLength = 300

/** The largest node id (the wire's uint32, as a configuration file's node_id). */
export const maxNodeId = 0xffffffff

/**
 * Why a client may not propose catalog command `bytes`, or undefined: an 'init' is its hosts'
 * alone (proposed in-process by the catalog's first leader). The catalog takes the first 'init'
 * it applies, so a client's, sent as the cluster starts, would found it with the client's hosts
 * and groups, and the hosts it left out would be refused.
 */
export function clientCatalogProblem(bytes: Uint8Array): RaftLogError | undefined {
  let command: unknown
  try {
    command = JSON.parse(Buffer.from(bytes).toString())
  } catch {
    return undefined
  }
  if (command !== null && typeof command === 'object' && (command as { op?: unknown }).op === 'init') return new RaftLogError('ERR_BAD_ARGUMENT', 'The group catalog is founded by its hosts, never by a client')
  return undefined
}

/** The node a catalog command speaks for ('started' and 'join': a node's own news), or undefined. */
export function catalogHostOf(bytes: Uint8Array): number | undefined {
  try {
    const command = JSON.parse(Buffer.from(bytes).toString()) as { op?: unknown; host?: unknown }
    return command !== null && (command.op === 'started' || command.op === 'join') ? Number(command.host) : undefined
  } catch {
    return undefined
  }
}

/** The move a catalog command records as done (a 'moved'), or undefined. */
export function catalogMoveOf(bytes: Uint8Array): { group: number; from: number; to: number } | undefined {
  try {
    const command = JSON.parse(Buffer.from(bytes).toString()) as { op?: unknown; group?: unknown; from?: unknown; to?: unknown }
    return command !== null && command.op === 'moved' ? { group: Number(command.group), from: Number(command.from), to: Number(command.to) } : undefined
  } catch {
    return undefined
  }
}

export function encodeCatalogCommand(command: CatalogCommand): Uint8Array {
  return Buffer.from(JSON.stringify(command))
}

export function decodeCatalogResult(bytes: Uint8Array): CatalogResult {
  return JSON.parse(Buffer.from(bytes).toString()) as CatalogResult
}

export class GroupCatalog implements StateMachine {
  private hosts: number[] = []
  /** Addresses of the hosts that joined (founding hosts are at their configuration file's). */
  private readonly addresses = new Map<number, string>()
  private shards = 0
  private readonly groups = new Map<number, number[]>()
  private readonly moves = new Map<number, ReplicaMove>()
  /** Founding hosts that ran (checked in with a 'started' entry). */
  private readonly startedHosts = new Set<number>()
  /**
   * The moves of each group recorded as done: one asked again is answered as done, and their
   * `from` hosts left the group (a Raft id never rejoins a group, so they never hold it again).
   */
  private readonly finishedMoves = new Map<number, ReplicaMove[]>()
  private nextGroup = 1
  /** The answers to the last changes that named a request id (HostClient has no sessions: it may send a change twice). */
  private readonly answered = new Map<string, CatalogResult>()
  private readonly listeners: ((change: CatalogChange) => void)[] = []

  /** Whether the catalog has been founded (its first init applied). */
  get founded(): boolean {
    return this.hosts.length > 0
  }

  /** Calls `listener` for every group added or removed from now on, as entries apply. */
  onChange(listener: (change: CatalogChange) => void): void {
    this.listeners.push(listener)
  }

  /** Groups 1 to this hold the sharded key space (0 before the founding); view().shards without copying every group. */
  get shardCount(): number {
    return this.shards
  }

  replicasOf(group: number): number[] | undefined {
    return this.groups.get(group)
  }

  /** The move of `group` under way, if any. */
  moveOf(group: number): ReplicaMove | undefined {
    return this.moves.get(group)
  }

  view(): CatalogView {
    const groups = [...this.groups]
      .sort(([a], [b]) => a - b)
      .map(([group, replicas]) => {
        const move = this.moves.get(group)
        return { group, replicas: [...replicas], ...(move === undefined ? {} : { moving: { ...move } }) }
      })
    return { hosts: [...this.hosts], addresses: Object.fromEntries(this.addresses), started: [...this.startedHosts].sort((a, b) => a - b), shards: this.shards, groups }
  }

  apply(entry: LogEntry): Uint8Array {
    let command: CatalogCommand
    try {
      command = JSON.parse(Buffer.from(entry.data).toString()) as CatalogCommand
    } catch {
      return encodeResult({ ok: false, code: 'ERR_BAD_COMMAND', message: `Catalog entry ${entry.index} is not a catalog command` })
    }
    const request = 'request' in command && typeof command.request === 'string' ? command.request : undefined
    const earlier = request === undefined ? undefined : this.answered.get(request)
    if (earlier !== undefined) return encodeResult(earlier)
    let result: CatalogResult
    try {
      result = this.run(command)
    } catch (error) {
      // A refusal is the same on every host (it depends on the catalog only): an answer, not a failure.
      if (!(error instanceof RaftLogError)) throw error
      result = { ok: false, code: error.code, message: error.message }
    }
    if (request !== undefined) this.remember(request, result)
    return encodeResult(result)
  }

  private remember(request: string, result: CatalogResult): void {
    this.answered.set(request, result)
    if (this.answered.size > maxRememberedRequests) this.answered.delete(this.answered.keys().next().value as string)
  }

  private run(command: CatalogCommand): CatalogResult {
    if (command.op === 'init') return this.init(command)
    if (!this.founded) throw new RaftLogError('ERR_NO_GROUP', 'The group catalog is not founded yet (the cluster is starting): ask again')
    if (command.op === 'create') return this.create(command)
    if (command.op === 'remove') return this.remove(command.group)
    if (command.op === 'move') return this.move(command)
    if (command.op === 'moved') return this.moved(command)
    if (command.op === 'join') return this.join(command)
    if (command.op === 'started') return this.started(command)
    throw new RaftLogError('ERR_BAD_COMMAND', `Unknown catalog operation ${JSON.stringify((command as { op: unknown }).op)}`)
  }

  private init(command: Extract<CatalogCommand, { op: 'init' }>): CatalogResult {
    if (this.founded) return { ok: true }
    // Checked here, not only where it was proposed: an entry anyone could propose is applied on every host.
    if (!Array.isArray(command.hosts) || command.hosts.length === 0 || !command.hosts.every((host) => Number.isSafeInteger(host) && host >= 1)) throw new RaftLogError('ERR_BAD_ARGUMENT', 'The catalog\'s founding names no hosts, or one that is not a node id', { argument: 'hosts' })
    if (!Number.isSafeInteger(command.groups) || command.groups < 1 || command.groups > maxCatalogGroups) throw new RaftLogError('ERR_BAD_ARGUMENT', `groups must be a whole number from 1 to ${maxCatalogGroups}, got ${String(command.groups)}`, { argument: 'groups' })
    const replication = replicationFor(command.hosts, command.replication)
    this.hosts = [...command.hosts].sort((a, b) => a - b)
    this.shards = command.groups
    for (const [group, replicas] of placeGroups(this.hosts, command.groups, replication)) this.add(group, replicas)
    return { ok: true }
  }

  private create(command: Extract<CatalogCommand, { op: 'create' }>): CatalogResult {
    if (this.groups.size >= maxCatalogGroups) throw new RaftLogError('ERR_BAD_ARGUMENT', `The catalog holds ${maxCatalogGroups} groups, its most: remove one first`)
    const group = this.nextGroup
    if (group >= catalogGroup) throw new RaftLogError('ERR_BAD_ARGUMENT', 'Every group id has been handed out')
    let replicas: number[]
    if (command.replicas !== undefined) {
      replicas = [...new Set(command.replicas)].sort((a, b) => a - b)
      const stranger = replicas.find((host) => !this.hosts.includes(host))
      if (stranger !== undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', `--replicas names host ${stranger}, which is not a host of the cluster (${this.hosts.join(', ')})`, { argument: 'replicas' })
      if (replicas.length === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', '--replicas names no host', { argument: 'replicas' })
    } else {
      replicas = placeGroup(group, this.hosts, this.groups.values(), replicationFor(this.hosts, command.replication))
    }
    this.add(group, replicas)
    return { ok: true, group, replicas }
  }

  private remove(group: number): CatalogResult {
    if (!this.groups.has(group)) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} is not in the catalog (groups: ${[...this.groups.keys()].join(', ') || 'none'})`, { argument: 'group' })
    if (group <= this.shards) throw new RaftLogError('ERR_GROUP_IS_SHARD', `Group ${group} holds a shard of the key-value store (groups 1 to ${this.shards}): removing it would lose its keys`, { argument: 'group' })
    this.groups.delete(group)
    this.moves.delete(group)
    for (const listener of this.listeners) listener({ kind: 'removed', group })
    return { ok: true, group }
  }

  private move(command: Extract<CatalogCommand, { op: 'move' }>): CatalogResult {
    const { group, from, to } = command
    const replicas = this.groups.get(group)
    if (replicas === undefined) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} is not in the catalog`, { argument: 'group' })
    const under = this.moves.get(group)
    if (under !== undefined) {
      if (under.from === from && under.to === to) return { ok: true, group, replicas: [...replicas] }
      throw new RaftLogError('ERR_CHANGE_IN_PROGRESS', `Group ${group} is moving from node ${under.from} to node ${under.to}: finish that move first (raftlog group move ${group} --from ${under.from} --to ${under.to})`, { argument: 'group' })
    }
    // Asked again once done (an answer lost, or the operator not sure): the move is done already.
    if (this.finishedMoves.get(group)?.some((done) => done.from === from && done.to === to) === true) return { ok: true, group, replicas: [...replicas] }
    if (!replicas.includes(from)) throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group} has no replica on node ${from} (replicas: ${replicas.join(', ')})`, { argument: 'from' })
    if (!this.hosts.includes(to)) throw new RaftLogError('ERR_BAD_ARGUMENT', `Node ${to} is not a node of the cluster (${this.hosts.join(', ')})`, { argument: 'to' })
    if (replicas.includes(to)) throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group} has a replica on node ${to} already (replicas: ${replicas.join(', ')})`, { argument: 'to' })
    if (this.finishedMoves.get(group)?.some((done) => done.from === to) === true) throw new RaftLogError('ERR_ID_REMOVED', `Node ${to} left group ${group} before: a Raft member's id never rejoins its group, so node ${to} cannot hold it again`, { argument: 'to' })
    const move = { from, to }
    this.moves.set(group, move)
    this.groups.set(group, [...replicas, to].sort((a, b) => a - b))
    for (const listener of this.listeners) listener({ kind: 'moving', group, move: { ...move } })
    return { ok: true, group, replicas: this.groups.get(group) as number[] }
  }

  private moved(command: Extract<CatalogCommand, { op: 'moved' }>): CatalogResult {
    const { group, from, to } = command
    const replicas = this.groups.get(group)
    if (replicas === undefined) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} is not in the catalog`, { argument: 'group' })
    const under = this.moves.get(group)
    // Said twice (an answer lost): the move is done already.
    if (under === undefined && replicas.includes(to) && !replicas.includes(from)) return { ok: true, group, replicas: [...replicas] }
    if (under === undefined || under.from !== from || under.to !== to) throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group} is not moving from node ${from} to node ${to}`, { argument: 'group' })
    this.moves.delete(group)
    this.groups.set(group, replicas.filter((host) => host !== from))
    this.finishedMoves.set(group, [...(this.finishedMoves.get(group) ?? []), { from, to }])
    for (const listener of this.listeners) listener({ kind: 'moved', group, move: { ...under } })
    return { ok: true, group, replicas: this.groups.get(group) as number[] }
  }

  private join(command: Extract<CatalogCommand, { op: 'join' }>): CatalogResult {
    const { host, address } = command
    if (!Number.isSafeInteger(host) || host < 1 || host > maxNodeId) throw new RaftLogError('ERR_BAD_ARGUMENT', `A joining node's id must be a whole number from 1 to ${maxNodeId}, got ${String(host)}`, { argument: 'host' })
    if (typeof address !== 'string' || address.length === 0 || address.length > maxAddressLength || !/^[^\s]+:\d{1,5}$/.test(address)) throw new RaftLogError('ERR_BAD_ARGUMENT', `Node ${host}'s address must be host:port, got ${JSON.stringify(address)}`, { argument: 'address' })
    const known = this.addresses.get(host)
    const founders = this.hosts.filter((id) => !this.addresses.has(id))
    if (founders.includes(host)) throw new RaftLogError('ERR_ID_IN_USE', `Node ${host} is a founding node of the cluster (founding nodes ${founders.join(', ')}): a new node joins under a new id`, { argument: 'host' })
    for (const [other, at] of this.addresses) if (other !== host && at === address) throw new RaftLogError('ERR_BAD_ARGUMENT', `Node ${host} asks to join at ${address}, where node ${other} serves`, { argument: 'address' })
    if (known !== undefined) {
      // A second machine under the id, or the same one with its directory lost: either would vote
      // again in terms it voted in before (Raft's votes must survive a restart).
      if (known !== address) throw new RaftLogError('ERR_ID_IN_USE', `Node ${host} joined the cluster at ${known} already; a new node joins under a new id (node ids are never reused)`, { argument: 'host' })
      if (command.fresh === true) throw new RaftLogError('ERR_ID_IN_USE', `Node ${host} joined the cluster before, and asks again with a new directory: its votes and log of before are lost, so it must join under a new id (node ids are never reused)`, { argument: 'host' })
      return { ok: true, hosts: [...this.hosts] }
    }
    this.hosts = [...this.hosts, host].sort((a, b) => a - b)
    this.addresses.set(host, address)
    for (const listener of this.listeners) listener({ kind: 'joined', host, address })
    return { ok: true, hosts: [...this.hosts] }
  }

  private started(command: Extract<CatalogCommand, { op: 'started' }>): CatalogResult {
    const { host, fresh } = command
    const founders = this.hosts.filter((id) => !this.addresses.has(id))
    // A joined host listed in the configuration file since: its 'join' recorded it.
    const joinedAt = this.addresses.get(host)
    if (joinedAt !== undefined) {
      if (command.address !== undefined && command.address !== joinedAt) throw new RaftLogError('ERR_ID_IN_USE', `Node ${host} joined the cluster at ${joinedAt}, and starts at ${command.address}: the other nodes send to ${joinedAt} (start it there)`, { argument: 'host' })
      if (fresh === true) throw new RaftLogError('ERR_ID_IN_USE', `Node ${host} joined the cluster before, and starts again with a new directory: its votes and log of before are lost, so it must join under a new id (node ids are never reused)`, { argument: 'host' })
      return { ok: true, hosts: [...this.hosts] }
    }
    if (!founders.includes(host)) throw new RaftLogError('ERR_CONFIG', `Node ${host} is not a founding node of this cluster (founding nodes ${founders.join(', ')}): its configuration file names it, but the cluster was founded without it; start it once with --join ADDRESS to add it`, { argument: 'host' })
    if (fresh === true && this.startedHosts.has(host)) throw new RaftLogError('ERR_ID_IN_USE', `Node ${host} ran in this cluster before, and starts again with a new directory: its votes and log of before are lost, so it must join under a new id (node ids are never reused; raftlog group move its groups' replicas off it)`, { argument: 'host' })
    this.startedHosts.add(host)
    return { ok: true, hosts: [...this.hosts] }
  }

  private add(group: number, replicas: number[]): void {
    this.groups.set(group, replicas)
    this.nextGroup = Math.max(this.nextGroup, group + 1)
    for (const listener of this.listeners) listener({ kind: 'added', group, replicas: [...replicas] })
  }
}

function encodeResult(result: CatalogResult): Uint8Array {
  return Buffer.from(JSON.stringify(result))
}
