import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type forge from 'node-forge';
import { errorMessage } from '../errors.js';
import { PfxLoadError } from './errors.js';

/** What a PFX holds, in Node's own types: certificates in file order and the private key. */
export interface PfxContents {
  readonly certs: readonly X509Certificate[];
  readonly key: KeyObject;
}

let forgeModule: typeof forge | undefined;

/**
 * node-forge is loaded on first use (about 10 MB of code): a relay with an installed PEM
 * or a stored self-signed stand-in never opens a PFX after start-up. It is CommonJS, so a
 * synchronous require keeps readPfx synchronous for its callers (frame handlers, the CLI).
 */
function nodeForge(): typeof forge {
  forgeModule ??= createRequire(import.meta.url)('node-forge') as typeof forge;
  return forgeModule;
}

/** The command that turns PEM files (certificate, key, chain) into the PFX the relay takes. */
export const PEM_TO_PFX_COMMAND = 'openssl pkcs12 -export -in cert.pem -inkey key.pem -certfile chain.pem -out relay.pfx';

/**
 * The label of the first PEM block (`CERTIFICATE`, `PRIVATE KEY`…) when the data is PEM text:
 * a PEM file is the most common wrong file, and DER parsing would only say "corrupt".
 */
export function pemLabel(data: Buffer): string | undefined {
  const head = data
    .subarray(0, 4096)
    .toString('latin1')
    .replace(/^\uFEFF/, '');
  return /^\s*(?:[^\n]*\n)*?-----BEGIN ([A-Z0-9 ]+)-----/.exec(head)?.[1];
}

function pemIsNotPfx(label: string): string {
  const what = label === 'CERTIFICATE' || label === 'TRUSTED CERTIFICATE' ? 'a PEM certificate' : `a PEM file (${label})`;
  return `this is ${what}, not a PFX (PKCS#12) file; make a PFX from the certificate, its private key and the chain with: ${PEM_TO_PFX_COMMAND}`;
}

const WRONG_PASSPHRASE = /MAC could not be verified|Invalid password|wrong password|Unable to decrypt/i;

function derOf(asn1: forge.asn1.Asn1): Buffer {
  return Buffer.from(nodeForge().asn1.toDer(asn1).getBytes(), 'binary');
}

/**
 * Opens a PKCS#12 file with node-forge rather than OpenSSL: Node's OpenSSL 3 rejects the
 * RC2-40 and 3DES encryption that older Windows and OpenSSL exports still use ("unsupported"),
 * while forge reads them all. The result is converted to Node key/certificate objects, so
 * TLS contexts are built from PEM and never depend on the PFX's cipher.
 */
export function readPfx(data: Buffer, passphrase: string): PfxContents {
  const pem = pemLabel(data);
  if (pem) throw new PfxLoadError('PFX_IS_PEM', pemIsNotPfx(pem));
  const forge = nodeForge();
  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(forge.util.createBuffer(data.toString('binary')), false);
  } catch (err) {
    throw new PfxLoadError('PFX_CORRUPT', `the file is not a PFX/PKCS#12 file or is damaged (${errorMessage(err)})`);
  }
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, passphrase);
  } catch (err) {
    const msg = errorMessage(err);
    if (WRONG_PASSPHRASE.test(msg)) {
      throw new PfxLoadError('PFX_WRONG_PASSPHRASE', 'the passphrase is wrong for this PFX file');
    }
    throw new PfxLoadError('PFX_CORRUPT', `the PFX file cannot be read: ${msg}`);
  }

  const certs: X509Certificate[] = [];
  const keys: KeyObject[] = [];
  try {
    for (const safe of p12.safeContents) {
      for (const bag of safe.safeBags) {
        const raw = (bag as { asn1?: forge.asn1.Asn1 }).asn1;
        if (bag.type === forge.pki.oids.certBag) {
          // forge parses RSA certificates only; others come back as raw ASN.1.
          const der = bag.cert ? derOf(forge.pki.certificateToAsn1(bag.cert)) : raw ? derOf(raw) : undefined;
          if (der) certs.push(new X509Certificate(der));
        } else if (bag.type === forge.pki.oids.pkcs8ShroudedKeyBag || bag.type === forge.pki.oids.keyBag) {
          if (bag.key) keys.push(createPrivateKey(forge.pki.privateKeyToPem(bag.key)));
          else if (raw) keys.push(createPrivateKey({ key: derOf(raw), format: 'der', type: 'pkcs8' }));
        }
      }
    }
  } catch (err) {
    throw new PfxLoadError('PFX_CORRUPT', `the PFX opened but a certificate or key in it is damaged: ${errorMessage(err)}`);
  }
  if (certs.length === 0) throw new PfxLoadError('PFX_NO_CERTIFICATE', 'the PFX holds no certificate');
  if (keys.length === 0) throw new PfxLoadError('PFX_NO_KEY', 'the PFX holds no private key (export it again "with the private key")');
  if (keys.length > 1) throw new PfxLoadError('PFX_SEVERAL_KEYS', `the PFX holds ${keys.length} private keys; export only the relay's certificate with its key`);
  return { certs, key: keys[0]! };
}
