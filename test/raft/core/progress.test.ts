// A leader's view of one follower (etcd's tracker.Progress and tracker.Inflights) as transcripts in
// testdata/progress/*.txt, and the inflights window checked against a plain list under random use.
//
//   inflights count=N bytes=B         a new window: N messages, B payload bytes at most
//   add last=I bytes=B [tick=T seq=S] one AppendEntries with entries up to I goes out
//   free to=I                         the follower holds up to I: messages ending there go
//   reset                             everything in flight is forgotten
//   progress next=I [count=N bytes=B] a new follower, probed from I (window 2 × 1000 B)
//   probe next=I | replicate | snapshot index=I
//   send last=I [entries=K bytes=B]   sends what the state allows of a log ending at I, K entries
//                                     of B bytes per message (the core's sendAppends loop)
//   ack index=I                       a success answer: the follower holds up to I
//   heartbeat                         an AppendEntries without entries goes out (numbered, timed)
//   answered seq=S                    an answer to the message numbered S (lease and ReadIndex)
//   tick to=T                         the leader's clock (ticks) for what is sent next
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Inflights, Progress } from '../../../src/raft/core/progress.js'
import { seededRandom } from '../../../src/raft/core/seeded-random.js'
import { runTranscripts, type Command } from './transcript.js'

function showInflights(inflights: Inflights): string {
  const { oldest, newest } = inflights
  const ends = oldest === undefined || newest === undefined ? '' : ` oldest=${oldest.lastIndex} (tick ${oldest.sentAt}, seq ${oldest.seq}) newest=${newest.lastIndex}`
  return `count=${inflights.count} bytes=${inflights.bytes} full=${inflights.full}${ends}`
}

function showProgress(progress: Progress): string {
  const snapshot = progress.state === 'snapshot' ? ` pending-snapshot=${progress.pendingSnapshot}` : ''
  return `${progress.state} match=${progress.match} next=${progress.next}${snapshot} paused=${progress.paused} inflight=${progress.inflights.count} (${progress.inflights.bytes} B)`
}

/** One transcript file's leader: a window or a follower's progress, its message counter and clock. */
function newInterpreter(): (command: Command) => string {
  let inflights: Inflights | undefined
  let progress: Progress | undefined
  let seq = 0
  let now = 0
  const window = (): Inflights => inflights ?? (progress?.inflights as Inflights)
  const follower = (): Progress => {
    if (progress === undefined) throw new Error('no progress yet: start with progress next=…')
    return progress
  }
  return (command) => {
    switch (command.name) {
      case 'inflights':
        inflights = new Inflights(command.int('count'), command.int('bytes'))
        progress = undefined
        seq = 0
        now = 0
        return showInflights(inflights)
      case 'add':
        window().add(command.int('last'), command.int('bytes'), command.int('tick', now), command.int('seq', ++seq))
        return showInflights(window())
      case 'free':
        window().freeTo(command.int('to'))
        return showInflights(window())
      case 'reset':
        window().reset()
        return showInflights(window())
      case 'progress':
        progress = new Progress(command.int('next'), command.int('count', 2), command.int('bytes', 1000))
        inflights = undefined
        seq = 0
        now = 0
        return showProgress(progress)
      case 'probe':
        follower().becomeProbe(command.int('next'))
        return showProgress(follower())
      case 'replicate':
        follower().becomeReplicate()
        return showProgress(follower())
      case 'snapshot':
        follower().becomeSnapshot(command.int('index'))
        return showProgress(follower())
      case 'send': {
        const p = follower()
        const last = command.int('last')
        const perMessage = command.int('entries', 1)
        const entryBytes = command.int('bytes', 100)
        const sent: string[] = []
        while (!p.paused && p.next <= last) {
          const end = Math.min(last, p.next + perMessage - 1)
          seq++
          p.recordSent(seq, now)
          sent.push(`${p.next}..${end} (seq ${seq})`)
          p.sent(end, entryBytes * (end - p.next + 1), now, seq)
        }
        return `${sent.length === 0 ? 'nothing sent' : `sent ${sent.join(', ')}`}\n${showProgress(p)}`
      }
      case 'ack': {
        const rose = follower().acknowledged(command.int('index'), seq)
        return `${rose ? `match rose (match-seq ${follower().matchSeq})` : 'match stays'}\n${showProgress(follower())}`
      }
      case 'heartbeat':
        // An AppendEntries without entries: numbered and timed like any, never in the window.
        follower().recordSent(++seq, now)
        return `heartbeat (seq ${seq})`
      case 'answered':
        follower().answered(command.int('seq'))
        return `acked-seq=${follower().ackedSeq} lease-from=${follower().leaseFrom}`
      case 'tick':
        now = command.int('to')
        return ''
      default:
        throw new Error(`unknown command ${command.name}`)
    }
  }
}

runTranscripts(join(import.meta.dirname, 'testdata', 'progress'), newInterpreter)

describe('Inflights against a plain list', () => {
  // etcd's inflights is a ring buffer checked by hand-built cases; this one compacts an array
  // now and then, so a random workload compares it with the simplest model (seed printed).
  it('counts, bytes, oldest, newest and full agree with a list of what was sent, whatever the order of adds and frees', () => {
    for (let run = 0; run < 10; run++) {
      const seed = 1000 + run
      const random = seededRandom(seed)
      const maxCount = 1 + Math.floor(random() * 100)
      const maxBytes = 1 + Math.floor(random() * 5000)
      const inflights = new Inflights(maxCount, maxBytes)
      let model: { lastIndex: number; bytes: number }[] = []
      let lastIndex = 0
      for (let step = 0; step < 2000; step++) {
        const context = `seed ${seed}, step ${step}`
        if (random() < 0.6 && !inflights.full) {
          lastIndex += 1 + Math.floor(random() * 5)
          const bytes = Math.floor(random() * 200)
          inflights.add(lastIndex, bytes, step, step)
          model.push({ lastIndex, bytes })
        } else if (random() < 0.97) {
          const to = lastIndex - Math.floor(random() * 30)
          inflights.freeTo(to)
          model = model.filter((item) => item.lastIndex > to)
        } else {
          inflights.reset()
          model = []
        }
        const bytes = model.reduce((sum, item) => sum + item.bytes, 0)
        expect(inflights.count, context).toBe(model.length)
        expect(inflights.bytes, context).toBe(bytes)
        expect(inflights.oldest?.lastIndex, context).toBe(model[0]?.lastIndex)
        expect(inflights.newest?.lastIndex, context).toBe(model[model.length - 1]?.lastIndex)
        expect(inflights.full, context).toBe(model.length >= maxCount || (model.length > 0 && bytes >= maxBytes))
      }
    }
  })
})
