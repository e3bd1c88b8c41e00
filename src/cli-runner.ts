/**
 * Runs the citty command tree with the exit codes and error lines relays rely on.
 *
 * citty parses leniently: unknown options and extra arguments pass silently, and its runMain
 * exits 1 for every error. A tool that Dovecot and systemd run unattended must instead reject a
 * mistyped option (exit 2) before it reads or removes anything, so this module checks the raw
 * arguments against each command's definition first and maps errors to exit codes itself.
 */

import { type ArgsDef, type CommandDef, parseArgs, renderUsage } from "citty";

import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.ts";
import { escapeControlCharacters } from "./raw-path.ts";

/** A subcommand: its citty definition, whose `run` returns the exit code. */
export type Subcommand = CommandDef<ArgsDef> & {
  run: (context: { args: Record<string, unknown>; rawArgs: string[] }) => Promise<number> | number;
};

export interface Program {
  name: string;
  description: string;
  /** The version number for help headers. */
  version: string;
  /** The full `--version` output line. */
  versionLine: string;
  subcommands: Record<string, Subcommand>;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (char) => `-${char.toLowerCase()}`);
}

interface OptionSpec {
  takesValue: boolean;
  /** The value an option with an optional value gets when it is given alone. */
  valueWhenAlone?: string;
}

/**
 * Marks a string option whose value is optional, like argparse's `nargs="?"` with `const`:
 * `--name=VALUE` and `--name VALUE` set VALUE, and `--name` alone sets `valueWhenAlone`. A
 * following argument is taken as the value unless it starts with `-`, so a positional argument
 * right after such an option is read as its value: put positionals before it, or use `=`.
 */
export interface OptionalValue {
  optionalValue: { valueWhenAlone: string };
}

function optionTable(args: ArgsDef): { options: Map<string, OptionSpec>; positionals: number } {
  const options = new Map<string, OptionSpec>();
  let positionals = 0;
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") {
      positionals++;
      continue;
    }
    const valueWhenAlone = "optionalValue" in def ? (def as Partial<OptionalValue>).optionalValue?.valueWhenAlone : undefined;
    const spec: OptionSpec = { takesValue: def.type === "string" || def.type === "enum", valueWhenAlone };
    options.set(kebab(name), spec);
    const alias = "alias" in def ? def.alias : undefined;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    for (const alias of aliases) options.set(alias, spec);
  }
  options.set("help", { takesValue: false });
  options.set("h", { takesValue: false });
  return { options, positionals };
}

function isOption(arg: string): boolean {
  return arg.length > 1 && arg.startsWith("-");
}

/**
 * Checks raw arguments against a command's definition: every option must be known, an option
 * that takes a value must have one, and there may be no more positional arguments than defined.
 * Returns the arguments with each option whose value is optional and that is given alone
 * rewritten to `--name=<valueWhenAlone>`, ready for citty.
 */
export function checkArguments(commandName: string, args: ArgsDef, rawArgs: readonly string[]): string[] {
  const { options, positionals } = optionTable(args);
  const checked: string[] = [];
  let positionalCount = 0;

  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") {
      positionalCount += rawArgs.length - i - 1;
      checked.push(...rawArgs.slice(i));
      break;
    }

    if (isOption(arg)) {
      const long = arg.startsWith("--");
      const equals = arg.indexOf("=");
      const name = arg.slice(long ? 2 : 1, equals >= 0 ? equals : undefined);
      const spec = options.get(name);
      if (spec === undefined || (!long && name.length !== 1)) {
        throw new UsageError(`${commandName}: unknown option ${arg.split("=")[0]}`);
      }
      if (spec.valueWhenAlone !== undefined && equals < 0) {
        const next = rawArgs[i + 1];
        if (next === undefined || next === "--" || isOption(next)) {
          checked.push(`--${name}=${spec.valueWhenAlone}`);
        } else {
          checked.push(arg, next);
          i++;
        }
        continue;
      }
      if (spec.takesValue && equals < 0) {
        const value = rawArgs[i + 1];
        if (value === undefined) throw new UsageError(`${commandName}: option ${arg} needs a value`);
        checked.push(arg, value);
        i++;
        continue;
      } else if (!spec.takesValue && equals >= 0) {
        throw new UsageError(`${commandName}: option ${arg.slice(0, equals)} takes no value`);
      }
      checked.push(arg);
      continue;
    }

    positionalCount++;
    checked.push(arg);
  }

  if (positionalCount > positionals) {
    throw new UsageError(`${commandName}: too many arguments (expected at most ${positionals})`);
  }
  return checked;
}

