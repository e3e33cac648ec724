// Which Host headers and Origins serve mode answers: exactly this server (name and port), no other
// page of the same machine, never `null`.
import { hostname, networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hostHeaderAllowed, networkNames, originAllowed, originOf, servedHostNames } from '../../../main/serve/origins.js';

describe('serve mode origins', () => {
  const loopback = servedHostNames('127.0.0.1');

  it('a loopback bind answers to the loopback names only', () => {
    expect([...loopback].sort()).toEqual(['127.0.0.1', '::1', 'localhost']);
    expect(networkNames(loopback)).toEqual([]);
  });

  it('a wildcard bind also answers to the host name and every interface address', () => {
    const all = servedHostNames('0.0.0.0');
    expect(all.has(hostname().toLowerCase())).toBe(true);
    for (const a of Object.values(networkInterfaces()).flatMap((l) => l ?? [])) expect(all.has(a.address.toLowerCase())).toBe(true);
    const one = servedHostNames('192.0.2.77');
    expect(one.has('192.0.2.77')).toBe(true);
    expect(networkNames(one)).toEqual(expect.arrayContaining(['192.0.2.77', hostname().toLowerCase()]));
  });

  it('a Host header must name a served host and the served port', () => {
    expect(hostHeaderAllowed('127.0.0.1:7878', loopback, 7878)).toBe(true);
    expect(hostHeaderAllowed('LOCALHOST:7878', loopback, 7878)).toBe(true);
    expect(hostHeaderAllowed('[::1]:7878', loopback, 7878)).toBe(true);
    expect(hostHeaderAllowed('127.0.0.1', loopback, 80)).toBe(true);
    for (const bad of [undefined, '', '127.0.0.1', '127.0.0.1:7879', 'evil.example:7878', '127.0.0.1:7878:1', '[::1', 'user@127.0.0.1:7878', '127.0.0.1:99999', '127.0.0.1.evil.example:7878']) {
      expect(hostHeaderAllowed(bad, loopback, 7878), String(bad)).toBe(false);
    }
  });

  it('an Origin must be absent (no browser) or exactly http://<served host>:<port>', () => {
    expect(originAllowed(undefined, loopback, 7878)).toBe(true);
    expect(originAllowed('http://127.0.0.1:7878', loopback, 7878)).toBe(true);
    expect(originAllowed('http://localhost:7878', loopback, 7878)).toBe(true);
    for (const bad of ['null', '', 'http://127.0.0.1:7879', 'http://127.0.0.1', 'https://127.0.0.1:7878', 'http://127.0.0.1:7878/', 'http://evil.example:7878', 'file://', 'http://[bad']) {
      expect(originAllowed(bad, loopback, 7878), bad).toBe(false);
    }
  });

  it('writes origins as a browser does', () => {
    expect(originOf('127.0.0.1', 7878)).toBe('http://127.0.0.1:7878');
    expect(originOf('::1', 7878)).toBe('http://[::1]:7878');
  });
});
