// Every error raftlog throws on purpose: a RaftLogError with a stable `code` (what callers match
// on, Node's own convention) and a message that names the file, index, node or argument. The
// table below is every code raftlog throws, with when; the README's error table is checked
// against it (test/readme).

/** Each code raftlog throws, and when. */
export const errorCodes = {
  // Arguments, files and the log (storage)
  ERR_BAD_ARGUMENT: 'a call, option or field is wrong: a non-integer, negative or unsafe index or term, a term lower than the last one, data that is not a Uint8Array, an unknown option',
  ERR_OUT_OF_RANGE: 'reading a compacted index, a slice past the end, truncating before the log',
  ERR_ENTRY_TOO_LARGE: 'an entry over 256 MiB',
  ERR_CLOSED: 'any call on a log or state file after close()',
  ERR_LOCKED: 'the directory is open in this or another process',
  ERR_UNSAFE_DIRECTORY: 'a node directory that users other than its owner can write to (group- or world-writable)',
  ERR_CORRUPT: "damage to acknowledged data: a checksum mismatch in a sealed segment, a missing middle segment, a damaged header, a snapshot or state file that fails its checks; the message names file, byte and index",
  ERR_UNSUPPORTED_VERSION: 'a segment, snapshot or state file of a format version this raftlog does not read',
  ERR_DISK_FULL: "a node's disk (or quota) has no room for its log to grow (ENOSPC, EDQUOT): it refuses proposals, hands leadership over and answers no appends until space returns, which it finds out by itself; retry, or ask the new leader",
  ERR_LOG_FULL: "the leader's log holds max_log_bytes: new writes are refused until a snapshot lets the log be compacted (the node takes one at once when its state machine can)",
  ERR_IO: 'an msync or fsync failed: the log refuses further writes until it is reopened (the kernel may have dropped the dirty pages)',
  ERR_NO_GROUP: 'a log engine call naming a group the engine does not hold (never created, or removed); a group the cluster\'s catalog or a host does not hold',
  ERR_GROUP_IS_SHARD: 'removing a group that holds a shard of the sharded key-value store (its keys would be lost)',
  ERR_GROUP_EXISTS: 'creating a group a log engine holds already',
  ERR_NATIVE_MISSING: 'the native addon was not built: run npm install (or npm run build:native)',
  ERR_NOT_RAFTLOG: 'a tool was given a path that is not a raftlog directory',
  ERR_NOT_BACKUP: 'a file given as a backup that is not one (raftlog snapshot save writes them)',
  ERR_NOT_EMPTY: 'a snapshot restore into a directory that holds files: only an empty or new directory is restored into',
  ERR_CONFIGURATION_TOO_LARGE: "a cluster configuration too large for raft_state.meta's slot (4,004 bytes)",
  // A node and its cluster
  ERR_STOPPED: 'a call on a stopped node, or a request it could not finish before it stopped',
  ERR_NOT_LEADER: 'a proposal, change or transfer asked of a node that is not the leader (with leaderId when known)',
  ERR_LEADERSHIP_TRANSFER: 'a proposal or change while the leader hands leadership over: ask the new leader',
  ERR_LEADERSHIP_LOST: 'the node stopped leading before the entry committed: it may or may not be applied later',
  ERR_PROPOSAL_DROPPED: 'another entry was committed at the proposal\'s index: it was never applied',
  ERR_TIMEOUT: 'no answer in time: a read index, a leadership transfer whose target never caught up',
  ERR_UNSUPPORTED: 'the state machine cannot do what was asked (a snapshot without snapshot() and restore())',
  ERR_WRONG_NODE: 'a node directory recorded for another node id',
  ERR_WRONG_CLUSTER: 'a node directory of another cluster, members at start that belong to another, or a node that would found a new cluster beside the one its file\'s other nodes belong to',
  ERR_NO_CONFIGURATION: 'a log compacted past every configuration with none recorded: the membership cannot be rebuilt',
  ERR_CHANGE_IN_PROGRESS: 'a membership change while another is being carried out',
  ERR_LEARNER_BEHIND: 'promoting a learner that acknowledged nothing or is more than 1,000 entries behind',
  ERR_UNSAFE_CHANGE: 'a membership change after which the voters heard from lately would not be a majority',
  ERR_ID_REMOVED: 'adding a node id that was removed from the cluster: ids are never reused',
  ERR_ID_IN_USE: 'a many-group node refused before it serves: a founding id given to --join, a joined id from another address, or a node that ran before starting with a new directory (it lost its votes)',
  ERR_TRANSFER_FAILED: 'a leadership transfer after which another node than the target leads',
  ERR_NOT_MEMBER: 'recovering as a new cluster a directory whose log says its node is not a member (removed, or never added): pick another survivor',
  // Clients and sessions
  ERR_UNKNOWN_OUTCOME: 'a request that may or may not have been carried out (the node did not answer in time): look before asking again',
  ERR_NO_LEADER: 'no leader could be reached within the timeout',
  ERR_STARTING: 'a node asked before it finished starting (checking its cluster, replaying its log): nothing was done; a client asks the other nodes, then this one again',
  ERR_NO_CLUSTER: 'no node answered at all (fail fast; a many-group client when every node refuses the connection)',
  ERR_MANY_GROUPS: 'a one-group call reached a node of a many-group cluster (it does not serve `raftlog.RaftClient`): use the many-group commands, with `--config`',
  ERR_ONE_GROUP: 'a many-group call reached a node of a one-group cluster (it does not serve `raftlog.RaftHostClient`)',
  ERR_NO_MAJORITY: 'fewer than a majority answered and none knew a leader (fail fast)',
  ERR_BAD_COMMAND: 'a command or read no node accepts (it would fail on every node)',
  ERR_BAD_RESULT: 'a state machine answered with something other than a Uint8Array',
  ERR_APPLY: "the application's apply() failed with an error without a code of its own",
  ERR_REQUEST_TOO_LARGE: 'a command or read larger than max_request_bytes',
  ERR_KEY_TOO_LARGE: 'a key-value key larger than max_key_bytes',
  ERR_NOT_UTF8: 'a key or value that is not UTF-8 where text is asked for (kv --json)',
  ERR_COMPACTED: 'a read at, or a compaction up to, a revision the key-value store has compacted away (etcd: required revision has been compacted)',
  ERR_FUTURE_REVISION: "a read at, or a compaction up to, a revision past the key-value store's (etcd: required revision is a future revision)",
  ERR_KEY_NOT_FOUND: 'an etcd put with ignore_value on a key that does not exist (etcd: key not found)',
  ERR_LEASE_NOT_FOUND: 'a put, revoke or keep-alive naming a lease that does not exist: never granted, revoked, or expired (etcd: requested lease not found)',
  ERR_LEASE_EXISTS: 'a lease granted with an id that is granted already (etcd: lease already exists)',
  ERR_NOT_ELECTION_LEADER: "a proclaim by a campaigner that no longer leads the election (etcd: election: not leader); a resign then answers OK, as etcd's",
  ERR_NO_ELECTION_LEADER: 'asking who leads an election no one leads (etcd: election: no leader)',
  ERR_CANCELLED: 'a wait (for a lock, a leadership, a watch) its caller gave up on',
  ERR_UNAVAILABLE: "a watch, lease, lock or election call no node could serve (every node down, or no leader), with the node's words",
  ERR_SESSION_EXPIRED: "a command of a client session that expired (it changes nothing)",
  ERR_SESSION_FORBIDDEN: "a command in another client's session (the secret does not match)",
  ERR_SESSION_STALE: 'a command sent again after the client said it had its result',
  ERR_SESSION_WINDOW: 'more commands without acknowledged results than a session may have',
  ERR_RESULT_NOT_KEPT: "a command sent again whose answer was over the sessions' budget for kept answers: it was applied once",
  ERR_UNAUTHENTICATED: 'a client without the certificate the cluster asks for',
  ERR_TLS_UNTRUSTED: "a node's certificate this client does not trust (a wrong --cacert)",
  // Running nodes and tools
  ERR_CONFIG: 'a configuration file that is wrong: the message names the file and the field',
  ERR_CONFIG_NOT_FOUND: 'no configuration file at the path given',
  ERR_JOIN: 'a node could not join the cluster through the address given',
  ERR_BIND: 'a node could not listen on its address (EADDRINUSE when it is taken)',
  ERR_EXISTS: 'certs init into a directory that holds certificates already (--force replaces them); snapshot save to a file that exists',
  ERR_PARSE_ARGS: 'a command line the CLI cannot parse',
  ERR_NOT_CONFIRMED: 'a command that changes a directory for good (recover) was not confirmed: answer y on a terminal, or give --yes',
  ERR_MAJORITY_ALIVE: 'recover refused: the other members still answer and, with this node, are a majority (nothing is lost: start the node again)',
} as const

