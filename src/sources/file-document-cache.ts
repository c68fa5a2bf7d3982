// Re-parses only the documents of a file that changed. The text is cut at its document
// markers (`---` at the start of a line, which YAML never allows inside a document), and each
// piece's parsed, validated and narrowed documents are remembered by the piece's text: an edit
// to one route of a 10,000-route file parses one document, not 30,000, and hands back the very
// same objects for the rest (so the file source can tell unchanged objects by identity).
//
// Files whose meaning could span pieces — directives (`%YAML`), document end markers (`...`) —
// are parsed whole, as before. Parsing piece by piece also lowers the start-up peak: each
// document's parse garbage dies young instead of the whole file's raw tree living at once.

import { narrowObject } from '../objects/narrow.ts';
import { FILE_LIMITS, FileParseError, parseObjectFile, type FileDocument } from './file-documents.ts';

const DOCUMENT_MARKER = /^---(?=[ \t\r\n]|$)/gm;
const WHOLE_FILE_SYNTAX = /^(?:%|\.\.\.(?:[ \t\r\n]|$))/m;
const CONTENT_LINE = /^[ \t]*[^\s#]/m;

export class FileDocumentCache {
  /** Documents of each piece of the last text (positions relative to the piece), by the piece's text. */
  #pieces = new Map<string, FileDocument[]>();

  /** Counters for tests and logs: pieces parsed and reused by the last call. */
  parsed = 0;
  reused = 0;

  /** Like parseObjectFile(text), re-parsing only pieces not seen in the previous call. */
  parse(text: string): FileDocument[] {
    if (text.length > FILE_LIMITS.maxBytes) throw new FileParseError(`file larger than ${FILE_LIMITS.maxBytes} bytes`);
    const pieces = splitDocuments(text);
    const next = new Map<string, FileDocument[]>();
    const documents: FileDocument[] = [];
    this.parsed = 0;
    this.reused = 0;
    for (const piece of pieces) {
      let parsed = next.has(piece.text) ? undefined : this.#pieces.get(piece.text);
      if (parsed) {
        this.reused++;
      } else {
        parsed = parsePiece(piece);
        this.parsed++;
      }
      if (!next.has(piece.text)) next.set(piece.text, parsed);
      // One document per piece after the first marker; the first piece holds one or none.
      for (const doc of parsed) documents.push(at(doc, piece.document));
    }
    this.#pieces = next; // pieces gone from the file are forgotten with the old text
    return documents;
  }
}

interface Piece { text: string; /** index of its document in the file */ document: number; /** 0-based line it starts on */ line: number }

/** The text cut before each document marker; a single piece when the file needs whole-file parsing. */
export function splitDocuments(text: string): Piece[] {
  if (WHOLE_FILE_SYNTAX.test(text)) return [{ text, document: 0, line: 0 }];
  const starts: number[] = [];
  for (const match of text.matchAll(DOCUMENT_MARKER)) starts.push(match.index);
  if (starts.length === 0 || starts[0] !== 0) starts.unshift(0);
  const pieces: Piece[] = [];
  let document = 0;
  let line = 0;
  for (let i = 0; i < starts.length; i++) {
    const pieceText = text.slice(starts[i], starts[i + 1] ?? text.length);
    pieces.push({ text: pieceText, document, line });
    // A piece that starts with a marker is one document; text before the first marker is
    // one only when it has content (YAML ignores leading blank lines and comments).
    if (pieceText.startsWith('---') || CONTENT_LINE.test(pieceText)) document++;
    line += countLines(pieceText);
  }
  return pieces;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** A piece's documents, positions relative to the piece; parse errors point into the file. */
function parsePiece(piece: Piece): FileDocument[] {
  let documents: FileDocument[];
  try {
    documents = parseObjectFile(piece.text);
  } catch (err) {
    if (!(err instanceof FileParseError)) throw err;
    const reason = err.reason.replace(/^document \d+ /, `document ${piece.document} `);
    throw new FileParseError(reason, err.line === undefined ? undefined : err.line + piece.line, err.column);
  }
  for (const doc of documents) {
    if (doc.result.ok) doc.result = { ...doc.result, object: narrowObject(doc.result.kind, doc.result.object) };
  }
  return documents;
}

/** The document placed at its index in the file (a cached document is shared, so copied). */
function at(doc: FileDocument, document: number): FileDocument {
  const index = document + doc.document;
  const placed: FileDocument = { ...doc, document: index, position: doc.item === undefined ? String(index) : `${index}.items[${doc.item}]` };
  return placed;
}
