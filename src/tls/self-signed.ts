/**
 * A stand-in certificate for the relay's FQDN when no PFX is configured, so the port comes
 * up; phones will not trust it without an admin's help (the caller says so, loudly).
 */
export async function generateSelfSigned(fqdn: string, now: Date): Promise<{ keyPem: string; certPem: string }> {
  // Loaded here, not at start: the stand-in is persisted, so only a first start or a
  // renewal needs the library (and its x509 dependencies, several MB of code).
  const { generate } = await import('selfsigned');
  const pems = await generate(
    [
      { name: 'commonName', value: fqdn },
      { name: 'organizationName', value: 'cloud-relay self-signed' },
    ],
    {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 3600_000),
      notAfterDate: new Date(now.getTime() + 397 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: fqdn }] },
      ],
    },
  );
  return { keyPem: pems.private, certPem: pems.cert };
}
