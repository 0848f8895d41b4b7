// A linearizability checker. A history is linearizable if its operations can be put in one order
// that respects real time (an operation that returned before another was called comes first) and
// in which a sequential model gives every operation the output it really had.
//
// The search is Wing & Gong's, as improved by Lowe and used by porcupine and Knossos:
// - P-compositionality: the model splits the history into independent parts (one per key for a
//   key-value store) and each is checked alone. Linearizability is compositional (Herlihy & Wing),
//   so the whole is linearizable iff every part is, and a search over k small parts is far cheaper
//   than one over their product.
// - Call and return events sit in one doubly linked list in time order. The search walks it from
//   the head: a call it meets is an operation that may take effect next (try it in the model); a
//   return it meets is an operation that had to take effect already and did not, so the last
//   choice was wrong: backtrack. Trying an operation lifts its two events out of the list, and
//   backtracking puts them back in O(1) (dancing links), as the choices form a stack.
// - Memoization: two orders that linearized the same set of operations and reached the same model
//   state have the same future, so each (set, state) pair is explored once. Without it the search
//   is factorial in the number of concurrent operations; with it, it is close to linear in the
//   length of a history, but still exponential in how many operations of one partition are in
//   flight at once (every subset of them is a set to try), which budgets (below) keep in check.
//
// Operations with an unknown outcome (the client timed out or lost its connection) are handled as
// Knossos and porcupine do: their return is at +infinity and their output is unconstrained, so they
// may take effect at any point after their call. They may also never take effect: a search that
// placed every operation with a known outcome has succeeded, whatever unknown ones are left over
// (leaving one out is the same as placing it after everything else, where nobody can observe it).

import { Bitset } from './bitset.js'

/** One operation of a history, as a client saw it. */
export interface Operation<Input, Output> {
  /** Who issued it: shown in reports only. */
  clientId: number
  input: Input
  /** When it was invoked, on a clock shared by the whole history. */
  call: number
  /** When its output came back; undefined: never, its outcome is unknown. */
  return: number | undefined
  /** What it returned; ignored when the outcome is unknown. */
  output: Output | undefined
  /** Its outcome is unknown even though it has a return time (when the client gave up). */
  unknown?: boolean
}

/**
 * What one operation does to a state. A nondeterministic model lists every state the operation may
 * lead to (`states`, none meaning impossible); the search tries each in turn.
 */
export type StepResult<State> = { ok: false } | { ok: true; state: State } | { ok: true; states: readonly State[] }

/** A sequential specification of the object under test. */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State
  /**
   * Whether `input` can return `output` in `state`, and the state after it. `output` is undefined
   * when the outcome is unknown: any output is then possible (the checker alone decides whether the
   * operation happened at all). Must not modify `state`: the search comes back to it.
   */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>
  /** Whether two states have the same future: the memo table skips a (set, state) pair seen before. */
  equal(a: State, b: State): boolean
  /** A 32-bit integer hash that agrees with `equal`. */
  hash(state: State): number
  /**
   * Splits a history into parts that do not affect each other (one per key), each checked alone.
   * Every operation must land in exactly one part. Default: the whole history is one part.
   */
  partition?(history: readonly Operation<Input, Output>[]): Operation<Input, Output>[][]
  /** One operation and its output in a few words, for counterexamples: `get(x) → "1"`. */
  describe(op: Operation<Input, Output>): string
  /** A state in a few words; default JSON. */
  describeState?(state: State): string
}

export interface CheckOptions {
  /** Wall-clock budget for the whole check (default 10 s): past it the answer is `timedOut`, never a guess. */
  timeoutMs?: number
  /** Budget in search steps for the whole check: unlike time, the same on every machine and run. */
  maxSteps?: number
}

/** A default budget below vitest's test timeout: a pathological history fails its test, not the run. */
export const defaultTimeoutMs = 10_000

