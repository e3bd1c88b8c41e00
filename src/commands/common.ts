/** Options that every subcommand has, and the settings-file merge they share. */

import type { ArgsDef } from "citty";

import { createLogger, type Logger, verbosityFrom } from "../log.ts";
import { CliError, UsageError } from "../errors.ts";
import { loadSettings, settingsFileName, type SettingsSchema, type SettingValue } from "../settings.ts";

export const commonArgs = {
  verbose: { type: "boolean", alias: "v", description: "Print one line per item (file or mailbox)" },
  quiet: { type: "boolean", alias: "q", description: "Print nothing but errors" },
  settings: {
    type: "string",
    valueHint: "FILE",
    description: "TOML settings file with defaults for the options (default: /etc/chatmail-maildir.toml if present)",
  },
} as const satisfies ArgsDef;

/** Options merged from the command line and the settings file. */
export interface ResolvedOptions {
  options: Record<string, SettingValue | undefined>;
  logger: Logger;
  /**
   * Checks the value of the option `key` with `check`, which gets the value and the name to use
   * in its message and throws a UsageError for a bad value. A bad value that came from the
   * settings file becomes a CliError (exit 1) naming the file and the key instead of the option,
   * because no command-line change fixes it.
   */
  check<T>(key: string, check: (value: SettingValue | undefined, name: string) => T): T;
}

/**
 * Resolves each option of `schema`: the command line wins, then the subcommand's table in the
 * settings file, then `undefined` (the caller applies its built-in default). A boolean option
 * set in the file is turned off on the command line with `--no-<name>`. Verbosity is one choice:
 * -v or -q on the command line overrides both `verbose` and `quiet` of the file.
 */
export function resolveOptions(command: string, schema: SettingsSchema, args: Record<string, unknown>): ResolvedOptions {
  const verboseArg = args.verbose as boolean | undefined;
  const quietArg = args.quiet as boolean | undefined;
  if (verboseArg === true && quietArg === true) throw new UsageError("-v (--verbose) and -q (--quiet) cannot be combined");

  const settingsPath = args.settings as string | undefined;
  const settings = loadSettings(command, schema, settingsPath);
  if (settings.verbose === true && settings.quiet === true) {
    throw new CliError(`${settingsFileName(settingsPath)}: ${command}.verbose and ${command}.quiet cannot both be true`);
  }

  const options: Record<string, SettingValue | undefined> = {};
  const fromSettings = new Set<string>();
  for (const key of Object.keys(schema)) {
    const fromCommandLine = args[key] as SettingValue | undefined;
    options[key] = fromCommandLine ?? settings[key];
    if (fromCommandLine === undefined && settings[key] !== undefined) fromSettings.add(key);
  }
  if (verboseArg === true) options.quiet = false;
  if (quietArg === true) options.verbose = false;

  const check = <T>(key: string, checkValue: (value: SettingValue | undefined, name: string) => T): T => {
    if (!fromSettings.has(key)) return checkValue(options[key], `--${key}`);
    try {
      return checkValue(options[key], `${command}.${key}`);
    } catch (error) {
      if (error instanceof UsageError) throw new CliError(`${settingsFileName(settingsPath)}: ${error.message}`);
      throw error;
    }
  };

  const verbose = (options.verbose as boolean | undefined) ?? false;
  const quiet = (options.quiet as boolean | undefined) ?? false;
  return { options, logger: createLogger(verbosityFrom({ verbose, quiet })), check };
}
