/**
 * The tool's own optional settings file, TOML: `/etc/chatmail-maildir.toml` when present, or the
 * file given with `--settings`. Each subcommand has one table of defaults for its options, named
 * after the subcommand, with the option names as keys:
 *
 *   [quota-expire]
 *   policy = "oldest"
 *   keep-recent = 24
 *
 * Options on the command line win over the file.
 */

import { parse as parseToml, TomlError } from "smol-toml";

import { readConfigFile } from "./config-file.ts";
import { CliError, describeError, errorCode } from "./errors.ts";
import { displayPath, rawFromUser } from "./raw-path.ts";

export const DEFAULT_SETTINGS_FILE = "/etc/chatmail-maildir.toml";

export type SettingType = "string" | "integer" | "number" | "boolean";
export type SettingValue = string | number | boolean;

/** The keys a subcommand's table may contain and the type of each. */
export type SettingsSchema = Record<string, SettingType>;

/** Subcommand tables known to the file; keys of other subcommands' tables are checked on their runs. */
const TABLES = new Set(["quota-expire", "expire-inactive", "fsreport"]);

function typeOf(value: unknown): SettingType | "other" {
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "bigint") return "integer";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return "other";
}

/** Returns the settings file's path for messages: the `--settings` value or the default file. */
export function settingsFileName(explicitPath: string | undefined): string {
  return displayPath(rawFromUser(explicitPath ?? DEFAULT_SETTINGS_FILE));
}

/**
 * Loads the table of one subcommand. `explicitPath` comes from `--settings`: then the file must
 * exist. Without it, the default file is read when present. Errors name the file and key.
 */
export function loadSettings(
  command: string,
  schema: SettingsSchema,
  explicitPath: string | undefined,
): Record<string, SettingValue> {
  const path = explicitPath ?? DEFAULT_SETTINGS_FILE;
  const displayedPath = settingsFileName(explicitPath);

  let text: string;
  try {
    text = readConfigFile(path).content.toString("utf8");
  } catch (error) {
    if (explicitPath === undefined && errorCode(error) === "ENOENT") return {};
    throw new CliError(`cannot read settings file ${displayedPath}: ${describeError(error)}`);
  }

  let document: Record<string, unknown>;
  try {
    document = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    // smol-toml's message has a code excerpt after its first line; the line number is enough.
    const message = error instanceof Error ? error.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "") : String(error);
    const line = error instanceof TomlError ? `:${error.line}` : "";
    throw new CliError(`${displayedPath}${line}: invalid TOML: ${message}`);
  }

  for (const [key, value] of Object.entries(document)) {
    if (!TABLES.has(key) || typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new CliError(`${displayedPath}: unknown key ${key}: expected one of the tables [${[...TABLES].join("], [")}]`);
    }
  }

  const table = (document[command] ?? {}) as Record<string, unknown>;
  const settings: Record<string, SettingValue> = {};
  for (const [key, value] of Object.entries(table)) {
    const expected = schema[key];
    if (expected === undefined) {
      const known = Object.keys(schema).join(", ") || "none";
      throw new CliError(`${displayedPath}: unknown key ${command}.${key} (known keys: ${known})`);
    }

    const actual = typeOf(value);
    const fits = actual === expected || (expected === "number" && actual === "integer");
    if (!fits) throw new CliError(`${displayedPath}: ${command}.${key} must be of type ${expected}, not ${actual}`);

    settings[key] = typeof value === "bigint" ? Number(value) : (value as SettingValue);
  }
  return settings;
}
