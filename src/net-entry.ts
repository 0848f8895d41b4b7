// raftlog's networked entry, `raftlog/net`: what crosses processes (beside src/index.ts, not in
// src/net/, since it gathers the key-value store too). A node server hosting your
// state machine over gRPC, the client that finds the leader, the transport, the YAML loader.
export { startNodeServer, maxCommandBytes, type NodeServer, type NodeServerOptions } from './net/server/node-server.js'
// Many groups per process over gRPC: a RaftHost's server, its transport and a client that finds each group's leader.
export { startHostServer, defaultHostTickMs, type HostServer, type HostServerOptions } from './net/server/host-server.js'
export { GrpcHostTransport, maxQueuedBatchesPerHost, type HostTransportCounts } from './net/transport/grpc-host-transport.js'
export { HostClient } from './net/client/host-client.js'
// Which groups exist and where (the group catalog), leaders spread over the hosts, and the operator's client.
export { GroupAdmin, type GroupInfo, type HostGroupStatus } from './net/client/group-admin.js'
export { GroupCatalog, catalogGroup, type CatalogView, type CatalogCommand } from './host/group-catalog.js'
export { placeGroup, placeGroups, defaultReplication } from './host/placement.js'
export { planLeaderTransfers, type LeaderTransfer } from './host/leader-balance.js'
// The key-value store spread over many groups (hash sharding): its hosts, its client, the key-to-group rule.
export { startShardedKvHost, type ShardedKvHost } from './kv/sharded/sharded-kv-host.js'
export { ShardedKvClient } from './kv/sharded/sharded-kv-client.js'
export { shardOf } from './kv/sharded/shard-of.js'
export {
  ClusterClient,
  type ClusterClientOptions,
  type NodeStatus,
  type SaveSnapshotOptions,
  type SavedSnapshot,
  type BackupTarget,
  type WatchOptions,
  type WatchStream,
  type WatchBatch,
  type WatchEvent,
  type LeaseHandle,
  type LeaseOptions,
  type LeaseStatus,
  type LockHandle,
  type LockOptions,
  type CampaignOptions,
  type ElectionLeader,
  type Leadership,
} from './net/client/cluster-client.js'
export type { MemberStatus } from './net/membership-wire.js'
export { GrpcTransport, maxGrpcMessageBytes, type PeerAddress, type TransportCounts, type GrpcTransportOptions } from './net/transport/grpc-transport.js'
export { loadClusterConfig, defaultClusterSettings, type ClusterConfig, type NodeConfig } from './net/config/cluster-config.js'
// The key-value store that `raftlog node` serves, for programs that talk to such a cluster.
export { startKvNodeServer } from './kv/kv-node-server.js'
export { KvStateMachine, encodeKvCommand, decodeKvCommand, encodeKvResult, decodeKvResult, decodeTxnResult, decodeLeaseResult, type KvCommand, type KvResult, type LeaseOutcome } from './kv/kv-state-machine.js'
export type { TxnRequest, TxnResponse, Compare, RequestOp, RangeRequest, PutRequest, DeleteRangeRequest } from './kv/kv-txn.js'
export { encodeKvQuery, decodeKvScanResult, type KvQuery, type KvScanResult } from './kv/kv-query.js'
// The typed client of the store's etcd operations (range, txn, deleteRange, compact): a ClusterClient.
export { KvClient, prefixEnd, type RangeOptions, type RangeAnswer, type TxnOptions, type TxnOp, type CompareOptions, type PutOptions, type DeleteRangeOptions, type DeleteRangeAnswer, type KeySpan, type KeyValue, type TxnOutcome, type ResponseOp } from './kv/kv-client.js'
// TLS: a client's credentials, a node's own material and server credentials (for a RaftNode
// with a GrpcTransport on your own server), the node-id-in-certificate rule, and the gate's reasons.
export { readClientTlsFiles, clientTlsOf, type ClientTls, type ClientTlsFiles } from './net/tls/client-tls.js'
export { readNodeTls, type NodeTls } from './net/tls/tls-files.js'
export { serverCredentials } from './net/tls/tls-credentials.js'
export { nodeUri, nodeIdOf } from './net/tls/node-identity.js'
export { rejectReasons, type RejectReason } from './net/transport/message-check.js'
export type { PeerTlsSettings, ClientTlsSettings } from './net/config/tls-settings.js'
