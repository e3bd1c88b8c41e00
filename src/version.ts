/** Version information, baked in by `bun build --define` (see the Makefile). */

import packageJson from "../package.json" with { type: "json" };

declare const BUILD_COMMIT: string | undefined;
declare const BUILD_TARGET: string | undefined;

export const VERSION: string = packageJson.version;
export const COMMIT: string = typeof BUILD_COMMIT === "string" ? BUILD_COMMIT : "unknown";
export const TARGET: string = typeof BUILD_TARGET === "string" ? BUILD_TARGET : `source (${process.platform}-${process.arch})`;

/** The `--version` line: `chatmail-maildir 0.1.0 (commit 1a2b3c4, linux-x64)`. */
export const VERSION_LINE = `chatmail-maildir ${VERSION} (commit ${COMMIT}, ${TARGET})`;
