// raftlog's public entry. Names exported here are the contract (DESIGN §4).
export { RaftLog, type RaftLogOptions, type SliceOptions, type OpenReport } from './storage/raft-log.js'
export { RaftStateFile, type RaftState, type ServerState } from './storage/raft-state-file.js'
export { RaftLogError, type RaftLogErrorCode } from './storage/errors.js'
export { EntryType, type LogEntry, type NewEntry } from './storage/log-entry.js'
