/** Shared test fixtures: the compiled binary, temporary trees and Dovecot-style message files. */

import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

import { writeSparseFile } from "../scripts/sparse-file.ts";

export const REPO_ROOT = resolve(import.meta.dir, "..");

/** The compiled binary for this machine: tests of command-line behaviour run what relays get. */
export const BINARY = join(
  REPO_ROOT,
  "dist",
  process.arch === "arm64" ? "chatmail-maildir-linux-arm64" : "chatmail-maildir-linux-x64",
);

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled binary and waits for it. */
export function runBinary(args: string[], options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {}): RunResult {
  const result = Bun.spawnSync([BINARY, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
    stdin: options.stdin === undefined ? "ignore" : Buffer.from(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Creates a temporary directory that is removed after the test file. */
export function makeTempDir(prefix = "chatmail-maildir-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Unix seconds now, whole. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Writes a file of `diskSize` bytes (sparse) with the given mtime in Unix seconds, creating its
 * parent directories.
 */
export function writeFileAt(path: string, diskSize: number, mtime: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeSparseFile(path, diskSize, mtime);
}

/** Builds a Dovecot message file name with `S=` and `W=`; `flags` adds `:2,<flags>`. */
export function messageName(deliveryTime: number, unique: string | number, size?: number, flags?: string): string {
  const sizes = size === undefined ? "" : `,S=${size},W=${size + 10}`;
  return `${deliveryTime}.M${unique}P1.test${sizes}${flags === undefined ? "" : `:2,${flags}`}`;
}

/** Writes a chatmail.ini with the given [params] lines. */
export function writeChatmailIni(path: string, params: Record<string, string>): void {
  const lines = ["[params]", ...Object.entries(params).map(([key, value]) => `${key} = ${value}`), ""];
  writeFileSync(path, lines.join("\n"));
}

/** Creates an empty Maildir (cur, new, tmp) at `path`. */
export function makeMaildir(path: string): void {
  for (const subdir of ["cur", "new", "tmp"]) mkdirSync(join(path, subdir), { recursive: true });
}
