// Public helpers for testing raftlog and applications built on it: import from 'raftlog/testing'.
export { MemoryNetwork, type UnreliableOptions } from './raft/memory-network.js'
export { MemoryLogStore } from './raft/memory-log-store.js'
export { seededRandom } from './raft/seeded-random.js'
