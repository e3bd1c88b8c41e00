/**
 * The files fsreport writes for Prometheus. Each write replaces whatever is at its path, and
 * one slip on the command line (`--legacy-metrics /usr/local/lib/chatmaild/chatmail.ini` reads
 * the ini path as the metrics file) would destroy a configuration file. So an existing file is
 * replaced only when it is empty or looks like an earlier metrics file, and never when it is the
 * chatmail.ini of the run.
 */

import { closeSync, constants, fstatSync, openSync, readSync, statSync } from "node:fs";

import { writeFileAtomic } from "./atomic-write.ts";
import type { FileIdentity } from "./config-file.ts";
import { CliError, describeError, errorCode } from "./errors.ts";
import { displayPath, toFsPath } from "./raw-path.ts";

/** A metrics file to write: its raw path and the option that named it, for messages. */
export interface MetricsTarget {
  path: string;
  option: string;
}

/** A file that no metrics file may replace, such as the chatmail.ini the run read. */
export interface ProtectedFile {
  identity: FileIdentity;
  /** Description of the file for messages, such as "the chatmail.ini this run reads". */
  description: string;
}

/** Every file in the Prometheus text format starts with one of these, as fsreport writes them. */
const METRICS_FILE_STARTS = ["# HELP", "# TYPE"];
const START_LENGTH = Math.max(...METRICS_FILE_STARTS.map((start) => start.length));

/** Reads the first bytes of an open file, fewer when the file is shorter. */
function readStart(fd: number): string {
  const buffer = Buffer.alloc(START_LENGTH);
  let length = 0;
  while (length < buffer.length) {
    const read = readSync(fd, buffer, length, buffer.length - length, length);
    if (read === 0) break;
    length += read;
  }
  return buffer.subarray(0, length).toString("latin1");
}

/**
 * Checks that writing `target` replaces nothing but an earlier metrics file: the path may not
 * exist yet, or name an empty file or one that starts with `# HELP` or `# TYPE`. Throws a
 * CliError naming the path otherwise, and for any file in `protectedFiles`.
 */
export function checkMetricsTarget(target: MetricsTarget, protectedFiles: readonly ProtectedFile[]): void {
  const displayedPath = displayPath(target.path);
  const reject = (reason: string) => new CliError(`cannot write ${displayedPath}: ${reason}`);

  // A trailing slash names a directory, which a file cannot replace. The rename would fail with
  // "not a directory" even when the directory is just missing.
  if (target.path.endsWith("/")) {
    try {
      statSync(toFsPath(target.path));
    } catch (error) {
      throw reject(describeError(error));
    }
    throw reject("is a directory");
  }

  let fd: number;
  try {
    // Non-blocking, so that a FIFO at the path does not hang the open.
    fd = openSync(toFsPath(target.path), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return;
    throw reject(describeError(error));
  }

  try {
    const stats = fstatSync(fd, { bigint: true });
    for (const file of protectedFiles) {
      if (stats.dev === file.identity.dev && stats.ino === file.identity.ino) throw reject(`it is ${file.description}`);
    }
    if (stats.isDirectory()) throw reject("is a directory");
    if (!stats.isFile()) throw reject("not a regular file");
    if (stats.size === 0n) return;

    const start = readStart(fd);
    if (!METRICS_FILE_STARTS.some((prefix) => start.startsWith(prefix))) {
      throw reject(
        `the existing file does not start with "# HELP" or "# TYPE", so it is not a metrics file ` +
          `(choose another path for ${target.option})`,
      );
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw reject(describeError(error));
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes each metrics file atomically after checking all of them with checkMetricsTarget(), so
 * that a rejected path leaves every file as it was.
 */
export async function writeMetricsFiles(
  files: readonly (MetricsTarget & { content: string })[],
  protectedFiles: readonly ProtectedFile[],
): Promise<void> {
  // NOTE: a file put at a path between this check and the rename is replaced unchecked. The
  // check guards against mistakes on the command line, not against other writers.
  for (const file of files) checkMetricsTarget(file, protectedFiles);
  for (const file of files) await writeFileAtomic(file.path, file.content);
}