/** Renders citty's help text, without colors unless stdout is a terminal. */
async function usageText(command: CommandDef<ArgsDef>, parent?: CommandDef<ArgsDef>): Promise<string> {
  const text = await renderUsage(command, parent);
  return process.stdout.isTTY ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
}

function mainCommand(program: Program): CommandDef<ArgsDef> {
  return {
    meta: { name: program.name, version: program.version, description: program.description },
    subCommands: program.subcommands,
  };
}

/**
 * Runs the program with the given arguments (without the executable) and returns the exit code.
 * Never throws for expected errors: those become one line on stderr.
 */
export async function runProgram(program: Program, rawArgs: readonly string[]): Promise<number> {
  const main = mainCommand(program);
  const first = rawArgs[0];

  try {
    if (first === undefined || first === "--help" || first === "-h") {
      process.stdout.write(`${await usageText(main)}\n`);
      return first === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (first === "--version" || first === "-V") {
      process.stdout.write(`${program.versionLine}\n`);
      return EXIT_OK;
    }

    const subcommand = program.subcommands[first];
    if (subcommand === undefined) {
      const known = Object.keys(program.subcommands).join(", ");
      throw new UsageError(`unknown subcommand ${JSON.stringify(first)} (expected one of: ${known})`);
    }
    return await runSubcommand(program, first, subcommand, rawArgs.slice(1));
  } catch (error) {
    return reportError(program, first, error);
  }
}

/** Runs one subcommand with its own arguments; used directly for the chatmaild drop-in names. */
export async function runSubcommand(
  program: Program,
  name: string,
  subcommand: Subcommand,
  rawArgs: readonly string[],
): Promise<number> {
  try {
    const argsDef = (subcommand.args ?? {}) as ArgsDef;
    const beforeDashes = rawArgs.indexOf("--") < 0 ? rawArgs : rawArgs.slice(0, rawArgs.indexOf("--"));
    if (beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
      process.stdout.write(`${await usageText(subcommand, mainCommand(program))}\n`);
      return EXIT_OK;
    }

    const checkedArgs = checkArguments(`${program.name} ${name}`, argsDef, rawArgs);

    let args: Record<string, unknown>;
    try {
      args = parseArgs(checkedArgs, argsDef) as Record<string, unknown>;
    } catch (error) {
      // citty's parse errors (a missing positional, an enum value outside its options) are usage errors.
      const message = error instanceof Error ? error.message.replace(/\x1b\[[0-9;]*m/g, "") : String(error);
      throw new UsageError(`${program.name} ${name}: ${message}`);
    }
    return await subcommand.run({ args, rawArgs: checkedArgs });
  } catch (error) {
    return reportError(program, name, error);
  }
}

function reportError(program: Program, commandName: string | undefined, error: unknown): number {
  if (error instanceof UsageError) {
    const helpCommand = commandName && program.subcommands[commandName] ? `${program.name} ${commandName}` : program.name;
    process.stderr.write(`error: ${escapeControlCharacters(error.message)} (see ${helpCommand} --help)\n`);
    return EXIT_USAGE;
  }
  if (error instanceof CliError) {
    process.stderr.write(`error: ${escapeControlCharacters(error.message)}\n`);
    return error.exitCode;
  }

  // A bug, not an expected failure: still one line, with the stack only on request.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: internal error: ${escapeControlCharacters(message)}\n`);
  if (process.env.CHATMAIL_MAILDIR_DEBUG && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  return EXIT_FAILURE;
}
