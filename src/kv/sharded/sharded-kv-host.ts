// A host of raftlog's key-value store spread over many groups: startHostServer with one
// KvStateMachine per group, its reads (get, scan) answered after a ReadIndex of that group.
import { startHostServer, type HostServer, type HostServerOptions } from '../../net/server/host-server.js'
import { RaftLogError } from '../../errors.js'
import { KvStateMachine } from '../kv-state-machine.js'
import { answerKvQuery } from '../kv-query.js'
import { kvCommandProblem } from '../kv-command-check.js'
import { shardKeyProblem } from './shard-keys.js'
import { defaultMaxKeyBytes } from '../../net/config/request-limits.js'

export interface ShardedKvHost extends HostServer {
  /** This host's replica of each group's store. */
  stores: Map<number, KvStateMachine>
}

/** `maxKeyBytes`: the longest key a command may name (default 64 KiB, max_key_bytes); HostServerOptions.maxRequestBytes bounds the whole command. */
export async function startShardedKvHost(options: Omit<HostServerOptions, 'stateMachine' | 'read' | 'checkCommand'> & { maxKeyBytes?: number }): Promise<ShardedKvHost> {
  const maxKeyBytes = options.maxKeyBytes ?? defaultMaxKeyBytes
  const stores = new Map<number, KvStateMachine>()
  const server = await startHostServer({
    ...options,
    stateMachine: (group) => {
      const store = new KvStateMachine()
      stores.set(group, store)
      return store
    },
    groupRemoved: (group) => {
      stores.delete(group)
      options.groupRemoved?.(group)
    },
    // What every replica would refuse never takes a log entry: the checks of a one-group node, and
    // no key of another group (a later scan would list it twice).
    checkCommand: (command, group, shards) => kvCommandProblem(command, maxKeyBytes) ?? shardKeyProblem(command, group, shards),
    read: (group, query) => {
      const store = stores.get(group)
      if (store === undefined) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} has no replica on this host`)
      return answerKvQuery(store, query)
    },
  })
  return { ...server, stores }
}