/** errno names of a file system with no room left for this writer: the disk is full, or its quota. */
const noSpaceErrnos = new Set(['ENOSPC', 'EDQUOT'])

/**
 * Whether `error` says the disk has no room (its code ENOSPC or EDQUOT, or ERR_DISK_FULL): a
 * refusal that goes away once space is freed, with nothing written. Not an ERR_IO whose cause was
 * ENOSPC: a failed sync may have lost dirty pages, and that log must be reopened.
 */
export function isDiskFullError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false
  const code = (error as { code?: unknown }).code
  return code === 'ERR_DISK_FULL' || (typeof code === 'string' && noSpaceErrnos.has(code))
}

/**
 * A code raftlog throws (see errorCodes), a system call's own errno name (ENOSPC, EACCES,
 * EADDRINUSE, …, when a file or port cannot be had), or an application's code, as its state
 * machine threw it, carried back to a client.
 */
export type RaftLogErrorCode = keyof typeof errorCodes | `E${string}` | (string & {})

/** Every error raftlog throws on purpose: a stable `code` and a message naming the thing. */
export class RaftLogError extends Error {
  readonly code: RaftLogErrorCode
  /** Extra facts for machines: file, offset, index, argument, … */
  readonly details: Record<string, unknown>

  constructor(code: RaftLogErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RaftLogError'
    this.code = code
    this.details = details
  }
}
