/**
 * The secure default of the migration engine: plain TCP only on loopback. A receiver that
 * listens, or a sender that connects, in plain TCP on any other address is refused unless
 * the caller says `insecure: true`; TLS (a socket handed in) is never checked here.
 *
 * Hosts are judged by their text alone, never by resolving them: a DNS answer can come
 * from off the machine and need not be the one the later connect gets. Loopback is an IPv4
 * address in 127.0.0.0/8, the IPv6 address ::1 (any spelling, with or without a zone),
 * an IPv4-mapped ::ffff:127.x.y.z, or the name `localhost` (RFC 6761 reserves it for
 * loopback, and every hosts file maps it so). Anything else — 0.0.0.0, ::, a LAN address, any other name even one that
 * /etc/hosts maps to 127.0.1.1 — is not. docs/MIGRATION.md, "Threat model".
 */
import * as net from 'node:net';
import { ErrorCodes, PagepressError } from '../errors';

/** True when `host` (an address or a name, as given to listen/connect) is a loopback one by the rule above. */
export function isLoopbackHost(host: string): boolean {
  if (typeof host !== 'string') return false;
  // Exactly what listen/connect will be given: no trimming, and `localhost.` is a DNS name like any other.
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  const bare = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  // A zone (fe80::1%eth0) says which interface; it does not change what the address is.
  const v6 = bare.replace(/%.*$/, '');
  if (!net.isIPv6(v6)) return false;
  // The URL parser writes IPv6 in one canonical form (RFC 5952: lower case, zeros compressed).
  const canonical = new URL(`http://[${v6}]/`).hostname;
  // ::ffff:127.x.y.z is an IPv4 loopback address carried in IPv6 (written ::ffff:7fxx:yyzz).
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

/**
 * Refuses plain TCP to or on a non-loopback `host` unless `insecure` is true, before any
 * socket exists. `what` names the caller in the message ('receive' listens, 'migrate'
 * connects).
 * @throws PagepressError PP_ERR_ARG
 */
export function checkPlainTcp(what: 'receive' | 'migrate', host: string, port: number, insecure: boolean | undefined): void {
  if (insecure === true || isLoopbackHost(host)) return;
  const at = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const risk =
    what === 'receive'
      ? 'anyone who reaches it could send a guest, and read or alter the one that arrives'
      : "the guest's memory would cross the network in the clear, to a receiver nobody authenticated";
  const tls = what === 'receive' ? 'receive({ socket }) with a socket from tlsAcceptOne()' : 'migrate(guest, { socket }) with a socket from tlsConnect()';
  throw new PagepressError(
    `${what}: plain TCP ${what === 'receive' ? 'on' : 'to'} ${at} refused: it is not a loopback address and ${risk}. ` +
      `Use TLS (${tls}), or pass options.insecure = true to allow plain TCP on a network you trust (docs/MIGRATION.md, "Threat model")`,
    ErrorCodes.ARG,
  );
}
