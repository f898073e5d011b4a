export * from './binaries.ts';
export * from './control-plane.ts';
export * from './kubectl.ts';
export * from './node-registration.ts';
