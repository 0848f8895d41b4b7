// raftlog's public entry. Names exported here are the contract (DESIGN §4).
export { RaftLog, type RaftLogOptions, type SliceOptions, type OpenReport, type RaftLogStats } from './storage/raft-log.js'
// The shared log engine: the logs of many Raft groups in one directory, one flush for all.
export { LogEngine, type LogEngineOptions, type EngineOpenReport, type PurgeReport, type LogEngineStats, type EngineFileInfo } from './engine/log-engine.js'
export { GroupLog } from './engine/group-log.js'
export type { GroupHardState } from './engine/group-index.js'
// Many Raft groups' replicas in one process over one LogEngine (one flush per turn, quiet idle groups).
export { RaftHost, type RaftHostOptions, type HostCounters } from './host/raft-host.js'
export type { HostBatch, HostTransport, GroupMessage, QuiesceNotice } from './host/host-batch.js'
export { RaftStateFile, type RaftState, type ServerState } from './storage/raft-state-file.js'
export { RaftLogError, type RaftLogErrorCode } from './errors.js'
export { EntryType, type LogEntry, type NewEntry } from './storage/log-entry.js'
export { RaftNode, type RaftNodeOptions, type RaftStatus, type RaftNodeStats } from './raft/node/raft-node.js'
export { RaftCore, type Ready, type Role, type HardState, type RaftCoreOptions } from './raft/core/raft-core.js'
export type { RaftMessage, RequestVote, RequestVoteResponse, AppendEntries, AppendEntriesResponse } from './raft/core/messages.js'
export type { Transport } from './raft/transport.js'
export type { StateMachine, SnapshotInfo } from './raft/state-machine.js'
export { SessionStateMachine, type SessionOptions } from './session/session-state-machine.js'
export { ClientSession } from './session/client-session.js'
export { encodePlain as plainEntry } from './session/session-envelope.js'
export type { ReadMode } from './raft/core/raft-core.js'
export type { Configuration, Member } from './raft/core/configuration.js'
export type { MembershipChange } from './raft/core/membership-change.js'
export type { RaftLogStore } from './raft/core/log-store.js'
// The offline tools' checks (raftlog verify / repair / recover) for a stopped node's directory.
export { verifyDirectory, type VerifyResult } from './verify/verify-directory.js'
export { repairDirectory, type RepairReport } from './verify/repair-directory.js'
export { planNewClusterRecovery, recoverAsNewCluster, type NewClusterPlan } from './verify/recover-as-new-cluster.js'
// Backup and restore (raftlog snapshot save / status / restore): the backup file's check, and a
// new cluster's node directory built from one.
export { checkBackupFile, type BackupSummary, type BackupMetadata } from './storage/backup-file.js'
export { restoreSnapshot, type RestoreSnapshotOptions, type RestoreReport } from './raft/node/restore-snapshot.js'
