// The transcript runner itself: cases are read as written, and a mismatch names its line.
import { describe, expect, it } from 'vitest'
import { describeMismatch, parseCommand, parseTranscript, runCase } from './transcript.js'

const text = `# A file's opening comment.

# The first rule, which
# takes two lines. More about it.
add x=1 list=(1, 2,_) flag
add x=2
----
one
two

# An empty output.
noop
----

plain y=3
----
three
`

describe('transcript runner', () => {
  it('reads each case: the first sentence of the comment right before it as its title, its commands with their arguments, its expected output', () => {
    const cases = parseTranscript(text)
    expect(cases.map((c) => [c.line, c.title, c.commands.map((command) => command.name), c.expected])).toEqual([
      [5, 'The first rule, which takes two lines.', ['add', 'add'], ['one', 'two']],
      [12, 'An empty output.', ['noop'], []],
      [15, 'plain y=3', ['plain'], ['three']],
    ])
    const command = cases[0]?.commands[0]
    expect(command?.int('x')).toBe(1)
    expect(command?.list('list')).toEqual(['1', '2', '_'])
    expect(command?.has('flag')).toBe(true)
    expect(command?.has('other')).toBe(false)
    expect(command?.int('other', 7)).toBe(7)
  })

  it('runs every command of a case and agrees when the output is the one expected', () => {
    const [first] = parseTranscript(text)
    const actual = runCase((command) => (command.int('x') === 1 ? 'one' : 'two'), first as NonNullable<typeof first>)
    expect(describeMismatch('t.txt', first as NonNullable<typeof first>, actual)).toBeUndefined()
  })

  it('fails a mismatch with the file and line of the case, its commands, and the lines expected (-) and got (+)', () => {
    const [first] = parseTranscript(text)
    const message = describeMismatch('t.txt', first as NonNullable<typeof first>, ['one', 'TWO', 'three'])
    expect(message).toBe(['t.txt:5: output differs (- expected, + got)', '  add x=1 list=(1, 2,_) flag', '  add x=2', '  ----', '    one', '  - two', '  + TWO', '  + three'].join('\n'))
  })

  it('refuses a case without a ---- line, naming its line', () => {
    expect(() => parseTranscript('a\nb\n\nc\n')).toThrow(/line 1: a case's commands end with a ---- line/)
    expect(() => parseTranscript('a\nb')).toThrow(/line 1: the case has no ---- line/)
  })

  it('refuses a missing or malformed number argument, naming the command line', () => {
    expect(() => parseCommand('add', 3).int('x')).toThrow('line 3: add needs x=')
    expect(() => parseCommand('add x=z', 4).int('x')).toThrow('line 4: x= wants whole numbers, got z')
  })
})
