// Certificates for TLS tests, made with the openssl command line in a scratch folder.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * In `dir`: a CA (test-ca), a server certificate it signed for localhost and 127.0.0.1 (server), a client certificate
 * it signed (client), and a client certificate of another CA (stranger), each with its EC P-256 key, valid two days.
 * @returns {{file: (name: string) => string, ca: Buffer, client: {cert: Buffer, key: Buffer},
 *   stranger: {cert: Buffer, key: Buffer}}} `file('server.crt')` is a path in `dir`; the rest is PEM
 */
export function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  const ca = (name) => {
    key(name);
    openssl('req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-days', '2', '-out', `${name}.crt`);
  };
  const issue = (name, issuer, extensions) => {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial',
      '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  };
  ca('test-ca');
  ca('other-ca');
  issue('server', 'test-ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  issue('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const file = (name) => path.join(dir, name);
  const pem = (name) => fs.readFileSync(file(name));
  return {
    file,
    ca: pem('test-ca.crt'),
    client: { cert: pem('client.crt'), key: pem('client.key') },
    stranger: { cert: pem('stranger.crt'), key: pem('stranger.key') },
  };
}
