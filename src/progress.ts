/**
 * A progress line on stderr for interactive runs. It is drawn only when stderr is a terminal,
 * so timers and Dovecot's script service, which capture stderr, never get it in their logs.
 */

export interface Progress {
  /** Shows `done` of `total` items; redraws at most five times a second. */
  update(done: number, total: number): void;
  /** Erases the line if it is drawn, so that a log line can follow; the next update redraws it. */
  clear(): void;
  /** Clears the line. */
  finish(): void;
}

/** The part of a stream the progress line needs; process.stderr fits. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

const REDRAW_INTERVAL_MS = 200;

/** A progress line that draws nothing, for runs with -q. */
export const NO_PROGRESS: Progress = { update() {}, clear() {}, finish() {} };

/**
 * Creates a progress line such as "fsreport: 120/3000 mailboxes"; a no-op unless `stream` is a
 * terminal. `clock` returns milliseconds.
 */
export function createProgress(
  label: string,
  unit: string,
  stream: ProgressStream = process.stderr,
  clock: () => number = Date.now,
): Progress {
  if (!stream.isTTY) return NO_PROGRESS;

  let lastDraw = 0;
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write("\r\x1b[K");
    drawn = false;
  };

  return {
    update(done, total) {
      const now = clock();
      if (now - lastDraw < REDRAW_INTERVAL_MS && done < total) return;
      lastDraw = now;
      drawn = true;
      stream.write(`\r\x1b[K${label}: ${done}/${total} ${unit}`);
    },
    clear,
    finish: clear,
  };
}
