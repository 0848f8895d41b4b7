import type { EngineFactory } from './engine.js'
import { levelEngine } from './level-engine.js'
import { lmdbEngine } from './lmdb-engine.js'
import { raftlogEngine } from './raftlog-engine.js'
import { rawFsEngine } from './raw-fs-engine.js'
import { sqliteEngine } from './sqlite-engine.js'

/** raftlog first: ratios are raftlog against each of the others. */
export const allEngines: EngineFactory[] = [raftlogEngine, rawFsEngine, lmdbEngine, sqliteEngine, levelEngine]