export interface CheckResult<State, Input, Output> {
  /** True only if every partition was shown linearizable. */
  ok: boolean
  /** How many independent parts the model split the history into. */
  partitions: number
  /** Distinct (linearized set, state) pairs the search reached, over the partitions it checked. */
  explored: number
  /** Search steps taken (each is one event of the list looked at). */
  steps: number
  /** The budget ran out before an answer: `ok` is false, but nothing was shown illegal. */
  timedOut?: boolean
  /** Set when a partition is not linearizable. */
  counterexample?: Counterexample<State, Input, Output>
}

export interface Counterexample<State, Input, Output> {
  /** Which part of `model.partition`'s result. */
  partition: number
  /** That part's operations, as given. */
  operations: Operation<Input, Output>[]
  /** The longest linearizable prefix the search found, in linearization order. */
  prefix: Operation<Input, Output>[]
  /** The model state after the prefix. */
  state: State
  /** The operation whose return ended the prefix: it had to take effect before then, and could not. */
  blockedBy: Operation<Input, Output>
  /** The operations with a known outcome that could have come next (called before that return), each with why they did not. */
  unplaced: { op: Operation<Input, Output>; reason: string }[]
  /** All of the above as text, for a test failure message. */
  explanation: string
}

/** A history the checker cannot read (a return before its call, a time that is not a number). */
export class HistoryError extends Error {
  readonly code = 'ERR_BAD_HISTORY'
}

/** Lines of prefix an explanation shows: the end of the prefix is where it went wrong. */
const explainedPrefixOps = 20
/** Check the wall clock once per this many steps: performance.now() costs more than a step. */
const stepsPerClockCheck = 1024

export function checkLinearizable<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult<State, Input, Output> {
  history.forEach((op, i) => validate(model, op, i))
  const parts = model.partition?.(history) ?? [history.slice()]
  const partitioned = parts.reduce((sum, part) => sum + part.length, 0)
  if (partitioned !== history.length) {
    throw new HistoryError(`The model's partition returned ${partitioned} operations for a history of ${history.length}: each must land in exactly one part`)
  }
  const budget = new Budget(options)
  let explored = 0
  for (const [index, part] of parts.entries()) {
    const outcome = new PartitionSearch(model, part, budget).run()
    explored += outcome.explored
    if (outcome.kind === 'timedOut') return { ok: false, partitions: parts.length, explored, steps: budget.steps, timedOut: true }
    if (outcome.kind === 'illegal') {
      const counterexample = explain(model, part, index, parts.length, outcome.deepest)
      return { ok: false, partitions: parts.length, explored, steps: budget.steps, counterexample }
    }
  }
  return { ok: true, partitions: parts.length, explored, steps: budget.steps }
}

/** Whether an operation's outcome is unknown: it may take effect at any time after its call, or never. */
export function isUnknown(op: Operation<unknown, unknown>): boolean {
  return op.return === undefined || op.unknown === true
}

function validate<State, Input, Output>(model: Model<State, Input, Output>, op: Operation<Input, Output>, index: number): void {
  const name = (): string => `Operation ${index} (client ${op.clientId}, ${model.describe(op)})`
  if (!Number.isFinite(op.call)) throw new HistoryError(`${name()} has call time ${op.call}, not a finite number`)
  if (op.return === undefined) return
  if (!Number.isFinite(op.return)) throw new HistoryError(`${name()} has return time ${op.return}, not a finite number`)
  if (op.return < op.call) throw new HistoryError(`${name()} returns at ${op.return}, before its call at ${op.call}`)
}

class Budget {
  steps = 0
  private readonly maxSteps: number
  private readonly deadline: number

