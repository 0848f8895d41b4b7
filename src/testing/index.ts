// Public helpers for testing raftlog and applications built on it: import from 'raftlog/testing'.
export { MemoryNetwork, type UnreliableOptions } from './memory-network.js'
export { MemoryHostNetwork } from './memory-host-network.js'
export { MemoryLogStore } from './memory-log-store.js'
export { seededRandom } from '../raft/core/seeded-random.js'
// The deterministic simulator raftlog's own consensus tests run on: RaftCores over a simulated
// network with a virtual clock, crashes, partitions and slow disks, replayable from a seed.
export { Simulator, testSeed, type SimulatorOptions, type SimulatorListener } from './simulator.js'
// The crash harness behind `raftlog crash-test`: writer processes killed (or their unflushed
// writes lost) again and again, each recovered log checked against what was acknowledged.
export { runCrashTest, type CrashMode, type CrashTestOptions, type CrashTestReport, type RoundResult } from './crash/run-crash-test.js'
// The same for the shared log engine (`raftlog crash-test --engine`): a many-group writer.
export { runEngineCrashTest, type EngineCrashMode, type EngineCrashTestOptions, type EngineCrashReport, type EngineRoundResult } from './crash/run-engine-crash-test.js'
