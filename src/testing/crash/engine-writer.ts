// The crash-test writer for the shared log engine: a child process that, turn after turn, changes
// many groups (appends, conflicting appends at a new term, compactions, hard states), flushes them
// all with one flush, and now and then purges. It tells the parent, line by line on stdout, each
// change before it makes it and what is durable; the parent kills it (or it kills itself at a
// chosen step) and checks the directory (engine-crash-model.ts).
//
// Protocol, one line each:
//   O <groups>                 opened                      D <file> <bytes>   durable boundary
//   N <group>                  about to create a group     A                  every change said so far is durable
//   W <group> <at> <last> <term>  about to append entries at..last (dropping any from `at` on)
//   C <group> <upTo>           about to compact            H <group> <s>      about to set hard state s
//   P                          about to purge
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { LogEngine } from '../../engine/log-engine.js'
import { engineEntryPayload, hardStateNumber, type EngineWriterConfig } from './engine-crash-config.js'
import { prng } from './payload.js'
import { sayLine } from './protocol-line.js'

const say = sayLine
const purgeEveryTurns = 12

function killSelf(): never {
  process.kill(process.pid, 'SIGKILL')
  throw new Error('unreachable')
}

/** Makes the next rmSync (a purge's file deletion) kill the process, before or after the call. */
function armPurgeKill(after: boolean): void {
  const original = fs.rmSync
  fs.rmSync = ((...args: Parameters<typeof fs.rmSync>) => {
    if (!after) killSelf()
    original(...args)
    killSelf()
  }) as typeof fs.rmSync
  syncBuiltinESMExports()
}

async function run(config: EngineWriterConfig): Promise<void> {
  const random = prng(config.roundSeed)
  const engine = LogEngine.open(config.dir, { fileSize: config.fileSize, rewriteLagFiles: 2, maxBatchBytes: 8192, logger: { warn() {} } })
  say(`O ${engine.groupIds().length}`)
  if (engine.groupIds().length === 0) {
    for (let group = 1; group <= config.groups; group++) {
      say(`N ${group}`)
      engine.createGroup(group)
    }
    await engine.flush()
    boundary(engine)
    say('A')
  }
  const hardStates = new Map(engine.groupIds().map((group) => [group, engine.hardState(group).term]))
  for (let turn = 1; ; turn++) {
    const killStep = turn === config.killAtTurn ? config.killStep : undefined
    const touched = 1 + Math.floor(random() * Math.min(12, config.groups))
    for (let n = 0; n < touched; n++) changeGroup(engine, config, 1 + Math.floor(random() * config.groups), random, hardStates)
    if (killStep === 'after-stage') killSelf()
    const flushed = random() < 0.2 ? Promise.resolve(engine.flushSync()) : engine.flush()
    if (killStep === 'during-flush') killSelf()
    await flushed
    boundary(engine)
    if (killStep === 'before-acknowledge') killSelf()
    if (config.broken === true && turn > 3) {
      // Acknowledges an entry of group 1 that is never written.
      const last = engine.lastIndex(1)
      say(`W 1 ${last + 1} ${last + 1} ${Math.max(1, engine.lastTerm(1))}`)
    }
    say('A')
    if (turn % purgeEveryTurns === 0 || killStep === 'during-purge') {
      if (killStep === 'during-purge') armPurgeKill(random() < 0.5)
      say('P')
      engine.purge()
      boundary(engine)
      say('A')
      if (killStep === 'during-purge') killSelf()
    }
  }
}

/** Says where the last file's durable bytes end: said before the acknowledgement it backs. */
function boundary(engine: LogEngine): void {
  const active = engine.describeFiles().at(-1)
  if (active !== undefined) say(`D ${active.file} ${active.usedBytes}`)
}

/** One change to one group, said before it is made. */
function changeGroup(engine: LogEngine, config: EngineWriterConfig, group: number, random: () => number, hardStates: Map<number, number>): void {
  const choice = random()
  const first = engine.firstIndex(group)
  const last = engine.lastIndex(group)
  if (choice < 0.08 && last >= first) {
    const upTo = first + Math.floor(random() * (last - first + 1))
    say(`C ${group} ${upTo}`)
    engine.compact(group, upTo)
    return
  }
  if (choice < 0.3) {
    const s = (hardStates.get(group) ?? 0) + 1
    hardStates.set(group, s)
    say(`H ${group} ${s}`)
    engine.setHardState(group, hardStateNumber(group, s))
    return
  }
  // A conflict now and then: a new leader's entries, in a later term, replace the last few.
  const conflict = choice < 0.4 && last >= first
  const from = conflict ? last + 1 - (1 + Math.floor(random() * Math.min(3, last - first + 1))) : last + 1
  const term = Math.max(1, engine.lastTerm(group)) + (conflict ? 1 : 0)
  const count = 1 + Math.floor(random() * 4)
  say(`W ${group} ${from} ${from + count - 1} ${term}`)
  engine.append(
    group,
    Array.from({ length: count }, (_, i) => ({ term, data: engineEntryPayload(config.payloadSeed, group, from + i, term, config.entrySize) })),
    from,
  )
}

const config = JSON.parse(process.argv[2] ?? '{}') as EngineWriterConfig
run(config).catch((error: unknown) => {
  process.stderr.write(`engine writer failed: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(3)
})
