// Re-parses only the documents of a file that changed. The text is cut at its document
// markers (`---` at the start of a line, which YAML never allows inside a document), and each
// piece's parsed, validated and narrowed documents are remembered by the piece's digest: an
// edit to one route of a 10,000-route file parses one document, not 30,000, and hands back the
// very same objects for the rest (so the file source can tell unchanged objects by identity).
// A digest rather than the piece's text: the texts kept the whole file in memory for as long
// as the router ran (760 bytes per route at 10k routes); the digests of 30,000 pieces take
// ~10 ms per reload.
//
// Files whose meaning could span pieces — directives (`%YAML`), document end markers (`...`) —
// are parsed whole, as before. Parsing piece by piece also lowers the start-up peak: each
// document's parse garbage dies young instead of the whole file's raw tree living at once.

import { hash } from 'node:crypto';
import { narrowObject } from '../objects/narrow.ts';
import { objectKey } from '../objects/types.ts';
import { FILE_LIMITS, FileParseError, parseObjectFile, type FileDocument } from './file-documents.ts';

const CONTENT_LINE = /^[ \t]*[^\s#]/m;

export class FileDocumentCache {
  /** The pieces of the last text, in order, with their parsed documents (relative positions). */
  #pieces: ParsedPiece[] = [];

  /** Counters for tests and logs: pieces parsed and reused by the last call. */
  parsed = 0;
  reused = 0;

  /** Like parseObjectFile(text), re-parsing only pieces not seen in the previous call. */
  parse(text: string): FileDocument[] {
    if (text.length > FILE_LIMITS.maxBytes) throw new FileParseError(`file larger than ${FILE_LIMITS.maxBytes} bytes`);
    const pieces = splitDocuments(text);
    const old = this.#pieces;
    const next = new Array<ParsedPiece>(pieces.length);
    const documents: FileDocument[] = [];
    this.parsed = 0;
    this.reused = 0;
    // Walk the old pieces alongside the new ones (an edit changes a few in place; an insertion
    // or removal shifts the rest), comparing texts: far cheaper than hashing every piece.
    let j = 0;
    for (let p = 0; p < pieces.length; p++) {
      const piece = pieces[p]!;
      const digest = digestOf(piece.text);
      let parsed: ParsedPiece | undefined;
      for (let k = 0; k <= REALIGN_WINDOW && j + k < old.length; k++) {
        if (old[j + k]!.digest === digest) {
          parsed = old[j + k]!;
          j += k + 1;
          break;
        }
      }
      if (parsed) {
        this.reused++;
      } else {
        parsed = parsePiece(piece, text, digest); // changed or inserted: the next piece is compared with old[j] again
        this.parsed++;
      }
      next[p] = parsed;
      const relative = parsed.relative;
      const own = parsed.documents;
      if (!Array.isArray(own)) documents.push(at(own, piece.document, 0));
      else for (let i = 0; i < own.length; i++) documents.push(at(own[i]!, piece.document, relative === null ? 0 : relative[i]!));
    }
    this.#pieces = next; // pieces gone from the file are forgotten with the old text
    return documents;
  }
}

/** How many old pieces a new one is compared with before it counts as changed (removals in a row). */
const REALIGN_WINDOW = 16;

/**
 * A piece's digest, its documents and each one's document index relative to the piece (null
 * when all are 0: one document, or one List — every piece cut at a marker). Kept for every
 * document of the file, so kept small: one object, arrays of exactly their length, and a
 * piece's one document at index 0 (nearly every piece) itself, not in an array (56 bytes).
 */
interface ParsedPiece { digest: string; documents: FileDocument | FileDocument[]; relative: number[] | null }

/**
 * A text's MD5 as a 16-character one-byte string (32 bytes on the heap), made without a Buffer:
 * equal texts, equal digests; shares nothing with the text. Change detection in a file the
 * operator writes, not a security boundary, so the fastest 128-bit digest Node has. Going
 * through a Buffer (30,000 per reload of a 10k-route file) brought a full collection every
 * ~5 edits: propagation p99 265 ms, against 210 ms this way (bench:scale, file, 10k routes).
 */
export function digestOf(text: string | Uint8Array): string {
  return hash('md5', text, 'binary');
}

interface Piece { text: string; /** index of its document in the file */ document: number; /** where it starts in the file */ offset: number }

/** The text cut before each document marker; a single piece when the file needs whole-file parsing. */
export function splitDocuments(text: string): Piece[] {
  if (needsWholeFile(text)) return [{ text, document: 0, offset: 0 }];
  // indexOf rather than a multi-line regex: this runs on every reload of a large file.
  const starts: number[] = [0];
  for (let i = text.startsWith('---') ? 0 : text.indexOf('\n---'); i !== -1; i = text.indexOf('\n---', i + 4)) {
    const start = i === 0 && text.startsWith('---') ? 0 : i + 1;
    if (start > 0 && isMarkerEnd(text, start + 3)) starts.push(start);
  }
  const pieces: Piece[] = [];
  let document = 0;
  for (let i = 0; i < starts.length; i++) {
    const end = starts[i + 1] ?? text.length;
    if (i === 0 && end === 0) continue; // the file starts with a marker
    const pieceText = text.slice(starts[i], end);
    pieces.push({ text: pieceText, document, offset: starts[i]! });
    // A piece that starts with a marker is one document; text before the first marker is
    // one only when it has content (YAML ignores leading blank lines and comments).
    if (pieceText.startsWith('---') || CONTENT_LINE.test(pieceText)) document++;
  }
  return pieces;
}

function isMarkerEnd(text: string, at: number): boolean {
  if (at >= text.length) return true;
  const c = text.charCodeAt(at);
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Directives (`%YAML`) and document end markers (`...`) tie pieces together: parse whole. */
function needsWholeFile(text: string): boolean {
  if (text.startsWith('%') || (text.startsWith('...') && isMarkerEnd(text, 3))) return true;
  if (text.includes('\n%')) return true;
  for (let i = text.indexOf('\n...'); i !== -1; i = text.indexOf('\n...', i + 4)) if (isMarkerEnd(text, i + 4)) return true;
  return false;
}

/** 0-based line of an offset (only computed for an error message). */
function lineAt(text: string, offset: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** A piece's documents, positions relative to the piece; parse errors point into the file. */
function parsePiece(piece: Piece, file: string, digest: string): ParsedPiece {
  let documents: FileDocument[];
  try {
    documents = parseObjectFile(piece.text);
  } catch (err) {
    if (!(err instanceof FileParseError)) throw err;
    const reason = err.reason.replace(/^document \d+ /, `document ${piece.document} `);
    throw new FileParseError(reason, err.line === undefined ? undefined : err.line + lineAt(file, piece.offset), err.column);
  }
  for (const doc of documents) {
    if (!doc.result.ok) continue;
    // Detached first: the interner then hands out the very strings the stored object keeps.
    const kind = doc.result.kind;
    const object = narrowObject(kind, detached(doc.result.object));
    // Literals, not spreads: a spread-made object keeps its fields in a separate properties array.
    doc.result = { ok: true, kind, object };
    if (doc.identity) doc.identity = { kind: doc.identity.kind, key: objectKey(kind, object.metadata) };
  }
  const relative = documents.some((d) => d.document !== 0) ? documents.map((d) => d.document) : null;
  if (documents.length === 1 && relative === null) return { digest, documents: documents[0]!, relative };
  // slice(): an exact-length copy (the parser's push-grown array has room for 17).
  return { digest, documents: documents.slice(), relative };
}

/**
 * A copy that shares no string with the parser's input. js-yaml's scalars are slices of the
 * text it parsed, and V8 keeps a slice's whole parent alive: without this, one edited route kept
 * a copy of the entire file for as long as it was served (measured: 7 MB per edit at 10k routes).
 * Timestamps become their RFC 3339 strings, which every reader accepts.
 */
function detached<T>(object: T): T {
  return JSON.parse(JSON.stringify(object)) as T;
}

/**
 * The document placed at its index in the file. Updated in place: a cached document belongs to
 * one piece of the current text (a repeated piece is parsed afresh), and most keep their index.
 */
function at(doc: FileDocument, document: number, relative: number): FileDocument {
  const index = document + relative;
  if (doc.document !== index) doc.document = index;
  return doc;
}
