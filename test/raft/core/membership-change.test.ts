// Membership changes (Raft dissertation chapter 4, etcd's confchange) as transcripts in
// testdata/membership-change/*.txt: the request checked against the configuration in force, then
// the two steps of joint consensus, C_old,new and C_new.
//
//   config voters=(…) [learners=(…)] [promote=(…)] [removed=(…)] [token]
//                      the configuration in force; member n listens at hn
//   change [add-voters=(…)] [add-learners=(…)] [promote=(…)] [remove=(…)] [demote=(…)] [update=(…)]
//                      the target it leads to, or the refusal; a new member is n (at hn),
//                      n@addr (at addr), n@ (no address: no network) or n@? (none given at all);
//                      update=(n@addr) moves member n to addr
//   enter-joint        C_old,new from the configuration in force and the last target
//   leave-joint        C_new from the joint configuration in force
//   members            the members of the configuration in force
//
// Every configuration printed is also encoded and decoded: a line says so if its bytes change it.
import { join } from 'node:path'
import { RaftLogError } from '../../../src/errors.js'
import { decodeConfiguration, encodeConfiguration, membersOf, removedOf, type Configuration, type Member } from '../../../src/raft/core/configuration.js'
import { enterJoint, leaveJoint, targetConfiguration, type MembershipChange } from '../../../src/raft/core/membership-change.js'
import { runTranscripts, type Command } from './transcript.js'

const token = '0123456789abcdef0123456789abcdef'

function show(config: Configuration): string {
  const list = (name: string, ids: readonly number[] | undefined, always = false): string => (always || (ids ?? []).length > 0 ? ` ${name}=(${(ids ?? []).join(',')})` : '')
  const addresses = Object.entries(config.addresses).map(([id, address]) => `${id}@${address}`)
  const shown = `${list('voters', config.voters, true).trim()}${list('outgoing', config.outgoing)}${list('learners', config.learners)}${list('promote', config.promoteWhenCaughtUp)}${list('removed', config.removed)} addresses=(${addresses.join(',')})${config.clusterToken === undefined ? '' : ' token'}`
  // What a Config entry carries must survive its bytes: every node decodes the same members.
  const decoded = decodeConfiguration(encodeConfiguration(config))
  const same = JSON.stringify([decoded.voters, decoded.outgoing, decoded.learners, removedOf(decoded), decoded.promoteWhenCaughtUp ?? [], decoded.clusterToken]) === JSON.stringify([config.voters, config.outgoing, config.learners, removedOf(config), config.promoteWhenCaughtUp ?? [], config.clusterToken])
  return same ? shown : `${shown}\nchanged by encoding: ${JSON.stringify(decoded)}`
}

/** `n`, `n@addr`, `n@` or `n@?` as a new member. */
function memberOf(spec: string): Member {
  const [id, address] = spec.split('@') as [string, string | undefined]
  return { id: Number(id), address: address === undefined ? `h${id}` : address === '?' ? (undefined as unknown as string) : address }
}

function newInterpreter(): (command: Command) => string {
  let current: Configuration | undefined
  let target: Configuration | undefined
  const inForce = (): Configuration => {
    if (current === undefined) throw new Error('no configuration yet: start with config voters=(…)')
    return current
  }
  return (command) => {
    switch (command.name) {
      case 'config': {
        const voters = command.ints('voters')
        const learners = command.ints('learners')
        const addresses: Record<number, string> = {}
        for (const id of [...voters, ...learners]) addresses[id] = `h${id}`
        const removed = command.ints('removed')
        const promote = command.ints('promote')
        current = { voters, outgoing: [], learners, addresses, ...(removed.length > 0 ? { removed } : {}), ...(promote.length > 0 ? { promoteWhenCaughtUp: promote } : {}), ...(command.has('token') ? { clusterToken: token } : {}) }
        target = undefined
        return show(current)
      }
      case 'change': {
        const ids = (key: string): number[] | undefined => (command.has(key) ? command.list(key).map(Number) : undefined)
        const change: MembershipChange = {
          ...(command.has('add-voters') ? { addVoters: command.list('add-voters').map(memberOf) } : {}),
          ...(command.has('add-learners') ? { addLearners: command.list('add-learners').map(memberOf) } : {}),
          ...(command.has('promote') ? { promote: ids('promote') } : {}),
          ...(command.has('remove') ? { remove: ids('remove') } : {}),
          ...(command.has('demote') ? { demote: ids('demote') } : {}),
          ...(command.has('update') ? { updateAddresses: command.list('update').map(memberOf) } : {}),
        }
        try {
          target = targetConfiguration(inForce(), change)
          return show(target)
        } catch (error) {
          if (!(error instanceof RaftLogError)) throw error
          const details = Object.entries(error.details).map(([key, value]) => `${key}=${String(value)}`)
          return `${error.code}: ${error.message}${details.length > 0 ? `\ndetails: ${details.join(' ')}` : ''}`
        }
      }
      case 'enter-joint':
        if (target === undefined) throw new Error('no target: change first')
        current = enterJoint(inForce(), target)
        return show(current)
      case 'leave-joint':
        current = leaveJoint(inForce())
        return show(current)
      case 'members':
        return membersOf(inForce()).join(',')
      default:
        throw new Error(`unknown command ${command.name}`)
    }
  }
}

runTranscripts(join(import.meta.dirname, 'testdata', 'membership-change'), newInterpreter)
