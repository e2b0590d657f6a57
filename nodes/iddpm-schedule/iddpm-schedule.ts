/**
 * Schedule node: the noise schedule β_1..β_T (linear, or the paper's cosine schedule, eq. 17) as msg.iddpm.schedule.
 * Standalone (msg.topic "tables" or the "emit tables" setting) it sends the derived tables for charting instead.
 */
import type { ScheduleSpec } from '../../engine/spec';
import { checkLinearSteps, shown } from '../shared/rules';
import { describeIssue } from '../shared/i18n';
import { registerComponent, setting, UserError } from '../shared/component';
import { showReady } from '../shared/status';
import type { NodeDef, NodeMessage, Red } from '../shared/red';
import catalog from './locales/en-US/iddpm-schedule.json';

const TYPE = 'iddpm-schedule';

/** msg.schedule may be a kind ("cosine") or a partial spec ({ kind, steps, cosineS, maxBeta }). */
function scheduleOverrides(msg: NodeMessage | undefined): NodeMessage | undefined {
  if (!msg || msg.schedule === undefined) return msg;
  const s = msg.schedule;
  if (typeof s === 'string') return { ...msg, kind: s };
  if (typeof s !== 'object' || s === null || Array.isArray(s)) {
    throw new UserError(describeIssue('msg.schedule', { key: 'notObject', params: { got: shown(s) } }));
  }
  return { ...msg, ...(s as Record<string, unknown>), steps: msg.steps ?? (s as Record<string, unknown>).steps };
}

export function buildSchedule(config: NodeDef, msg: NodeMessage | undefined): ScheduleSpec {
  const m = scheduleOverrides(msg);
  const kind = setting(TYPE, 'kind', config, m);
  const steps = setting(TYPE, 'steps', config, m);
  const linear = checkLinearSteps(kind, steps);
  if (linear) throw new UserError(describeIssue('steps', linear));
  if (kind === 'linear') return { kind, steps };
  return { kind, steps, cosineS: setting(TYPE, 'cosineS', config, m), maxBeta: setting(TYPE, 'maxBeta', config, m) };
}

export default function (RED: Red): void {
  registerComponent(RED, {
    type: TYPE,
    part: 'schedule',
    catalog,
    build: buildSchedule,
    summary: (s, t) => t('status.summary', { kind: s.kind, steps: s.steps }),
    standalone({ node, msg, spec, config, t, engine }) {
      if (msg.topic !== 'tables' && config.emitTables !== true) return undefined;
      return engine()
        .schedule(spec)
        .then((tables) => {
          showReady(node, t('status.tables', { kind: spec.kind, steps: spec.steps }));
          return { ...msg, payload: tables, schedule: spec };
        });
    },
  });
}
