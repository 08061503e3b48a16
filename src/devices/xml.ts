import { createRequire } from 'node:module';
import type * as FastXmlParser from 'fast-xml-parser';
import type { XMLParser } from 'fast-xml-parser';
import { RelayError } from '../errors.js';

/**
 * Every XML document the relay reads from a phone goes through here (Polycom telephony
 * notifications today, OpenStage WorkpointMessages next). Phones are on the LAN and not
 * authenticated, so a body is treated as hostile: its size is bounded, a DOCTYPE is refused
 * outright (no internal or external entities, so no expansion and no file reads), nesting
 * is bounded, and only the five predefined entities and character references are decoded.
 */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Text directly inside the element (CDATA included), trimmed. */
  readonly text: string;
}

export type XmlErrorCode =
  | 'XML_TOO_LARGE' // the body exceeds the bound the caller set
  | 'XML_DTD_REFUSED' // a DOCTYPE: refused so that no entity can be declared
  | 'XML_TOO_DEEP' // nested deeper than the caller allows
  | 'XML_MALFORMED'; // not well-formed XML (the parser's reason, line and column)

export class XmlError extends RelayError {
  declare readonly code: XmlErrorCode;
  constructor(code: XmlErrorCode, message: string) {
    super(code, message);
  }
}

export interface XmlLimits {
  /** Largest document in UTF-8 bytes (default 64 KiB). */
  readonly maxBytes?: number;
  /** Deepest element nesting, the root being depth 0 (default 16). */
  readonly maxDepth?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024;
const DEFAULT_MAX_DEPTH = 16;

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
/** One pass, so `&amp;lt;` stays `&lt;`; an unknown name is left as written. */
const decode = (s: string): string =>
  s.includes('&')
    ? s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
        if (e[0] === '#') {
          const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
          return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
        }
        return PREDEFINED[e] ?? m;
      })
    : s;

const TEXT = '#text';
const ATTRS = ':@';
const CDATA = '#cdata';

/**
 * fast-xml-parser does the tokenising; its own entity handling is off (decoding is the single
 * pass above), values stay strings (a MAC like 0004f2… must not become a number), and the
 * document order of children is kept so callers can count and name them. It is loaded on the
 * first document, not at start: a relay that never hears XML from a phone does not keep the
 * parser's code in memory.
 */
let fxp: { parser: XMLParser; validate: (typeof FastXmlParser.XMLValidator)['validate'] } | undefined;
function xmlLibrary(): NonNullable<typeof fxp> {
  if (fxp) return fxp;
  const lib = createRequire(import.meta.url)('fast-xml-parser') as typeof FastXmlParser;
  fxp = { parser: new lib.XMLParser(PARSER_OPTIONS), validate: (text, opts) => lib.XMLValidator.validate(text, opts) };
  return fxp;
}

const PARSER_OPTIONS: ConstructorParameters<typeof XMLParser>[0] = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: CDATA,
  // One more than any caller allows, so the depth check below gives the clearer message.
  maxNestedTags: 64,
};

type Node = Record<string, unknown>;

function toElement(node: Node, depth: number, maxDepth: number): XmlElement | undefined {
  const name = Object.keys(node).find((k) => k !== ATTRS);
  if (name === undefined || name === TEXT || name === CDATA) return undefined;
  if (depth > maxDepth) throw new XmlError('XML_TOO_DEEP', `elements nested deeper than ${maxDepth} levels`);
  const rawAttrs = (node[ATTRS] ?? {}) as Record<string, unknown>;
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawAttrs)) attrs[k] = decode(String(v));
  const children: XmlElement[] = [];
  let text = '';
  for (const child of (node[name] ?? []) as Node[]) {
    if (TEXT in child) text += decode(String(child[TEXT]));
    else if (CDATA in child) text += ((child[CDATA] ?? []) as Node[]).map((c) => String(c[TEXT] ?? '')).join('');
    else {
      const el = toElement(child, depth + 1, maxDepth);
      if (el) children.push(el);
    }
  }
  return { name, attrs, children, text: text.trim() };
}

/** Parses one document with a single root element; throws an XmlError saying why not. */
export function parseXml(input: string | Buffer, limits: XmlLimits = {}): XmlElement {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > maxBytes) throw new XmlError('XML_TOO_LARGE', `document is ${size} bytes, over the limit of ${maxBytes}`);
  const text = typeof input === 'string' ? input : input.toString('utf8');
  if (/<!DOCTYPE/i.test(text)) throw new XmlError('XML_DTD_REFUSED', 'DTDs are not accepted (a DOCTYPE could declare entities)');
  const { parser, validate } = xmlLibrary();
  const valid = validate(text);
  if (valid !== true) throw new XmlError('XML_MALFORMED', `malformed XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`);
  let nodes: Node[];
  try {
    nodes = parser.parse(text) as Node[];
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/nested/i.test(msg)) throw new XmlError('XML_TOO_DEEP', `elements nested deeper than ${limits.maxDepth ?? DEFAULT_MAX_DEPTH} levels`);
    throw new XmlError('XML_MALFORMED', `malformed XML: ${msg}`);
  }
  const roots = nodes.map((n) => toElement(n, 0, limits.maxDepth ?? DEFAULT_MAX_DEPTH)).filter((e): e is XmlElement => e !== undefined);
  // The validator lets text after the root through; a document ends with its root's last '>'.
  const stray = nodes.some((n) => TEXT in n && String(n[TEXT]).trim() !== '') || !text.trimEnd().endsWith('>');
  if (roots.length === 0) throw new XmlError('XML_MALFORMED', 'no root element');
  if (roots.length > 1 || stray) throw new XmlError('XML_MALFORMED', 'content after the root element');
  return roots[0]!;
}
