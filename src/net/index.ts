// raftlog's networked entry, `raftlog/net`: what crosses processes. A node server hosting your
// state machine over gRPC, the client that finds the leader, the transport, the YAML loader.
export { startNodeServer, maxCommandBytes, type NodeServer, type NodeServerOptions } from './node-server.js'
export { ClusterClient, type ClusterClientOptions, type NodeStatus } from './cluster-client.js'
export type { MemberStatus } from './membership-wire.js'
export { GrpcTransport, maxGrpcMessageBytes, type PeerAddress, type TransportCounts } from './grpc-transport.js'
export { loadClusterConfig, defaultClusterSettings, type ClusterConfig, type NodeConfig } from './cluster-config.js'
// The key-value store that `raftlog node` serves, for programs that talk to such a cluster.
export { startKvNodeServer } from './kv-node-server.js'
export { KvStateMachine, encodeKvCommand, decodeKvCommand, encodeKvResult, decodeKvResult, type KvCommand, type KvResult } from './kv-state-machine.js'
export { encodeKvQuery, decodeKvScanResult, type KvQuery, type KvScanResult } from './kv-query.js'
