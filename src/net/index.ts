// raftlog's networked entry, `raftlog/net`: what crosses processes. A node server hosting your
// state machine over gRPC, the client that finds the leader, the transport, the YAML loader.
export { startNodeServer, maxCommandBytes, type NodeServer, type NodeServerOptions } from './server/node-server.js'
export { ClusterClient, type ClusterClientOptions, type NodeStatus, type SaveSnapshotOptions, type SavedSnapshot, type BackupTarget } from './client/cluster-client.js'
export type { MemberStatus } from './membership-wire.js'
export { GrpcTransport, maxGrpcMessageBytes, type PeerAddress, type TransportCounts, type GrpcTransportOptions } from './transport/grpc-transport.js'
export { loadClusterConfig, defaultClusterSettings, type ClusterConfig, type NodeConfig } from './config/cluster-config.js'
// The key-value store that `raftlog node` serves, for programs that talk to such a cluster.
export { startKvNodeServer } from '../kv/kv-node-server.js'
export { KvStateMachine, encodeKvCommand, decodeKvCommand, encodeKvResult, decodeKvResult, type KvCommand, type KvResult } from '../kv/kv-state-machine.js'
export { encodeKvQuery, decodeKvScanResult, type KvQuery, type KvScanResult } from '../kv/kv-query.js'
// TLS: a client's credentials, a node's own material and server credentials (for a RaftNode
// with a GrpcTransport on your own server), the node-id-in-certificate rule, and the gate's reasons.
export { readClientTlsFiles, clientTlsOf, type ClientTls, type ClientTlsFiles } from './tls/client-tls.js'
export { readNodeTls, type NodeTls } from './tls/tls-files.js'
export { serverCredentials } from './tls/tls-credentials.js'
export { nodeUri, nodeIdOf } from './tls/node-identity.js'
export { rejectReasons, type RejectReason } from './transport/message-check.js'
export type { PeerTlsSettings, ClientTlsSettings } from './config/tls-settings.js'
