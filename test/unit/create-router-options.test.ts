// createRouter's config is checked with the command line's option table (src/config.ts): an
// unknown key or a wrong type is refused naming it; what passes is what the router runs with.
import test from 'ava';
import { createRouter, ConfigError, MemorySource, type RouterConfig } from '../../src/index.ts';

const make = (config: Record<string, unknown>) => createRouter({ sources: [new MemorySource()], config: config as Partial<RouterConfig> });

test('an unknown key is refused, with the near keys when it looks like a typo', (t) => {
  t.throws(() => make({ bogusKey: 1 }), { instanceOf: ConfigError, message: /^config\.bogusKey: unknown option/ });
  t.throws(() => make({ httpport: 8080 }), { message: /config\.httpport: unknown option .*did you mean httpPort/ });
});

test('wrong types are refused naming the key, the flag and what was given', (t) => {
  t.throws(() => make({ drainTimeout: '1s' }), { message: 'config.drainTimeout: expected a duration in milliseconds (a number >= 0) (--drain-timeout), got "1s" (string)' });
  t.throws(() => make({ httpPort: '8080' }), { message: /config\.httpPort: expected an integer \(--http-port\)/ });
  t.throws(() => make({ httpPort: 70_000 }), { message: /config\.httpPort: expected an integer <= 65535/ });
  t.throws(() => make({ accessLog: 'yes' }), { message: /config\.accessLog: expected true or false/ });
  t.throws(() => make({ allowedDomains: 'a.example.com' }), { message: /config\.allowedDomains: expected an array of strings/ });
  t.throws(() => make({ loadBalanceAlgorithm: 'fastest' }), { message: /config\.loadBalanceAlgorithm: expected one of random, roundrobin, leastconn, source/ });
  t.throws(() => make({ serverTimeout: -1 }), { message: /config\.serverTimeout: expected a duration/ });
});

test('what holds between options holds here too', (t) => {
  t.throws(() => make({ statsPassword: 'secret' }), { message: /stats password is set but the stats username is empty/ });
  t.throws(() => make({ compressionMime: ['json'] }), { message: /--compression-mime: "json" is not a media type/ });
});

test('valid settings are taken as given; the rest are the defaults; embedded, workers is 0', (t) => {
  const router = make({ bind: '127.0.0.2', drainTimeout: 1500, allowedDomains: ['apps.example.com'], logLevel: 'silent' });
  t.is(router.config.drainTimeout, 1500);
  t.deepEqual(router.config.allowedDomains, ['apps.example.com']);
  t.is(router.config.workers, 0);
  t.is(router.config.adminBind, '127.0.0.2', 'derived as on the command line');
  t.is(router.config.httpPort, 80);
});
