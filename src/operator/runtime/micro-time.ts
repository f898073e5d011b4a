/**
 * A metav1.MicroTime value (Lease acquireTime/renewTime): RFC 3339 with six
 * fractional digits. The API server refuses the three digits client-node
 * writes for a Date; client-node passes a string through unchanged, hence the
 * string typed as the Date its models declare.
 */
export function microTime(date: Date | string | undefined = new Date()): Date {
  return new Date(date).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}
