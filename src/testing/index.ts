// Public helpers for testing raftlog and applications built on it: import from 'raftlog/testing'.
export { MemoryNetwork, type UnreliableOptions } from './memory-network.js'
export { MemoryLogStore } from './memory-log-store.js'
export { seededRandom } from '../raft/core/seeded-random.js'
// The deterministic simulator raftlog's own consensus tests run on: RaftCores over a simulated
// network with a virtual clock, crashes, partitions and slow disks, replayable from a seed.
export { Simulator, testSeed, type SimulatorOptions, type SimulatorListener } from './simulator.js'
