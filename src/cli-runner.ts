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
  /** The option's long name, the same for all its aliases. */
  name: string;
  takesValue: boolean;
  /** True for a boolean option, which `--no-<name>` turns off. */
  negatable: boolean;
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

/** A positional argument: the name that help and messages show, and whether it must be given. */
interface PositionalSpec {
  name: string;
  required: boolean;
}

/** Returns the name of a positional argument for help and messages: its value hint, such as TARGET_MB. */
function positionalName(name: string, def: ArgsDef[string]): string {
  return ("valueHint" in def && def.valueHint) || name.toUpperCase();
}

function optionTable(args: ArgsDef): { options: Map<string, OptionSpec>; positionals: PositionalSpec[] } {
  const options = new Map<string, OptionSpec>();
  const positionals: PositionalSpec[] = [];
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") {
      positionals.push({ name: positionalName(name, def), required: def.required !== false && def.default === undefined });
      continue;
    }
    const valueWhenAlone = "optionalValue" in def ? (def as Partial<OptionalValue>).optionalValue?.valueWhenAlone : undefined;
    const spec: OptionSpec = {
      name: kebab(name),
      takesValue: def.type === "string" || def.type === "enum",
      negatable: def.type === "boolean",
      valueWhenAlone,
    };
    options.set(spec.name, spec);
    const alias = "alias" in def ? def.alias : undefined;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    for (const alias of aliases) options.set(alias, spec);
  }
  const help: OptionSpec = { name: "help", takesValue: false, negatable: false };
  options.set("help", help);
  options.set("h", help);
  return { options, positionals };
}

/** Returns true for an option; a negative number such as -1 is an argument, so that its check can name it. */
function isOption(arg: string): boolean {
  return arg.length > 1 && arg.startsWith("-") && !/^-\d/.test(arg);
}

/** Returns the boolean option that `--no-<name>` turns off, or undefined. */
function negatedOption(options: Map<string, OptionSpec>, name: string): OptionSpec | undefined {
  if (!name.startsWith("no-")) return undefined;
  const spec = options.get(name.slice(3));
  return spec?.negatable && spec.name === name.slice(3) ? spec : undefined;
}

/**
 * Checks raw arguments against a command's definition: every option must be known, an option
 * that takes a value must have one, and there may be no more positional arguments than defined.
 * A boolean option `--name` may also be given as `--no-name` to override a settings file.
 *
 * Returns the arguments ready for citty. An option whose value is optional and that is given
 * alone becomes `--name=<valueWhenAlone>`. Each boolean option appears once, with the value of
 * its last occurrence. The positional arguments come after `--`, so that citty reads none of
 * them (a negative number, say) as an option.
 */
export function checkArguments(commandName: string, args: ArgsDef, rawArgs: readonly string[]): string[] {
  const { options, positionals } = optionTable(args);
  const checked: string[] = [];
  const positionalArgs: string[] = [];

  // citty applies every --no-name after all other options, so that `--no-dry-run --dry-run`
  // would be a real run. The last occurrence wins here instead, as in most tools.
  const booleans = new Map<string, boolean>();

  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") {
      positionalArgs.push(...rawArgs.slice(i + 1));
      break;
    }

    if (isOption(arg)) {
      const long = arg.startsWith("--");
      const equals = arg.indexOf("=");
      const name = arg.slice(long ? 2 : 1, equals >= 0 ? equals : undefined);
      const negated = long ? negatedOption(options, name) : undefined;
      if (negated !== undefined) {
        if (equals >= 0) throw new UsageError(`${commandName}: option ${arg.slice(0, equals)} takes no value`);
        booleans.set(negated.name, false);
        continue;
      }

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
      if (spec.negatable) {
        booleans.set(spec.name, true);
        continue;
      }
      checked.push(arg);
      continue;
    }

    positionalArgs.push(arg);
  }

  for (const [name, value] of booleans) checked.push(value ? `--${name}` : `--no-${name}`);

  if (positionalArgs.length > positionals.length) {
    throw new UsageError(`${commandName}: too many arguments (expected at most ${positionals.length})`);
  }
  const missing = positionals.slice(positionalArgs.length).find((positional) => positional.required);
  if (missing !== undefined) throw new UsageError(`${commandName}: missing argument ${missing.name}`);
  return positionalArgs.length === 0 ? checked : [...checked, "--", ...positionalArgs];
}

/**
 * Returns the arguments as help shows them: citty names a positional argument after its key
 * and adds the value hint (`TARGET=<TARGET_MB>`), so each one is renamed to its hint instead.
 */
function argsForHelp(args: ArgsDef): ArgsDef {
  const shown: ArgsDef = {};
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") {
      shown[positionalName(name, def)] = { ...def, valueHint: undefined };
    } else {
      shown[name] = def;
    }
  }
  return shown;
}

/** Renders citty's help text, without colors unless stdout is a terminal, and without trailing blanks. */
async function usageText(command: CommandDef<ArgsDef>, parent?: CommandDef<ArgsDef>): Promise<string> {
  const args = (command.args ?? {}) as ArgsDef;
  const text = await renderUsage({ ...command, args: argsForHelp(args) }, parent);
  const plain = process.stdout.isTTY ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
  // citty pads every column to the widest entry, also in the last column.
  return plain.replace(/[ \t]+((?:\x1b\[[0-9;]*m)*)$/gm, "$1");
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
      // checkArguments() catches what citty would reject, such as a missing positional argument.
      // Anything citty still rejects is a usage error too, in lowercase like the other messages.
      const message = error instanceof Error ? error.message.replace(/\x1b\[[0-9;]*m/g, "") : String(error);
      throw new UsageError(`${program.name} ${name}: ${message.charAt(0).toLowerCase()}${message.slice(1)}`);
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
