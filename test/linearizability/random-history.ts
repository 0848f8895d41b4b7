// Random key-value histories for the checker's own tests, and a brute-force oracle to judge small
// ones: a checker can only be trusted against an answer found another way.

import { isUnknown } from './checker.js'
import { HistoryRecorder } from './history.js'
import { textValue, type KvInput, type KvOperation, type KvOutput } from './kv-model.js'
import { EntryType } from '../../src/storage/log-entry.js'
import { decodeKvResult, encodeKvCommand, KvStateMachine } from '../../src/kv/kv-state-machine.js'

export interface ExecutionShape {
  clients: number
  keys: number
  /** Values are drawn from this many: few values make reads ambiguous, and the search harder. */
  values: number
  ops: number
  /** Chance, each time a busy client is looked at, that it gives up on its operation (an unknown outcome). */
  giveUpChance: number
}

/**
 * A history of a real sequential execution: clients take turns at random to invoke an operation,
 * have it take effect in the project's KvStateMachine (its linearization point), and hear its
 * result, so intervals overlap at random. A client that gives up before its operation took effect
 * leaves it in limbo, where it may take effect much later or never. Linearizable by construction.
 */
export function executeRandomly(random: () => number, shape: ExecutionShape): KvOperation[] {
  const machine = new KvStateMachine()
  let index = 0
  const apply = (input: KvInput): KvOutput => {
    const result = decodeKvResult(machine.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(input) }) as Uint8Array)
    return { ok: result.ok, ...(result.value === undefined ? {} : { value: textValue(result.value) }) }
  }
  const recorder = new HistoryRecorder<KvInput, KvOutput>()
  const busy = new Map<number, { handle: number; input: KvInput; output?: KvOutput }>()
  const limbo: KvInput[] = []
  let invoked = 0
  while (invoked < shape.ops || busy.size > 0) {
    if (limbo.length > 0 && random() < 0.05) {
      apply(limbo.splice(Math.floor(random() * limbo.length), 1)[0] as KvInput)
      continue
    }
    const client = Math.floor(random() * shape.clients)
    const pending = busy.get(client)
    if (pending === undefined) {
      if (invoked < shape.ops) {
        const input = randomInput(random, shape)
        busy.set(client, { handle: recorder.invoke(client, input), input })
        invoked++
      }
    } else if (random() < shape.giveUpChance) {
      recorder.unknown(pending.handle)
      if (pending.output === undefined) limbo.push(pending.input)
      busy.delete(client)
    } else if (pending.output === undefined) {
      pending.output = apply(pending.input)
    } else {
      recorder.ok(pending.handle, forgetSome(random, pending.input, pending.output))
      busy.delete(client)
    }
  }
  return recorder.history()
}

/** Small histories with random intervals and random outputs: many are not linearizable. */
export function randomSmallHistory(random: () => number, ops: number, keys: number, values: number): KvOperation[] {
  const shape = { clients: ops, keys, values, ops, giveUpChance: 0 }
  return Array.from({ length: ops }, (_, clientId) => {
    const call = Math.floor(random() * 12)
    const unknown = random() < 0.15
    const input = randomInput(random, shape)
    // Writes often report only part of what they saw, which leaves more of these linearizable.
    const output: KvOutput = input.op === 'get' ? { ok: true, value: randomValue(random, values) } : {}
    if ((input.op === 'delete' || input.op === 'cas') && random() < 0.7) output.ok = random() < 0.5
    if (input.op !== 'get' && random() < 0.3) output.value = randomValue(random, values)
    return { clientId, input, call, return: unknown ? undefined : call + Math.floor(random() * 6), output: unknown ? undefined : output }
  })
}

/** The same history with one known operation's output changed to another the client could have seen. */
export function mutateOneOutput(random: () => number, history: KvOperation[], values: number): KvOperation[] {
  const known = history.flatMap((op, i) => (isUnknown(op) ? [] : [i]))
  if (known.length === 0) return history
  const target = known[Math.floor(random() * known.length)] as number
  return history.map((op, i) => {
    if (i !== target) return op
    const output = { ...op.output }
    if (op.input.op === 'delete' || op.input.op === 'cas') output.ok = !(output.ok ?? false)
    else {
      const other = [null, ...Array.from({ length: values }, (_, v) => String(v))].filter((v) => v !== output.value)
      output.value = other[Math.floor(random() * other.length)] as string | null
    }
    return { ...op, output }
  })
}

/**
 * Tries every order of the operations against a plain Map (one that starts with an operation that
 * nothing still to place had to precede), allowing unknown ones to be left out. No memo, no linked
 * list, no partitioning and no model: exponential, so only for a handful of operations.
 */
export function bruteForceLinearizable(history: KvOperation[]): boolean {
  const placed = history.map(() => false)
  const search = (store: Map<string, string>, knownLeft: number): boolean => {
    if (knownLeft === 0) return true
    return history.some((x, i) => {
      if (placed[i]) return false
      const mustComeFirst = history.some((y, j) => !placed[j] && !isUnknown(y) && (y.return as number) < x.call)
      if (mustComeFirst) return false
      const after = new Map(store)
      const real = runOn(after, x.input)
      const seen = x.output
      if (!isUnknown(x) && seen !== undefined && ((seen.ok !== undefined && seen.ok !== real.ok) || (seen.value !== undefined && seen.value !== real.value))) return false
      placed[i] = true
      const found = search(after, knownLeft - (isUnknown(x) ? 0 : 1))
      placed[i] = false
      return found
    })
  }
  return search(new Map(), history.filter((op) => !isUnknown(op)).length)
}

function runOn(store: Map<string, string>, input: KvInput): { ok: boolean; value: string | null } {
  const before = store.get(input.key) ?? null
  if (input.op === 'get') return { ok: true, value: before }
  if (input.op === 'put') store.set(input.key, input.value)
  if (input.op === 'delete') store.delete(input.key)
  if (input.op === 'cas' && before === input.expected) store.set(input.key, input.value)
  const ok = input.op === 'delete' ? before !== null : input.op === 'cas' ? before === input.expected : true
  return { ok, value: before }
}

function randomInput(random: () => number, shape: { keys: number; values: number }): KvInput {
  const key = `k${Math.floor(random() * shape.keys)}`
  const value = String(Math.floor(random() * shape.values))
  const dice = random()
  if (dice < 0.35) return { op: 'get', key }
  if (dice < 0.65) return { op: 'put', key, value }
  if (dice < 0.75) return { op: 'delete', key }
  return { op: 'cas', key, expected: randomValue(random, shape.values), value }
}

function randomValue(random: () => number, values: number): string | null {
  return random() < 0.25 ? null : String(Math.floor(random() * values))
}

/** Clients of a write often learn only whether it succeeded: drop the value before, half the time. */
function forgetSome(random: () => number, input: KvInput, output: KvOutput): KvOutput {
  return input.op !== 'get' && random() < 0.5 ? { ok: output.ok } : output
}
