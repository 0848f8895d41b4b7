// Data-driven transcripts, after etcd's raft testdata/*.txt: a file of cases, each some command
// lines, a `----` line and the output expected, up to a blank line. A module's test gives an
// interpreter that runs one command and says what it saw; the runner compares, case by case,
// and a mismatch fails with the case's file and line and a line-by-line diff.
//
//   # A comment names the rule the next case checks: its first sentence is the test's title.
//   committed voters=(1,2,3) idx=(100,101,99)
//   ----
//   100
//
// Arguments are `key=value`, `key=(a,b,c)` or a bare `key`. An interpreter keeps its state from
// one case to the next within a file (a new one is made per file), as etcd's do.
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, it } from 'vitest'

/** One command line of a case, with its arguments. */
export class Command {
  constructor(
    readonly name: string,
    private readonly args: ReadonlyMap<string, string[]>,
    /** The line's text, as written. */
    readonly text: string,
    /** Its line number in the file (from 1). */
    readonly line: number,
  ) {}

  has(key: string): boolean {
    return this.args.has(key)
  }

  /** A list argument's items as written (`_` included); [] when absent. */
  list(key: string): string[] {
    return this.args.get(key) ?? []
  }

  /** A list argument of numbers; [] when absent. */
  ints(key: string): number[] {
    return this.list(key).map((item) => this.toInt(key, item))
  }

  /** A whole-number argument; `fallback` when absent (required when there is none). */
  int(key: string, fallback?: number): number {
    const values = this.args.get(key)
    if (values === undefined) {
      if (fallback === undefined) throw new Error(`line ${this.line}: ${this.name} needs ${key}=`)
      return fallback
    }
    if (values.length !== 1) throw new Error(`line ${this.line}: ${key}= takes one number`)
    return this.toInt(key, values[0] as string)
  }

  private toInt(key: string, text: string): number {
    const value = Number(text)
    if (!Number.isSafeInteger(value)) throw new Error(`line ${this.line}: ${key}= wants whole numbers, got ${text}`)
    return value
  }
}

/** Parses a command line: a name, then `key=value`, `key=(a,b)` or bare `key` arguments. */
export function parseCommand(text: string, line: number): Command {
  const words = text.trim().match(/[^\s=]+(=(\([^)]*\)|\S+))?/g) ?? []
  const [name, ...rest] = words
  if (name === undefined) throw new Error(`line ${line}: empty command`)
  const args = new Map<string, string[]>()
  for (const word of rest) {
    const equals = word.indexOf('=')
    if (equals === -1) {
      args.set(word, [])
      continue
    }
    const value = word.slice(equals + 1)
    const items = value.startsWith('(') ? value.slice(1, -1).split(',').map((item) => item.trim()).filter((item) => item !== '') : [value]
    args.set(word.slice(0, equals), items)
  }
  return new Command(name, args, text.trim(), line)
}

/** One case: its commands, the output expected, and the title its comment gives it. */
export interface TranscriptCase {
  /** Line of its first command. */
  line: number
  title: string
  commands: Command[]
  expected: string[]
}

/** The cases of a transcript's text. */
export function parseTranscript(text: string): TranscriptCase[] {
  const lines = text.split('\n').map((line) => line.trimEnd())
  const cases: TranscriptCase[] = []
  let comment: string | undefined
  let i = 0
  while (i < lines.length) {
    const line = lines[i] as string
    if (line === '') {
      i++
      continue
    }
    if (line.startsWith('#')) {
      // The first sentence of a comment block names the case right after it.
      const text = line.replace(/^#+\s*/, '')
      comment = (lines[i - 1] ?? '').startsWith('#') && comment !== undefined ? `${comment} ${text}` : text
      i++
      continue
    }
    const first = i + 1
    const commands: Command[] = []
    while (i < lines.length && lines[i] !== '----') {
      if ((lines[i] as string) === '') throw new Error(`line ${first}: a case's commands end with a ---- line, not a blank one`)
      commands.push(parseCommand(lines[i] as string, i + 1))
      i++
    }
    if (i === lines.length) throw new Error(`line ${first}: the case has no ---- line`)
    i++
    const expected: string[] = []
    while (i < lines.length && lines[i] !== '') expected.push(lines[i++] as string)
    const title = comment === undefined ? (commands[0] as Command).text : (/^.*?\.(?=\s|$)/.exec(comment)?.[0] ?? comment)
    cases.push({ line: first, title, commands, expected })
    comment = undefined
  }
  return cases
}

/** Runs one command; returns what it printed ('' for nothing). */
export type Interpreter = (command: Command) => string

/** What a case printed: each command's output, in order. */
export function runCase(interpret: Interpreter, testCase: TranscriptCase): string[] {
  return testCase.commands.flatMap((command) => {
    const output = interpret(command)
    return output === '' ? [] : output.split('\n').map((line) => line.trimEnd())
  })
}

/** A readable diff of a case's output, naming its file and line; undefined when they agree. */
export function describeMismatch(file: string, testCase: TranscriptCase, actual: readonly string[]): string | undefined {
  const expected = testCase.expected
  if (expected.length === actual.length && expected.every((line, i) => line === actual[i])) return undefined
  const diff: string[] = []
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    const want = expected[i]
    const got = actual[i]
    if (want === got) diff.push(`    ${want}`)
    else {
      if (want !== undefined) diff.push(`  - ${want}`)
      if (got !== undefined) diff.push(`  + ${got}`)
    }
  }
  const commands = testCase.commands.map((command) => `  ${command.text}`).join('\n')
  return `${file}:${testCase.line}: output differs (- expected, + got)\n${commands}\n  ----\n${diff.join('\n')}`
}

/**
 * Registers a test per case of every .txt file in `dir` (a describe per file), each file run
 * through a fresh interpreter, its cases in order.
 */
export function runTranscripts(dir: string, newInterpreter: () => Interpreter): void {
  const files = readdirSync(dir).filter((name) => name.endsWith('.txt')).sort()
  if (files.length === 0) throw new Error(`No transcripts in ${dir}`)
  for (const name of files) {
    const path = join(dir, name)
    const file = relative(process.cwd(), path)
    const cases = parseTranscript(readFileSync(path, 'utf8'))
    describe(name, () => {
      const interpret = newInterpreter()
      for (const testCase of cases) {
        it(`${testCase.title} (line ${testCase.line})`, () => {
          let actual: string[]
          try {
            actual = runCase(interpret, testCase)
          } catch (error) {
            throw new Error(`${file}:${testCase.line}: ${(error as Error).message}`, { cause: error })
          }
          const mismatch = describeMismatch(file, testCase, actual)
          if (mismatch !== undefined) throw new Error(mismatch)
        })
      }
    })
  }
}
