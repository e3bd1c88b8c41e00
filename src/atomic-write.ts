/**
 * Replacing a file so that readers see either the old or the new content, never a part: the
 * new content goes to a temporary file in the same directory (a rename is atomic only within
 * one file system), is flushed to disk, and is then renamed over the target.
 */

import { randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import { basename, dirname } from "node:path";

import { CliError, describeError } from "./errors.ts";
import { displayPath, toFsPath } from "./raw-path.ts";

/**
 * Writes `content` to the raw path `path` atomically with the given mode (default 0644, whatever
 * the umask). On any error the previous file stays as it was, the temporary file is removed,
 * and a CliError naming `path` is thrown.
 */
export async function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  const directory = dirname(path);

  // A leading dot and a suffix other than the target's keep collectors that read `*.prom`
  // from picking up the half-written file.
  const temporaryPath = `${directory}/.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;

  let created = false;
  try {
    const handle = await fsp.open(toFsPath(temporaryPath), "wx", mode);
    created = true;
    try {
      await handle.writeFile(content);
      // The mode given to open() is reduced by the umask; node_exporter and web servers need
      // to read the file whatever user they run as.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }

    await fsp.rename(toFsPath(temporaryPath), toFsPath(path));
    created = false;
  } catch (error) {
    if (created) await fsp.rm(toFsPath(temporaryPath), { force: true }).catch(() => undefined);
    throw new CliError(`cannot write ${displayPath(path)}: ${describeError(error)}`);
  }

  // Flush the directory entry too, so that the rename survives a crash. Some file systems
  // cannot fsync a directory; the file itself is already complete then.
  try {
    const directoryHandle = await fsp.open(toFsPath(directory), "r");
    try {
      await directoryHandle.sync();
    } finally {
      await directoryHandle.close();
    }
  } catch {
    // Nothing to undo: the new file is in place.
  }
}
