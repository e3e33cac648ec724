// How a problem with one row, or with the whole file, is described to the user: always the file,
// the line and (when there is one) the field, and what was expected.

export type IssueKind =
  | 'bad-json'
  | 'not-an-object'
  | 'missing-field'
  | 'wrong-type'
  | 'bad-role'
  | 'empty-prompt'
  | 'empty-response'
  | 'over-context'
  | 'invalid-utf8'
  | 'row-too-long'
  | 'wrong-columns'
  | 'duplicate';

export interface RowIssue {
  /** 1-based line where the row starts. */
  line: number;
  kind: IssueKind;
  field?: string;
  message: string;
}

/** A problem that makes the whole file unreadable (not a JSON array, truncated, empty, ...). */
export class DataFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    detail: string,
  ) {
    super(line === null ? `${file}: ${detail}` : `${file} line ${line}: ${detail}`);
    this.name = 'DataFileError';
  }
}

export function formatIssue(file: string, issue: RowIssue): string {
  return `${file} line ${issue.line}: ${issue.message}`;
}

/** The path is no text data file at all (a folder, an image, a database): named for what it is. */
export class NotADataFileError extends DataFileError {
  constructor(file: string, what: string) {
    super(file, null, what);
    this.message = `${file} is ${what}`;
    this.name = 'NotADataFileError';
  }
}
