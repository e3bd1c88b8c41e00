/** Reading the configuration files named on the command line: chatmail.ini and the settings file. */

import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";

import { rawFromUser, toFsPath } from "./raw-path.ts";

/** Device and inode number, which together identify a file whatever path names it. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

export interface ConfigFile {
  content: Buffer;
  identity: FileIdentity;
}

/**
 * Reads a whole configuration file given as a command-line path. A FIFO or device in its place
 * would block a plain read forever, so the file is opened non-blocking and must be a regular
 * file. Throws the fs error (EISDIR for a directory), or an Error "not a regular file".
 */
export function readConfigFile(path: string): ConfigFile {
  const fd = openSync(toFsPath(rawFromUser(path)), constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd, { bigint: true });
    if (stats.isDirectory()) throw Object.assign(new Error(`EISDIR: ${path}`), { code: "EISDIR" });
    if (!stats.isFile()) throw new Error("not a regular file");
    return { content: readFileSync(fd), identity: { dev: stats.dev, ino: stats.ino } };
  } finally {
    closeSync(fd);
  }
}
