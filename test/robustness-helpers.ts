/** Fixtures of the robustness tests: guarded runs of the binary, other users, file-tree snapshots. */

import { expect } from "bun:test";
import { chmodSync, lstatSync, readdirSync, readlinkSync } from "node:fs";

import { BINARY, REPO_ROOT } from "./helpers.ts";

/** The uid and gid of `nobody` on Debian: an unprivileged user that exists on every machine. */
export const NOBODY = 65534;

export const IS_ROOT = process.getuid?.() === 0;

export interface GuardedResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** True when the hang guard killed the process. */
  timedOut: boolean;
}

export interface GuardedOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string | Uint8Array;
  /** Run as `nobody` through setpriv, as the relay runs the tool as an unprivileged user. */
  asNobody?: boolean;
  /** Hang guard: the process is killed after this many milliseconds. Never a timing condition. */
  timeoutMs?: number;
}

/** Runs the compiled binary with a hang guard, as `nobody` when asked (the test must run as root then). */
export function runGuarded(args: (string | Uint8Array)[], options: GuardedOptions = {}): GuardedResult {
  const prefix = options.asNobody ? ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--"] : [];
  // Bun encodes string arguments as UTF-8, so arguments with other bytes go through bash's $'\xNN'.
  const needsBytes = args.some((arg) => typeof arg !== "string");
  const command = needsBytes
    ? ["bash", "-c", ["exec", ...[...prefix, BINARY].map(quoteBytes), ...args.map(quoteBytes)].join(" ")]
    : [...prefix, BINARY, ...(args as string[])];
  const result = Bun.spawnSync(command, {
    cwd: options.cwd ?? REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
    stdin: options.stdin === undefined ? "ignore" : Buffer.from(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs ?? 60_000,
  });
  return {
    exitCode: result.exitCode,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
    timedOut: result.exitedDueToTimeout === true,
  };
}

/** Quotes an argument for bash as $'\xNN…', byte by byte. */
function quoteBytes(arg: string | Uint8Array): string {
  const bytes = typeof arg === "string" ? Buffer.from(arg, "utf8") : arg;
  return `$'${[...bytes].map((byte) => `\\x${byte.toString(16).padStart(2, "0")}`).join("")}'`;
}

/** Asserts that stderr is exactly one `error:` line containing every fragment, with no stack trace. */
export function expectOneErrorLine(stderr: string, ...fragments: string[]): void {
  const lines = stderr.split("\n").filter((line) => line !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith("error: ")).toBe(true);
  expect(lines[0]).not.toContain("internal error");
  for (const fragment of fragments) expect(lines[0]).toContain(fragment);
}

/** Asserts that stderr has no stack trace and no internal error. */
export function expectNoCrash(stderr: string): void {
  expect(stderr).not.toContain("internal error");
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toContain("panic");
}

/**
 * Lists every entry below `dir`, sorted, without following symlinks: directories end in `/`,
 * symlinks show `-> target`, FIFOs `|`, sockets `=`. Names are raw (latin1) strings.
 */
export function treeOf(dir: string): string[] {
  const entries: string[] = [];
  const visit = (relative: string) => {
    const path = relative === "" ? dir : `${dir}/${relative}`;
    const names = readdirSync(Buffer.from(path, "latin1"), { encoding: "latin1" }).sort();
    for (const name of names) {
      const child = relative === "" ? name : `${relative}/${name}`;
      const fsPath = Buffer.from(`${dir}/${child}`, "latin1");
      const stats = lstatSync(fsPath);
      if (stats.isDirectory()) {
        entries.push(`${child}/`);
        visit(child);
      } else if (stats.isSymbolicLink()) {
        entries.push(`${child} -> ${readlinkSync(fsPath, { encoding: "latin1" })}`);
      } else if (stats.isFIFO()) {
        entries.push(`${child}|`);
      } else if (stats.isSocket()) {
        entries.push(`${child}=`);
      } else {
        entries.push(child);
      }
    }
  };
  visit("");
  return entries;
}

/** Makes a temporary tree readable and traversable by every user, for runs as `nobody`. */
export function openToEveryone(...paths: string[]): void {
  for (const path of paths) chmodSync(path, 0o755);
}

/**
 * Runs the binary with stdout and stderr on a pipe whose reader is already gone, so every write
 * fails with EPIPE, as with `… | head -1` once head has exited. Returns the exit code.
 */
export function runIntoClosedPipe(args: string[]): number | null {
  const script = [
    "import os, subprocess, sys",
    "reader, writer = os.pipe()",
    "os.close(reader)",
    "result = subprocess.run(sys.argv[1:], stdout=writer, stderr=writer, timeout=60)",
    "print(result.returncode)",
  ].join("\n");
  const result = Bun.spawnSync(["python3", "-c", script, BINARY, ...args], { stdout: "pipe", stderr: "pipe", timeout: 90_000 });
  const text = result.stdout.toString().trim();
  return text === "" ? null : Number(text);
}

/** Runs a shell command line as root or as `nobody`, returning its exit code and output. */
export function runShell(commandLine: string, options: { asNobody?: boolean; env?: Record<string, string> } = {}): GuardedResult {
  const prefix = options.asNobody ? ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--"] : [];
  const result = Bun.spawnSync([...prefix, "bash", "-c", commandLine], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", BINARY, ...options.env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
  });
  return {
    exitCode: result.exitCode,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
    timedOut: result.exitedDueToTimeout === true,
  };
}
