/**
 * Messages on stderr, one event a line. Dovecot's script service and systemd both capture
 * stderr, so there is no timestamp or color: journald adds its own.
 */

import { escapeControlCharacters } from "./raw-path.ts";

export type Verbosity = "quiet" | "normal" | "verbose";

export interface Logger {
  readonly verbosity: Verbosity;
  /** A per-item line, printed with -v only. */
  detail(message: string): void;
  /** A normal event line, silenced by -q. */
  info(message: string): void;
  /** A problem that does not stop the run, silenced by -q. */
  warn(message: string): void;
  /** An error, always printed. */
  error(message: string): void;
}

export function verbosityFrom(flags: { verbose?: boolean; quiet?: boolean }): Verbosity {
  if (flags.quiet) return "quiet";
  return flags.verbose ? "verbose" : "normal";
}

function writeLine(prefix: string, message: string): void {
  // A message is one line whatever it contains, so that journald and grep see one event. Names
  // in messages are already escaped with displayPath(); this catches anything else.
  process.stderr.write(`${prefix}${escapeControlCharacters(message)}\n`);
}

export function createLogger(verbosity: Verbosity): Logger {
  return {
    verbosity,
    detail(message) {
      if (verbosity === "verbose") writeLine("", message);
    },
    info(message) {
      if (verbosity !== "quiet") writeLine("", message);
    },
    warn(message) {
      if (verbosity !== "quiet") writeLine("warning: ", message);
    },
    error(message) {
      writeLine("error: ", message);
    },
  };
}
