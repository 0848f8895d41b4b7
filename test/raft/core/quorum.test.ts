// Quorum math (etcd's quorum package; Raft paper §5.3, dissertation §4.3) as transcripts in
// testdata/quorum/*.txt. A configuration is `voters=(…)`, with `outgoing=(…)` for C_old of a joint
// one and `learners=(…)`. Per-member values (idx, votes, heard) go to the members in ascending id
// order; `_` is a member the leader knows nothing of (match 0, no vote, not heard).
//
//   committed voters=… [outgoing=…] [learners=…] idx=(…)    the index a quorum holds (∞: any)
//   vote      voters=… [outgoing=…] [learners=…] votes=(y|n|_ …)    won, lost or pending
//   heard     voters=… [outgoing=…] [learners=…] heard=(y|_ …)      quorum or no quorum
//
// Like etcd's harness, each case also checks what must not change the answer: swapping the halves
// of a joint configuration, a majority joint with itself, the learners' values. A line saying so
// is added to the output when one does.
import { join } from 'node:path'
import { hasQuorum, quorumIndex, voteResult } from '../../../src/raft/core/quorum.js'
import type { Configuration } from '../../../src/raft/core/configuration.js'
import { runTranscripts, type Command } from './transcript.js'

function configurationOf(command: Command): Configuration {
  return { voters: command.ints('voters'), outgoing: command.ints('outgoing'), learners: command.ints('learners'), addresses: {} }
}

/** Each member's value of the list `key`, members taken in ascending id order. */
function valuesByMember(command: Command, config: Configuration, key: string): Map<number, string> {
  const ids = [...new Set([...config.voters, ...config.outgoing, ...config.learners])].sort((a, b) => a - b)
  const values = command.list(key)
  if (values.length !== ids.length) throw new Error(`${key}= has ${values.length} values for ${ids.length} members (${ids.join(', ')})`)
  return new Map(ids.map((id, i) => [id, values[i] as string]))
}

const swapped = (config: Configuration): Configuration => ({ ...config, voters: config.outgoing, outgoing: config.voters })
const withItself = (config: Configuration): Configuration => ({ ...config, outgoing: config.voters })
const show = (index: number): string => (index === Number.POSITIVE_INFINITY ? '∞' : String(index))

function committed(command: Command): string {
  const config = configurationOf(command)
  const values = valuesByMember(command, config, 'idx')
  const indexOf = (id: number): number => (values.get(id) === '_' ? 0 : Number(values.get(id)))
  const result = quorumIndex(config, indexOf)
  const lines = [show(result)]
  const other = config.outgoing.length > 0 ? quorumIndex(swapped(config), indexOf) : quorumIndex(withItself(config), indexOf)
  if (other !== result) lines.push(`${config.outgoing.length > 0 ? 'halves swapped' : 'joint with itself'}: ${show(other)}`)
  const learnersAhead = quorumIndex(config, (id) => (config.learners.includes(id) ? Number.MAX_SAFE_INTEGER : indexOf(id)))
  if (learnersAhead !== result) lines.push(`learners counted: ${show(learnersAhead)}`)
  return lines.join('\n')
}

function vote(command: Command): string {
  const config = configurationOf(command)
  const votes = new Map<number, boolean>()
  for (const [id, value] of valuesByMember(command, config, 'votes')) if (value !== '_') votes.set(id, value === 'y')
  const result = voteResult(config, votes)
  const lines: string[] = [result]
  const other = voteResult(config.outgoing.length > 0 ? swapped(config) : withItself(config), votes)
  if (other !== result) lines.push(`${config.outgoing.length > 0 ? 'halves swapped' : 'joint with itself'}: ${other}`)
  return lines.join('\n')
}

function heard(command: Command): string {
  const config = configurationOf(command)
  const values = valuesByMember(command, config, 'heard')
  const result = hasQuorum(config, (id) => values.get(id) === 'y')
  const lines = [result ? 'quorum' : 'no quorum']
  if (hasQuorum(config, (id) => config.learners.includes(id) || values.get(id) === 'y') !== result) lines.push('learners counted')
  return lines.join('\n')
}

runTranscripts(join(import.meta.dirname, 'testdata', 'quorum'), () => (command) => {
  switch (command.name) {
    case 'committed':
      return committed(command)
    case 'vote':
      return vote(command)
    case 'heard':
      return heard(command)
    default:
      throw new Error(`unknown command ${command.name}`)
  }
})