  constructor(options: CheckOptions) {
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, not ${timeoutMs}`)
    if (options.maxSteps !== undefined && !(options.maxSteps > 0)) throw new RangeError(`maxSteps must be positive, not ${options.maxSteps}`)
    this.maxSteps = options.maxSteps ?? Infinity
    this.deadline = performance.now() + timeoutMs
  }

  /** Counts one step; false once the budget is spent. */
  step(): boolean {
    this.steps++
    if (this.steps > this.maxSteps) return false
    return this.steps % stepsPerClockCheck !== 0 || performance.now() < this.deadline
  }
}

/** Where a failed search got furthest: the explanation is built from it. */
interface Deepest<State> {
  /** Operation indexes, in linearization order. */
  prefix: number[]
  /** The state after each of them. */
  states: State[]
  /** How many of them have a known outcome: what "furthest" counts. */
  known: number
  /** The operation whose return event stopped the search there. */
  blockedBy: number
}

type SearchOutcome<State> =
  | { kind: 'ok'; explored: number }
  | { kind: 'illegal'; explored: number; deepest: Deepest<State> }
  | { kind: 'timedOut'; explored: number }

/** One choice on the search stack: an operation taken, the state before it, and the states it may lead to. */
interface Frame<State> {
  op: number
  before: State
  /** Every fresh state the step may lead to; `tried` of them were taken so far. */
  alternatives: State[]
  tried: number
}

/** No node: the end of the event list. */
const end = -1
/** Node 0 is a sentinel before the first event, so that removing the first event needs no special case. */
const head = 0

class PartitionSearch<State, Input, Output> {
  /** Event nodes 1..events in time order; next/prev link the ones not lifted out. */
  private readonly next: Int32Array
  private readonly prev: Int32Array
  private readonly nodeOp: Int32Array
  private readonly nodeIsCall: Uint8Array
  private readonly callNode: Int32Array
  /** `end` for an operation with an unknown outcome: it has no return event, nothing forces it in. */
  private readonly returnNode: Int32Array
  private readonly opUnknown: Uint8Array
  private readonly unknownOps: number
  private readonly memo: Memo<State>

  constructor(
    private readonly model: Model<State, Input, Output>,
    private readonly ops: readonly Operation<Input, Output>[],
    private readonly budget: Budget,
  ) {
    const events = sortedEvents(ops)
    const nodes = events.length + 1
    this.next = new Int32Array(nodes)
    this.prev = new Int32Array(nodes)
    this.nodeOp = new Int32Array(nodes).fill(-1)
    this.nodeIsCall = new Uint8Array(nodes)
    this.callNode = new Int32Array(ops.length)
    this.returnNode = new Int32Array(ops.length).fill(end)
    for (let node = 0; node < nodes; node++) {
      this.prev[node] = node - 1
      this.next[node] = node + 1 < nodes ? node + 1 : end
    }
    events.forEach((event, i) => {
      const node = i + 1
      this.nodeOp[node] = event.op
      this.nodeIsCall[node] = event.isCall ? 1 : 0
      if (event.isCall) this.callNode[event.op] = node
      else this.returnNode[event.op] = node
    })
    this.opUnknown = Uint8Array.from(ops, (op) => (isUnknown(op) ? 1 : 0))
    this.unknownOps = this.opUnknown.reduce((sum, unknown) => sum + unknown, 0)
    this.memo = new Memo(model)
  }

  run(): SearchOutcome<State> {
    const linearized = { known: new Bitset(this.ops.length), unknown: new Bitset(this.ops.length) }
    const frames: Frame<State>[] = []
    let state = this.model.init()
    let knownLeft = this.ops.length - this.unknownOps
    let deepest: Deepest<State> | undefined
    let node = this.next[head] as number
    while (knownLeft > 0) {
      if (!this.budget.step()) return { kind: 'timedOut', explored: this.memo.size }
      // A known operation's return event stays in the list until it is linearized, so the walk
      // meets one before it can run off the end.
      if (node === end) throw new Error('Linearizability search ran off the end of its event list with known operations left')
      const op = this.nodeOp[node] as number
      const unknown = this.opUnknown[op] === 1
      if (this.nodeIsCall[node] === 1) {
        const set = unknown ? linearized.unknown : linearized.known
        set.set(op)
        const fresh = this.freshStates(state, op, linearized)
        if (fresh.length === 0) {
          set.clear(op)
          node = this.next[node] as number
          continue
        }
        frames.push({ op, before: state, alternatives: fresh, tried: 1 })
        state = fresh[0] as State
        this.lift(op)
        if (!unknown) knownLeft--
        node = this.next[head] as number
        continue
      }
      // A return event: this operation had to take effect by now and did not. Keep the deepest
      // such dead end for the counterexample, then undo the last choice (or try its next state).
      const known = this.ops.length - this.unknownOps - knownLeft
      if (deepest === undefined || known > deepest.known || (known === deepest.known && frames.length < deepest.prefix.length)) {
        // Counted in known operations, fewest unknown ones first: those only pad a prefix.
        const states = frames.map((_, i) => frames[i + 1]?.before ?? state)
        deepest = { prefix: frames.map((f) => f.op), states, known, blockedBy: op }
      }
      const top = frames.at(-1)
      if (top === undefined) return { kind: 'illegal', explored: this.memo.size, deepest }
      if (top.tried < top.alternatives.length) {
        state = top.alternatives[top.tried++] as State
        node = this.next[head] as number
        continue
      }
      frames.pop()
      state = top.before
      this.unlift(top.op)
      if (this.opUnknown[top.op] === 1) linearized.unknown.clear(top.op)
      else {
        linearized.known.clear(top.op)
        knownLeft++
      }
      node = this.next[this.callNode[top.op] as number] as number
    }
    return { kind: 'ok', explored: this.memo.size }
  }

  /** The states `op` may lead to from `state` that no other order has reached (or bettered) with the same operations linearized. */
  private freshStates(state: State, op: number, linearized: Linearized): State[] {
    const operation = this.ops[op] as Operation<Input, Output>
    const result = this.model.step(state, operation.input, isUnknown(operation) ? undefined : operation.output)
    if (!result.ok) return []
    const next = 'states' in result ? result.states : [result.state]
    return next.filter((s) => this.memo.add(linearized.known, linearized.unknown, s))
  }

  private lift(op: number): void {
    this.unlink(this.callNode[op] as number)
    const ret = this.returnNode[op] as number
    if (ret !== end) this.unlink(ret)
  }

  /** Exactly the reverse of lift: the links of a lifted node still point at its old neighbours. */
  private unlift(op: number): void {
    const ret = this.returnNode[op] as number
    if (ret !== end) this.relink(ret)
    this.relink(this.callNode[op] as number)
  }

  private unlink(node: number): void {
    const before = this.prev[node] as number
    const after = this.next[node] as number
    this.next[before] = after
    if (after !== end) this.prev[after] = before
  }

  private relink(node: number): void {
    const before = this.prev[node] as number
    const after = this.next[node] as number
    this.next[before] = node
    if (after !== end) this.prev[after] = node
  }
}

interface Event {
  time: number
  op: number
  isCall: boolean
}

/**
 * Calls and known returns in time order. At equal times calls come first: the two operations then
 * overlap, the cautious reading when a clock cannot tell which came first (a return and a call at
 * the same virtual tick), as it never reports a violation that rests on an order nobody saw.
 */
function sortedEvents(ops: readonly Operation<unknown, unknown>[]): Event[] {
  const events: Event[] = []
  ops.forEach((operation, op) => {
    events.push({ time: operation.call, op, isCall: true })
    if (!isUnknown(operation)) events.push({ time: operation.return as number, op, isCall: false })
  })
  return events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op)
}

/** Operations taken so far, by whether their outcome is known: the memo treats the two apart. */
interface Linearized {
  known: Bitset
  unknown: Bitset
}

/**
 * The (linearized operations, state) pairs reached so far, bucketed by a hash of the known
 * operations and the state. Besides the usual exact match, a pair is skipped if one reached before
 * has the same known operations and state and a subset of its unknown ones: having applied fewer
 * operations that may never happen leaves every future of this pair open (apply them later, or
 * never), so if that one failed, so does this. It matters: each unknown operation can otherwise go
 * in or stay out at every point, and a failing search must rule out every such combination.
 */
class Memo<State> {
  private readonly buckets = new Map<number, { known: Bitset; unknown: Bitset; state: State }[]>()
  size = 0

  constructor(private readonly model: Model<State, unknown, unknown>) {}

  /** Records the pair; false if it, or one that subsumes it, was already there. */
  add(known: Bitset, unknown: Bitset, state: State): boolean {
    // Spread the state's hash before mixing: models often hash small states to small integers.
    const key = (known.hash ^ Math.imul(this.model.hash(state) | 0, 0x9e3779b1)) >>> 0
    const bucket = this.buckets.get(key)
    const subsumed = bucket?.some((seen) => seen.known.equals(known) && seen.unknown.isSubsetOf(unknown) && this.model.equal(seen.state, state))
    if (subsumed === true) return false
    const entry = { known: known.clone(), unknown: unknown.clone(), state }
    if (bucket === undefined) this.buckets.set(key, [entry])
    else bucket.push(entry)
    this.size++
    return true
  }
}

function explain<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: Operation<Input, Output>[],
  partition: number,
  partitions: number,
  deepest: Deepest<State>,
): Counterexample<State, Input, Output> {
  const describeState = model.describeState ?? ((state: State) => JSON.stringify(state))
  const line = (op: Operation<Input, Output>): string =>
    `${model.describe(op)}   (client ${op.clientId}, ${op.call}..${isUnknown(op) ? '?' : op.return})`
  const blockedBy = ops[deepest.blockedBy] as Operation<Input, Output>
  const prefix = deepest.prefix.map((i) => ops[i] as Operation<Input, Output>)
  const state = deepest.states.at(-1) ?? model.init()
  // The candidates for the next place: not yet linearized, and called before the blocking return
  // (so before it in the event list too, where calls sort first at equal times). Unknown ones are
  // left out: none has to take effect, so none is why the search failed.
  const placed = new Set(deepest.prefix)
  const deadline = blockedBy.return as number
  const candidates = ops.filter((op, i) => !placed.has(i) && op.call <= deadline)
  const unplaced = candidates
    .filter((op) => !isUnknown(op))
    .map((op) => {
      const result = model.step(state, op.input, op.output)
      const possible = result.ok && (!('states' in result) || result.states.length > 0)
      const reason = possible ? 'possible here, but no linearization goes on from it' : `impossible in state ${describeState(state)}`
      return { op, reason }
    })
  const unknownCandidates = candidates.length - unplaced.length
  const hidden = prefix.length - Math.min(prefix.length, explainedPrefixOps)
  const text = [
    `Partition ${partition + 1} of ${partitions} (${ops.length} operations) is not linearizable.`,
    `Longest linearizable prefix: ${prefix.length} of ${ops.length} operations${hidden > 0 ? `, the last ${prefix.length - hidden} shown` : ''}, each with the state after it:`,
    ...prefix.slice(hidden).map((op, i) => `  ${hidden + i + 1}. ${line(op)}  ⇒ ${describeState(deepest.states[hidden + i] as State)}`),
    `${line(blockedBy)} had to take effect by its return, but nothing could come next:`,
    ...unplaced.map(({ op, reason }) => `  ${line(op)}: ${reason}`),
    ...(unknownCandidates > 0 ? [`  (and ${unknownCandidates} with an unknown outcome, which need not take effect)`] : []),
  ]
  return { partition, operations: ops, prefix, state, blockedBy, unplaced, explanation: text.join('\n') }
}
