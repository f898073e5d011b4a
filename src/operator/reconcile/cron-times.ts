// Cron arithmetic of a FineTuneSchedule: which scheduled times are due now, how many were missed, and the
// next one, in the schedule's time zone (cron-parser), as CronJob's controller computes them.
import { CronExpressionParser } from 'cron-parser';
import type { FineTuneScheduleSpec } from '../../api/v1alpha1/index.ts';

/** Like CronJob: more missed times than this since the last run is reported, never run one by one. */
export const MAX_MISSED_TIMES = 100;

/** The scheduled times that matter now: the most recent one due and not run, how many were missed, and the next one. */
export function dueTimes(
  spec: Pick<FineTuneScheduleSpec, 'schedule' | 'timeZone' | 'startingDeadlineSeconds'>,
  lastScheduleTime: Date | undefined,
  created: Date,
  now: Date,
): { mostRecent?: Date; missed: number; next: Date } {
  let earliest = lastScheduleTime ?? created;
  let notBefore: Date | undefined;
  if (spec.startingDeadlineSeconds !== undefined) {
    // Times older than the deadline cannot run. The walk starts an hour earlier still: the parser maps a time
    // in a spring-forward gap (02:30 that day) to the hour after it only when it walks across the gap.
    notBefore = new Date(now.getTime() - spec.startingDeadlineSeconds * 1000);
    const from = new Date(notBefore.getTime() - 3600_000);
    if (from > earliest) earliest = from;
  }
  const options = { currentDate: earliest, ...(spec.timeZone ? { tz: spec.timeZone } : {}) };
  const times = CronExpressionParser.parse(spec.schedule.trim(), options);
  let mostRecent: Date | undefined;
  let missed = 0;
  for (let time = times.next().toDate(); ; time = times.next().toDate()) {
    if (time > now) return { ...(mostRecent ? { mostRecent } : {}), missed, next: time };
    if (notBefore && time < notBefore) continue;
    mostRecent = time;
    missed += 1;
    if (missed > MAX_MISSED_TIMES) break;
  }
  // Too many to walk: the most recent time before now, and the next one.
  const fromNow = () => CronExpressionParser.parse(spec.schedule.trim(), { ...options, currentDate: now });
  return { mostRecent: fromNow().prev().toDate(), missed, next: fromNow().next().toDate() };
}
