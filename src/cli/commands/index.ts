import type { Command } from '../command.js'
import { crashTestCommand } from './crash-test.js'
import { dumpCommand } from './dump.js'
import { inspectCommand } from './inspect.js'
import { verifyCommand } from './verify.js'

/** Every subcommand, in the order `raftlog --help` lists them. Add one line per command. */
export const commands: Command[] = [
  inspectCommand,
  verifyCommand,
  dumpCommand,
  crashTestCommand,
]
