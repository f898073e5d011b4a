/**
 * Create expectations, as Kubernetes' Job and ReplicaSet controllers keep them: an object a controller
 * created (a trainer pod, a schedule's run) is expected until the cache sees it, or until a timeout, and
 * its owner waits meanwhile. A cache that has not caught up with the create then never makes the owner
 * look as if it lacked the object, and create it twice.
 */
export class CreateExpectations {
  private readonly expected = new Map<string, { name: string; until: number }>();
  private readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  /** Before the create: the watch may deliver the object before the create call returns. */
  expect(owner: string, name: string): void {
    this.expected.set(owner, { name, until: Date.now() + this.timeoutMs });
  }

  /** The cache saw `name`, of `owner`: an expectation for it is met. */
  observed(owner: string, name: string | undefined): void {
    if (this.expected.get(owner)?.name === name) this.expected.delete(owner);
  }

  /** The create failed, or the owner is gone: nothing to wait for. */
  forget(owner: string): void {
    this.expected.delete(owner);
  }

  /** Whether `owner` still waits for an object its cache has not seen (and has not waited too long). */
  pending(owner: string): boolean {
    const expected = this.expected.get(owner);
    return expected !== undefined && expected.until > Date.now();
  }
}
