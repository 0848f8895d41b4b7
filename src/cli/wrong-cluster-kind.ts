// A command that met the other kind of cluster: a one-group node does not serve the many-group
// services (raftlog.RaftHostClient), a many-group node does not serve the one-group ones
// (raftlog.RaftClient, etcd's API, v3lock, v3election). gRPC says "The server does not implement
// the method /…"; the user is told which kind of cluster this is and what works on it.

const oneGroupOnly = /does not implement the method \/(raftlog\.RaftClient|etcdserverpb\.|v3lockpb\.|v3electionpb\.)/
const manyGroupsOnly = /does not implement the method \/raftlog\.RaftHostClient\//

/** The words for `message` when it says the command reached the wrong kind of cluster, else undefined. */
export function wrongClusterKind(command: string, message: string): string | undefined {
  if (manyGroupsOnly.test(message)) return `the cluster runs one Raft group: raftlog ${command}, used this way, is for many-group clusters (started with --groups or cluster_settings.groups)`
  if (oneGroupOnly.test(message)) {
    return `the cluster runs many Raft groups (it does not serve ${/method \/([^/]+)\//.exec(message)?.[1] ?? 'this service'}): raftlog ${command}, used this way, works on one-group clusters only; on a many-group cluster use kv put, get, delete and cas, group, status and dashboard, with --config`
  }
  return undefined
}
