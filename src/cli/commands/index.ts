import type { Command } from '../command.js'
import { crashTestCommand } from './crash-test.js'

/** Every subcommand, in the order `raftlog --help` lists them. Add one line per command. */
export const commands: Command[] = [
  crashTestCommand,
]
