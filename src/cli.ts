#!/usr/bin/env bun
/** Entry point of the chatmail-maildir binary. */

import { type Program, runProgram, runSubcommand, type Subcommand } from "./cli-runner.ts";
import { expireInactiveCommand } from "./commands/expire-inactive.ts";
import { fsreportCommand } from "./commands/fsreport.ts";
import { quotaExpireCommand } from "./commands/quota-expire.ts";
import { dropInSubcommand } from "./drop-in.ts";
import { exactArguments } from "./raw-path.ts";
import { VERSION, VERSION_LINE } from "./version.ts";

export const program: Program = {
  name: "chatmail-maildir",
  description: "Maildir maintenance for chatmail relays",
  version: VERSION,
  versionLine: VERSION_LINE,
  subcommands: {
    "quota-expire": quotaExpireCommand as Subcommand,
    "expire-inactive": expireInactiveCommand as Subcommand,
    fsreport: fsreportCommand as Subcommand,
  },
};

// A reader that goes away early (`… | head -1`) is no failure of this tool, and it must not stop
// a run halfway, for example between removing messages and removing maildirsize. Lines written
// after that are dropped, and the run finishes with its own exit code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") return;
    throw error;
  });
}

// Invoked under one of chatmaild's script names, the binary is that subcommand. `--version`
// still works there, so an operator can tell which binary a name points to.
const args = exactArguments(process.argv.slice(2));
const dropIn = dropInSubcommand(process.argv0);
let exitCode: number;
if (dropIn === undefined || args[0] === "--version" || args[0] === "-V") {
  exitCode = await runProgram(program, dropIn === undefined ? args : ["--version"]);
} else {
  exitCode = await runSubcommand(program, dropIn, program.subcommands[dropIn]!, args);
}
process.exitCode = exitCode;
