import { readFileSync } from 'node:fs';

/** Running, and not a zombie waiting for the container's init to reap it. */
export function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}
