// The ways `switchyard autoport` can refuse to start, each with the exit code it ends with.
// Usage mistakes exit 2 (like most CLIs); anything that stops the start-up exits 1; a command
// that cannot be found exits 127, as a shell would.

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_COMMAND_NOT_FOUND = 127;

export class AutoportError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_FAILURE) {
    super(message);
    this.name = 'AutoportError';
    this.exitCode = exitCode;
  }
}

/** A bad flag or environment value; the message names the option. */
export class AutoportUsageError extends AutoportError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'AutoportUsageError';
  }
}

/** The range has fewer free ports than were asked for, after trying every one of them. */
export class PortRangeExhaustedError extends AutoportError {
  constructor(message: string) {
    super(message, EXIT_FAILURE);
    this.name = 'PortRangeExhaustedError';
  }
}

/** A template references a variable that is not in the environment. */
export class UnknownTemplateVariableError extends AutoportError {
  readonly variables: readonly string[];
  readonly file: string;
  constructor(variables: readonly string[], file: string) {
    const noun = variables.length === 1 ? 'variable' : 'variables';
    super(`${file}: unknown ${noun} ${variables.join(', ')}`, EXIT_FAILURE);
    this.name = 'UnknownTemplateVariableError';
    this.variables = variables;
    this.file = file;
  }
}

/** The pod could not be annotated with its ports before the deadline. */
export class PodReportError extends AutoportError {
  constructor(message: string) {
    super(message, EXIT_FAILURE);
    this.name = 'PodReportError';
  }
}
