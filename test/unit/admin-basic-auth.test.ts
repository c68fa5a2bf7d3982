// Admin basic auth (issue 10): the scheme is case-insensitive, and credentials are compared as
// digests, so a guess of another length is refused the same way as one of the same length.
import test from 'ava';
import { BasicAuth } from '../../src/admin/basic-auth.ts';

const header = (scheme: string, credentials: string) => `${scheme} ${Buffer.from(credentials).toString('base64')}`;
const auth = new BasicAuth('prom', 's3cret-pass');

test('the configured credentials pass with any case of the scheme (RFC 9110 §11.1)', (t) => {
  for (const scheme of ['Basic', 'basic', 'BASIC', 'bAsIc']) t.true(auth.check(header(scheme, 'prom:s3cret-pass')), scheme);
  t.true(auth.check(`  basic   ${Buffer.from('prom:s3cret-pass').toString('base64')}  `));
});

test('wrong credentials fail, whatever their length', (t) => {
  for (const credentials of ['prom:s3cret-pasS', 'prom:s3cret-pas', 'prom:s3cret-password-longer', 'prom:', ':s3cret-pass', 'Prom:s3cret-pass', '']) {
    t.false(auth.check(header('Basic', credentials)), credentials);
  }
});

test('missing, malformed or other-scheme headers fail', (t) => {
  t.false(auth.check(undefined));
  t.false(auth.check(''));
  t.false(auth.check('Basic'));
  t.false(auth.check(`Bearer ${Buffer.from('prom:s3cret-pass').toString('base64')}`));
  t.false(auth.check(`Basic ${Buffer.from('prom:s3cret-pass').toString('base64')} extra`));
  t.false(auth.check(`Basicx ${Buffer.from('prom:s3cret-pass').toString('base64')}`));
});

test('a password containing a colon is kept whole', (t) => {
  const colon = new BasicAuth('u', 'a:b:c');
  t.true(colon.check(header('Basic', 'u:a:b:c')));
  t.false(colon.check(header('Basic', 'u:a:b')));
});
