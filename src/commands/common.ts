/** Options that every subcommand has, and the settings-file merge they share. */

import type { ArgsDef } from "citty";

import { createLogger, type Logger, verbosityFrom } from "../log.ts";
import { loadSettings, type SettingsSchema, type SettingValue } from "../settings.ts";

export const commonArgs = {
  verbose: { type: "boolean", alias: "v", description: "Print one line per item (file or mailbox)" },
  quiet: { type: "boolean", alias: "q", description: "Print nothing but errors" },
  settings: {
    type: "string",
    valueHint: "FILE",
    description: "TOML settings file with defaults for the options (default: /etc/chatmail-maildir.toml if present)",
  },
} as const satisfies ArgsDef;

/**
 * Resolves each option of `schema`: the command line wins, then the subcommand's table in the
 * settings file, then `undefined` (the caller applies its built-in default).
 */
export function resolveOptions(
  command: string,
  schema: SettingsSchema,
  args: Record<string, unknown>,
): { options: Record<string, SettingValue | undefined>; logger: Logger } {
  const settings = loadSettings(command, schema, args.settings as string | undefined);
  const options: Record<string, SettingValue | undefined> = {};
  for (const key of Object.keys(schema)) {
    const fromCommandLine = args[key] as SettingValue | undefined;
    options[key] = fromCommandLine ?? settings[key];
  }

  const verbose = (options.verbose as boolean | undefined) ?? false;
  const quiet = (options.quiet as boolean | undefined) ?? false;
  return { options, logger: createLogger(verbosityFrom({ verbose, quiet })) };
}
