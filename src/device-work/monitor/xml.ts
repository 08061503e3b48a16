/**
 * Just enough XML for telephony notifications (device-protocols §2.1): elements, attributes,
 * text and the five predefined entities. No DTDs, no external entities, bounded depth, so a
 * hostile body cannot make it do more than read.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

export class XmlError extends Error {}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const decode = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e] ?? m;
  });

export function parseXml(input: string, maxDepth = 16): XmlElement {
  let i = 0;
  const s = input;
  const skipMisc = () => {
    for (;;) {
      while (i < s.length && /\s/.test(s[i]!)) i++;
      if (s.startsWith('<?', i)) i = expectEnd(s.indexOf('?>', i), 2);
      else if (s.startsWith('<!--', i)) i = expectEnd(s.indexOf('-->', i), 3);
      else if (s.startsWith('<!', i)) throw new XmlError('DTDs are not accepted');
      else return;
    }
  };
  const expectEnd = (at: number, len: number) => {
    if (at < 0) throw new XmlError('unterminated markup');
    return at + len;
  };
  const element = (depth: number): XmlElement => {
    if (depth > maxDepth) throw new XmlError('nested too deep');
    if (s[i] !== '<') throw new XmlError(`expected an element at offset ${i}`);
    const m = /^<([A-Za-z_][\w.-]*)/.exec(s.slice(i, i + 256));
    if (!m) throw new XmlError(`bad element name at offset ${i}`);
    const el: XmlElement = { name: m[1]!, attrs: {}, children: [], text: '' };
    i += m[0].length;
    for (;;) {
      while (i < s.length && /\s/.test(s[i]!)) i++;
      if (s.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (s[i] === '>') {
        i++;
        break;
      }
      const a = /^([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(s.slice(i, i + 4096));
      if (!a) throw new XmlError(`bad attribute in <${el.name}> at offset ${i}`);
      el.attrs[a[1]!] = decode(a[3] ?? a[4] ?? '');
      i += a[0].length;
    }
    for (;;) {
      const lt = s.indexOf('<', i);
      if (lt < 0) throw new XmlError(`<${el.name}> is not closed`);
      el.text += decode(s.slice(i, lt));
      i = lt;
      if (s.startsWith('</', i)) {
        const close = `</${el.name}`;
        if (!s.startsWith(close, i)) throw new XmlError(`mismatched closing tag for <${el.name}> at offset ${i}`);
        i = expectEnd(s.indexOf('>', i), 1);
        el.text = el.text.trim();
        return el;
      }
      if (s.startsWith('<!--', i)) {
        i = expectEnd(s.indexOf('-->', i), 3);
        continue;
      }
      if (s.startsWith('<![CDATA[', i)) {
        const end = expectEnd(s.indexOf(']]>', i), 3);
        el.text += s.slice(i + 9, end - 3);
        i = end;
        continue;
      }
      el.children.push(element(depth + 1));
    }
  };
  skipMisc();
  const root = element(0);
  skipMisc();
  if (i < s.length) throw new XmlError('content after the root element');
  return root;
}
