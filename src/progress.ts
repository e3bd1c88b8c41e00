/**
 * A progress line on stderr for long runs, such as "expire-inactive: scanned 1200/5000 mailboxes".
 *
 * It is drawn only when stderr is a terminal: under systemd or in a pipe, carriage returns and
 * repaints would only clutter the journal. The line is redrawn at most a few times a second and
 * erased before any log line, so log lines never mix with it.
 */

/** Minimum time between two redraws, in milliseconds. */
const REDRAW_INTERVAL_MS = 200;

/** The part of a stream the progress line needs; process.stderr fits. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Sets the text of the line; it is drawn when the last redraw is long enough ago. */
  update(text: string): void;
  /** Erases the line if it is drawn; the next update draws it again. */
  clear(): void;
  /** Erases the line for good. */
  finish(): void;
}

const NO_PROGRESS: Progress = { update() {}, clear() {}, finish() {} };

/**
 * Creates a progress line on `stream`, or one that draws nothing when the stream is no terminal
 * or `enabled` is false. `clock` returns milliseconds.
 */
export function createProgress(
  enabled: boolean,
  stream: ProgressStream = process.stderr,
  clock: () => number = () => performance.now(),
): Progress {
  if (!enabled || !stream.isTTY) return NO_PROGRESS;

  let drawn = false;
  // A run shorter than one interval draws nothing at all.
  let lastDraw = clock();
  let finished = false;

  const clear = () => {
    if (!drawn) return;
    stream.write("\r\x1b[K");
    drawn = false;
  };

  return {
    update(text) {
      const now = clock();
      if (finished || now - lastDraw < REDRAW_INTERVAL_MS) return;
      lastDraw = now;
      stream.write(`\r\x1b[K${text}`);
      drawn = true;
    },
    clear,
    finish() {
      clear();
      finished = true;
    },
  };
}
