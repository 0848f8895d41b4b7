// The crash test's snapshot writer: a child process running a real one-node RaftNode over
// MemoryNetwork, with the Ledger state machine, a small snapshot threshold and small segments. It
// proposes one entry at a time and tells the parent, line by line on stdout, what it proposed and
// what was acknowledged; it kills itself at the seeded point inside the snapshot path
// (snapshot-failpoints.ts). The parent then restarts a node on the directory and checks it.
//
// Protocol, one line each:
//   O <lastApplied> <snapshotIndex> <firstIndex> <lastIndex>   node started
//   L <term>              leader            P <id>           about to propose
//   A <id> <index>        acknowledged      S <index>        a snapshot starts
//   K <point> <step> <what>                 killing itself there (none: the point was not reached)
//
// Replayable: proposals go one at a time, and a snapshot is held at its start until the writer
// has made the seeded number of proposals beside it, then the writer waits for it to end. So
// the same seed makes the same log, the same snapshots and the same kill, whatever the timing.
import { MemoryNetwork } from '../memory-network.js'
import { RaftNode } from '../../raft/node/raft-node.js'
import { Ledger, proposalData } from './ledger.js'
import { entryPayload, prng } from './payload.js'
import { installSnapshotFailpoints } from './snapshot-failpoints.js'
import { sayLine } from './protocol-line.js'
import { ledgerNodeOptions, type SnapshotWriterConfig } from './snapshot-writer-config.js'

const say = (line: string): void => {
  // In the pipe before the next step runs, whatever a SIGKILL does next (protocol-line.ts).
  sayLine(line)
}

const kill = (): never => {
  process.kill(process.pid, 'SIGKILL')
  throw new Error('unreachable: SIGKILL sent')
}

/** Snapshots held at their start, waiting for the writer's turn. */
class SnapshotGate {
  private waiting: { index: number; release: () => void }[] = []

  arrive(index: number): Promise<void> {
    return new Promise((release) => this.waiting.push({ index, release }))
  }

  next(): { index: number; release: () => void } | undefined {
    return this.waiting.shift()
  }

  get holding(): boolean {
    return this.waiting.length > 0
  }
}

async function run(config: SnapshotWriterConfig): Promise<void> {
  const random = prng(config.roundSeed)
  const gate = new SnapshotGate()
  await installSnapshotFailpoints(config.kill, { say, snapshotStarting: (index) => gate.arrive(index) })
  let snapshotFailure: string | undefined
  const logger = {
    warn(message: string): void {
      if (/^snapshot at index \d+ failed/.test(message)) snapshotFailure = message
      process.stderr.write(`${message}\n`)
    },
  }
  const network = new MemoryNetwork({ seed: config.roundSeed })
  const node = await RaftNode.start({ ...ledgerNodeOptions(config), stateMachine: new Ledger(), transport: network.endpoint(1), seed: config.roundSeed, logger })
  const started = node.status()
  say(`O ${started.lastApplied} ${started.snapshotIndex} ${started.firstIndex} ${started.lastIndex}`)
  const problem = (): Error | undefined => node.failed ?? (snapshotFailure === undefined ? undefined : new Error(snapshotFailure))
  await until(() => node.status().role === 'leader', problem)
  say(`L ${node.status().term}`)
  let proposals = 0
  const propose = async (): Promise<void> => {
    proposals++
    const id = `${config.round}.${proposals}`
    say(`P ${id}`)
    const index = await node.propose(proposalData(id, entryPayload(config.payloadSeed, proposals, config.round, config.entrySize)))
    say(`A ${id} ${String(index)}`)
    if (config.broken === true && proposals % 10 === 0) say(`A ${id}.never ${String(index)}`)
  }
  for (;;) {
    const snapshot = gate.next()
    if (snapshot !== undefined) {
      const beside = Math.floor(random() * (config.maxProposalsBeside + 1))
      for (let i = 0; i < beside; i++) await propose()
      // Let the applier finish what is committed (a replay at start): once this snapshot is
      // written the node looks again at whatever it applied by then, and that must not be timing.
      await until(() => node.status().lastApplied >= node.status().commitIndex, problem)
      snapshot.release()
      // Taken, compacted and pruned: the snapshot index moves in the same turn as the compaction.
      await until(() => node.status().snapshotIndex >= snapshot.index, problem)
      continue
    }
    if (proposals >= config.maxProposals) {
      say(`K none - reached no ${config.kill.point} call ${config.kill.countdown} in ${proposals} proposals`)
      kill()
    }
    await propose()
    // A snapshot due now reaches the gate after a few steps of its own (it opens its file): wait
    // for it, so the next proposal never races it and the same seed makes the same log.
    const status = node.status()
    if (status.lastApplied - status.snapshotIndex >= config.snapshotThreshold) await until(() => gate.holding || node.status().snapshotIndex >= status.lastApplied, problem)
  }
}

/** Waits for `done`, failing at once on the node's failure. */
async function until(done: () => boolean, problem: () => Error | undefined): Promise<void> {
  while (!done()) {
    const failure = problem()
    if (failure !== undefined) throw failure
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

const config = JSON.parse(process.argv[2] ?? '{}') as SnapshotWriterConfig
run(config).catch((error: unknown) => {
  process.stderr.write(`snapshot writer failed: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(3)
})
