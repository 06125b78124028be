import test from 'ava';
import { parseAllowTarget } from '../../../src/infra/net/allowTarget.ts';
import { embeddedIPv4, ipv6Groups } from '../../../src/infra/net/embeddedIPv4.ts';
import { redactedUrl } from '../../../src/infra/net/redactedUrl.ts';
import { classifyRequestError } from '../../../src/webhooks/attemptError.ts';

test('a logged URL keeps scheme, host and port only', (t) => {
  t.is(
    redactedUrl('http://user:pass@hooks.example:8443/services/T0/B0/XYZ?token=SECRET#f'),
    'http://hooks.example:8443/…',
  );
  t.is(redactedUrl('https://hooks.example/'), 'https://hooks.example/');
  t.is(redactedUrl('https://hooks.example/?a=1'), 'https://hooks.example/…');
  t.is(redactedUrl('not a url'), '(not a URL)');
});

test('allow_targets entries: ranges, single addresses and host names; anything else is named', (t) => {
  t.deepEqual(parseAllowTarget('10.1.0.0/16'), {
    kind: 'range',
    network: '10.1.0.0',
    prefix: 16,
    family: 'ipv4',
  });
  t.deepEqual(parseAllowTarget('[fd00::1]'), {
    kind: 'range',
    network: 'fd00::1',
    prefix: 128,
    family: 'ipv6',
  });
  t.deepEqual(parseAllowTarget('192.168.1.20'), {
    kind: 'range',
    network: '192.168.1.20',
    prefix: 32,
    family: 'ipv4',
  });
  t.deepEqual(parseAllowTarget('Hooks.Internal.'), { kind: 'host', host: 'hooks.internal' });
  for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/x', 'http://x', 'a b', '', '-bad.example'])
    t.is(typeof parseAllowTarget(bad), 'string', bad);
});

test('IPv6 groups and the IPv4 addresses an IPv6 address embeds (RFC 4291, 6052, 3056, 4380 examples)', (t) => {
  t.deepEqual(ipv6Groups('::ffff:192.0.2.128'), [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280]);
  t.deepEqual(ipv6Groups('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1]);
  t.is(ipv6Groups('10.0.0.1'), null);
  const v4 = (a: string) => embeddedIPv4(a).map((e) => `${e.form} ${e.ipv4}`);
  t.deepEqual(v4('::ffff:7f00:1'), ['IPv4-mapped 127.0.0.1']);
  t.deepEqual(v4('::ffff:0:a00:1'), ['IPv4-translated 10.0.0.1']);
  t.deepEqual(v4('::7f00:1'), ['IPv4-compatible 127.0.0.1']);
  t.deepEqual(v4('64:ff9b::c000:221'), ['NAT64 192.0.2.33']);
  t.deepEqual(v4('2002:c000:0204::1'), ['6to4 192.0.2.4']);
  t.deepEqual(v4('2001:0:4136:e378:8000:63bf:3fff:fdd2'), ['Teredo 65.54.227.120', 'Teredo 192.0.2.45']);
  t.deepEqual(v4('2606:4700::1111'), []);
});

test('attempt errors are classed by code, with a message of our own', (t) => {
  const err = (code: string, message = 'whatever the target said') =>
    Object.assign(new Error(message), { code });
  t.deepEqual(classifyRequestError(err('ECONNREFUSED')), {
    error_class: 'connection_refused',
    error: 'connection refused (ECONNREFUSED)',
  });
  t.is(classifyRequestError(err('ENOTFOUND')).error_class, 'dns');
  t.is(
    classifyRequestError(
      err('ERR_TLS_CERT_ALTNAME_INVALID', "Host: x. is not in the cert's altnames: DNS:internal.corp"),
    ).error_class,
    'tls',
  );
  t.false(
    classifyRequestError(err('ERR_TLS_CERT_ALTNAME_INVALID', 'DNS:internal.corp')).error.includes(
      'internal.corp',
    ),
  );
  t.is(classifyRequestError(err('EWHATEVER')).error_class, 'network');
});
