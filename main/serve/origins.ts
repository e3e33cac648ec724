// Which Host headers and Origins serve mode answers. A browser tricked into sending a request under
// another name (DNS rebinding) has the wrong Host; a page on another origin, even another port of
// 127.0.0.1 or a sandboxed iframe (`Origin: null`), has the wrong Origin. Both must name this server
// exactly: scheme, host and port.
import { hostname, networkInterfaces } from 'node:os';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1'];

export function isLoopbackBind(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.includes(h) || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function isWildcardBind(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/**
 * The names a client may use to reach a server bound to `bindHost`: the loopback names always (the
 * machine itself), and where the bind is not loopback also the machine's host name and the
 * addresses of its interfaces (all of them for a wildcard bind, else the one bound).
 */
export function servedHostNames(bindHost: string): Set<string> {
  const names = new Set(LOOPBACK_NAMES);
  const bind = bindHost.toLowerCase();
  if (isLoopbackBind(bind)) {
    names.add(bind);
    return names;
  }
  const machine = hostname().toLowerCase();
  if (machine) names.add(machine);
  if (isWildcardBind(bind)) {
    for (const addresses of Object.values(networkInterfaces())) {
      for (const a of addresses ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ''));
    }
  } else {
    names.add(bind);
  }
  return names;
}

/** The names other machines would use (for the warning printed at start): no loopback ones. */
export function networkNames(names: Set<string>): string[] {
  return [...names].filter((n) => !LOOPBACK_NAMES.includes(n) && !n.startsWith('fe80:') && !/^127\./.test(n));
}

interface HostPort {
  name: string;
  port: number;
}

/** `name[:port]` or `[v6][:port]`, port defaulting to 80; null for anything else. */
function parseHostPort(value: string): HostPort | null {
  const m = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9._-]+))(?::(\d{1,5}))?$/i.exec(value);
  if (!m) return null;
  const port = m[3] === undefined ? 80 : Number(m[3]);
  if (port > 65535) return null;
  return { name: (m[1] ?? m[2]!).toLowerCase(), port };
}

export function hostHeaderAllowed(hostHeader: string | undefined, names: Set<string>, port: number): boolean {
  if (!hostHeader) return false;
  const parsed = parseHostPort(hostHeader);
  return parsed !== null && parsed.port === port && names.has(parsed.name);
}

/**
 * No Origin at all is a non-browser client (curl, scripts, tests): allowed, the token still guards.
 * Anything else must be `http://<served name>:<port>`; `null` (sandboxed frames, file: pages) never.
 */
export function originAllowed(origin: string | undefined, names: Set<string>, port: number): boolean {
  if (origin === undefined) return true;
  const m = /^http:\/\/(.+)$/.exec(origin);
  return m !== null && hostHeaderAllowed(m[1], names, port);
}

/** `http://host:port` for a name as a browser writes it (IPv6 in brackets). */
export function originOf(name: string, port: number): string {
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}
