// The key-value store's sequential specification for the linearizability checker: get, put,
// delete and compare-and-set on string keys, with the results src/kv/kv-state-machine.ts gives.
// Keys are independent objects, so the model partitions a history per key and its state is the
// value of one key.

import { isUnknown, type Model, type Operation } from './checker.js'

/** Shaped like KvCommand in src/kv/kv-state-machine.ts, so a client's commands can be recorded as they are. */
export type KvInput =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: string }
  | { op: 'delete'; key: string }
  /** Sets `value` if the key holds `expected` (null: if the key is absent). */
  | { op: 'cas'; key: string; expected: string | null; value: string }

/**
 * What the client saw, shaped like KvResult so a reply can be recorded as it is. A field left out
 * is not checked (a client that only learned that its put succeeded records `{}`).
 * - get: `value` is the value read, null if absent; `ok` is true.
 * - put: `value` is the value before; `ok` is true.
 * - delete: `ok` is whether the key existed; `value` is the value before.
 * - cas: `ok` is whether it was applied; `value` is the value it saw (the one before).
 */
export interface KvOutput {
  ok?: boolean
  value?: string | null
}

/** A value the store answered (bytes) as the model's text; null and undefined stay. */
export function textValue(value: Uint8Array | null): string | null
export function textValue(value: Uint8Array | null | undefined): string | null | undefined
export function textValue(value: Uint8Array | null | undefined): string | null | undefined {
  return value instanceof Uint8Array ? Buffer.from(value).toString() : value
}

/** The value of one key; null: absent. */
export type KvState = string | null

export type KvOperation = Operation<KvInput, KvOutput>

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,

  step(state, input, output) {
    const after = nextValue(state, input)
    if (output === undefined) return { ok: true, state: after }
    // KvStateMachine's ok: whether a delete found the key, whether a cas applied; true otherwise.
    const ok = input.op === 'delete' ? state !== null : input.op === 'cas' ? state === input.expected : true
    if (output.ok !== undefined && output.ok !== ok) return { ok: false }
    if (output.value !== undefined && output.value !== state) return { ok: false }
    return { ok: true, state: after }
  },

  equal: (a, b) => a === b,

  hash(state) {
    if (state === null) return 0x2545f491
    // FNV-1a over UTF-16 code units.
    let h = 0x811c9dc5
    for (let i = 0; i < state.length; i++) h = Math.imul(h ^ state.charCodeAt(i), 0x01000193)
    return h >>> 0
  },

  partition(history) {
    const byKey = new Map<string, KvOperation[]>()
    for (const op of history) {
      const ops = byKey.get(op.input.key)
      if (ops === undefined) byKey.set(op.input.key, [op])
      else ops.push(op)
    }
    return [...byKey.values()]
  },

  describe(op) {
    return `${describeInput(op.input)} → ${isUnknown(op) || op.output === undefined ? '?' : describeOutput(op.input, op.output)}`
  },

  describeState: (state) => (state === null ? 'absent' : JSON.stringify(state)),
}

function nextValue(state: KvState, input: KvInput): KvState {
  switch (input.op) {
    case 'get':
      return state
    case 'put':
      return input.value
    case 'delete':
      return null
    case 'cas':
      return state === input.expected ? input.value : state
  }
}

function describeInput(input: KvInput): string {
  const key = input.key
  switch (input.op) {
    case 'get':
    case 'delete':
      return `${input.op}(${key})`
    case 'put':
      return `put(${key}, ${JSON.stringify(input.value)})`
    case 'cas':
      return `cas(${key}, ${input.expected === null ? 'absent' : JSON.stringify(input.expected)} → ${JSON.stringify(input.value)})`
  }
}

function describeOutput(input: KvInput, output: KvOutput): string {
  const before = output.value === undefined ? '' : ` (was ${output.value === null ? 'absent' : JSON.stringify(output.value)})`
  switch (input.op) {
    case 'get':
      return output.value === undefined ? '?' : output.value === null ? 'absent' : JSON.stringify(output.value)
    case 'put':
      return `ok${before}`
    case 'delete':
      return `${output.ok === undefined ? '?' : output.ok ? 'deleted' : 'not found'}${before}`
    case 'cas':
      return `${output.ok === undefined ? '?' : output.ok ? 'ok' : 'failed'}${before}`
  }
}

/** Shorthands for writing histories by hand. */
export const kv = {
  get: (key: string): KvInput => ({ op: 'get', key }),
  put: (key: string, value: string): KvInput => ({ op: 'put', key, value }),
  delete: (key: string): KvInput => ({ op: 'delete', key }),
  cas: (key: string, expected: string | null, value: string): KvInput => ({ op: 'cas', key, expected, value }),
}
