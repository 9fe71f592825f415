// Least privilege: once the TAP is open and in its bridge, the state directory prepared and the ports bound, a
// process started as root becomes an ordinary user (default nobody) with no capabilities and no_new_privs set.
// Every frame of the network is then parsed by a process that can do nothing root could.

import { accessSync, constants, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadTapNative } from './net/tap-native.ts';

/** The user a process started as root becomes when --user is not given. */
export const DEFAULT_USER = 'nobody';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export class PrivilegeError extends Error {}

/** A user by name or numeric uid, from /etc/passwd (Node looks up only the current user). */
export function lookupUser(user: string, passwd = '/etc/passwd'): PasswdEntry | undefined {
  let text = '';
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === undefined || uid === undefined || gid === undefined || name === '' || name.startsWith('#')) continue;
    if (name === user || (/^[0-9]+$/.test(user) && uid === user)) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** A group's name by gid, from /etc/group (the number itself when it has none). */
export function groupName(gid: number, group = '/etc/group'): string {
  try {
    for (const line of readFileSync(group, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name !== undefined && name !== '' && id === String(gid)) return name;
    }
  } catch {
    // no /etc/group: the number will do
  }
  return String(gid);
}

/** The capability sets and no_new_privs of this process, as /proc/self/status shows them. */
export function privilegeStatus(status = '/proc/self/status'): { uid: number; capEff: string; capPrm: string; noNewPrivs: boolean } {
  const text = readFileSync(status, 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  return {
    uid: Number(field('Uid').split(/\s+/)[1] ?? NaN),
    capEff: field('CapEff'),
    capPrm: field('CapPrm'),
    noNewPrivs: field('NoNewPrivs') === '1',
  };
}

export interface DropPlan {
  /** What --user asked for (undefined: the default). */
  user: string | undefined;
  /**
   * The service's own directories (the default state directory): made if missing and, with the files in them,
   * handed to the user before the drop. Never a directory given by the command line, which may be shared (/tmp).
   */
  owned: readonly string[];
  /** Directories written to later (the state directory): a warning if the user cannot. */
  writable: readonly string[];
  /** Directories (and the files in them) it reads later: checked after the drop. */
  readable: readonly string[];
  /** Files read again later (the TLS pair on SIGHUP): a warning if the user cannot. */
  rereadable: readonly string[];
}

export type DropOutcome =
  | { kind: 'dropped'; user: PasswdEntry; capsDropped: number; warnings: string[] }
  | { kind: 'kept-root'; warnings: string[] }
  /** Not root, but holding capabilities (file or ambient ones, CAP_NET_ADMIN for the TAP): those are dropped. */
  | { kind: 'caps-cleared'; warnings: string[] }
  | { kind: 'not-root'; warnings: string[] };

/**
 * Owns `dir` and its files (not deeper) by `user`, so that renames and rewrites keep working after the drop.
 * Only a real directory and regular files with one link are touched, and never through a link: the directory
 * belongs to that user after the first run, and a link planted there must not hand root's files over.
 */
function handOver(dir: string, user: PasswdEntry): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (!lstatSync(dir).isDirectory()) throw new PrivilegeError(`${dir} is not a directory`);
  lchownSync(dir, user.uid, user.gid);
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    if (st.isFile() && st.nlink === 1) lchownSync(p, user.uid, user.gid);
  }
}

/**
 * Drops root for good, by Linux's rules: no_new_privs and an empty bounding set (the native binding),
 * the user's groups, gid, then uid, which clears the permitted and effective capabilities. Throws
 * PrivilegeError with advice when the user is unknown or what the service reads is not readable by it.
 */
export function dropPrivileges(plan: DropPlan): DropOutcome {
  const warnings: string[] = [];
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    if (plan.user !== undefined && lookupUser(plan.user)?.uid !== process.getuid?.()) {
      throw new PrivilegeError(`--user ${plan.user} needs the process to start as root`);
    }
    const before = privilegeStatus();
    if (/^0+$/.test(before.capEff) && /^0+$/.test(before.capPrm)) return { kind: 'not-root', warnings };
    // Capabilities without root (setcap on node, ambient ones): the TAP is open, so they go. capset reaches
    // only the calling thread: threads started earlier (the TAP reader) keep theirs, which starting as root avoids.
    const native = loadTapNative();
    if (typeof native === 'string') {
      warnings.push(`capabilities ${before.capEff} kept: ${native}`);
      return { kind: 'not-root', warnings };
    }
    native.lockDown();
    native.clearCaps();
    const after = privilegeStatus();
    if (!/^0+$/.test(after.capEff)) throw new PrivilegeError(`the capabilities could not be dropped: CapEff ${after.capEff}`);
    warnings.push('capabilities dropped in the main thread only (threads started before keep theirs): start as root to drop them everywhere');
    return { kind: 'caps-cleared', warnings };
  }
  const wanted = plan.user ?? DEFAULT_USER;
  const user = lookupUser(wanted);
  if (user === undefined) throw new PrivilegeError(`--user ${wanted}: no such user in /etc/passwd`);
  if (user.uid === 0) {
    warnings.push(`running as root (--user ${wanted}): every frame from the network is parsed with root's privileges`);
    return { kind: 'kept-root', warnings };
  }
  for (const dir of plan.owned) handOver(dir, user);
  const native = loadTapNative();
  let capsDropped = 0;
  if (typeof native === 'string') warnings.push(`no_new_privs not set and the bounding set kept: ${native}`);
  else capsDropped = native.lockDown();
  process.setgroups?.([user.gid]); // no supplementary groups of root's left
  process.setgid?.(user.gid);
  process.setuid?.(user.uid);
  const after = privilegeStatus();
  if (after.uid !== user.uid || !/^0+$/.test(after.capEff)) {
    throw new PrivilegeError(`the privilege drop did not take: uid ${after.uid}, CapEff ${after.capEff}`);
  }
  for (const dir of plan.readable) {
    const problem = unreadable(dir);
    if (problem !== undefined) {
      throw new PrivilegeError(`${problem} is not readable by ${user.name} (uid ${user.uid}) after the privilege drop: make it readable by that user (e.g. chgrp -R ${groupName(user.gid)} and chmod -R g+rX), or choose another --user`);
    }
  }
  for (const dir of plan.writable) {
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
    } catch {
      warnings.push(`${dir} is not writable by ${user.name}: leases will not be remembered across restarts; chown it to ${user.name}`);
    }
  }
  for (const file of plan.rereadable) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      warnings.push(`${file} is not readable by ${user.name}: a reload (SIGHUP) cannot read it; make it readable by that user (e.g. chgrp ${groupName(user.gid)} and chmod 640)`);
    }
  }
  return { kind: 'dropped', user, capsDropped, warnings };
}

/** The first of `dir`'s parents, `dir` and its files that cannot be entered, listed or read, if any. */
function unreadable(dir: string): string | undefined {
  const full = path.resolve(dir);
  const parts = full.split(path.sep).filter((p) => p !== '');
  for (let i = 1; i < parts.length; i++) {
    const parent = path.sep + parts.slice(0, i).join(path.sep);
    try {
      accessSync(parent, constants.X_OK);
    } catch {
      return `${parent} (above ${dir})`;
    }
  }
  try {
    accessSync(full, constants.R_OK | constants.X_OK);
  } catch {
    return dir;
  }
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    try {
      if (statSync(p).isFile()) accessSync(p, constants.R_OK);
    } catch {
      return p;
    }
  }
  return undefined;
}
