/**
 * The IDDPM sidebar in the editor (bundled with uPlot into iddpm/sidebar.js, window.IDDPMSidebar): one tab with
 * three views. Jobs: each training job's step of max, images/s, ETA, state and phase, pause / resume / stop, and
 * live charts of loss, mse and vb, the loss by timestep quartile, the loss (and L_t) over t — the paper's Figure 2 —
 * and the importance sampler's p_t over t with its uniform floor; the latest preview with x_t and x̂₀ on the way.
 * Sampling: the engine's queue, each request's step k of K and batch b of B, cancel. Models: every stored model.
 * Data comes from the plugin's admin endpoints and, live, from comms topics iddpm/jobs and iddpm/queue.
 */
import uplotCss from 'uplot/dist/uPlot.min.css';
import { COLOURS, LiveChart } from './charts';
import { SIDEBAR_CSS } from './style';
import type {
  JobStatus, JobUpdate, JobView, ModelSummary, PreviewView, SampleQueueEntry, TimestepCurves, TrainLogPoint,
} from './board';

/* eslint-disable @typescript-eslint/no-explicit-any */
// The editor's globals: jQuery and Node-RED's RED (the project has no DOM typings).
declare const $: any;
declare const RED: any;

type T = (key: string, params?: Record<string, unknown>) => string;
interface Plugin { _: T }

let t: T = (k) => k;

/** "1h 02m", "4m 05s", "12s". */
export function durationText(seconds: number): string {
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

const num = (v: number | undefined | null, digits = 4): string => (v === undefined || v === null || !Number.isFinite(v) ? '–' : Number(v.toPrecision(digits)).toString());
const el = (tag: string, cls?: string, text?: string): any => {
  const e = $(`<${tag}>`);
  if (cls) e.addClass(cls);
  if (text !== undefined) e.text(text);
  return e;
};
const button = (icon: string, title: string, action: string): any =>
  $('<button type="button" class="red-ui-button red-ui-button-small">').attr({ title, 'data-action': action }).append($('<i>').addClass(`fa ${icon}`));

/** Width available to a chart in the sidebar. */
function chartWidth(): number {
  return Math.max(180, ($('#red-ui-sidebar-content').width() || 320) - 28);
}

class JobCard {
  readonly root: any;
  private readonly charts: Record<'loss' | 'quartiles' | 'overT' | 'pt', LiveChart>;
  private history: TrainLogPoint[] = [];
  private curves?: TimestepCurves;
  private status: JobStatus;

  constructor(view: JobView) {
    this.status = view.status;
    this.root = el('div', 'iddpm-job').attr('data-name', view.name);
    const head = el('div', 'iddpm-job-head').appendTo(this.root);
    el('span', 'iddpm-job-name', view.name).appendTo(head);
    el('span', 'iddpm-job-state').appendTo(head);
    const buttons = el('span', 'iddpm-job-buttons').appendTo(head);
    buttons.append(button('fa-pause', t('jobs.pause'), 'pause'), button('fa-play', t('jobs.resume'), 'resume'), button('fa-stop', t('jobs.stop'), 'stop'));
    buttons.on('click', 'button', (e: any) => this.control($(e.currentTarget).attr('data-action')));
    el('div', 'iddpm-bar').append(el('div', 'iddpm-bar-fill')).appendTo(this.root);
    el('div', 'iddpm-job-stats').appendTo(this.root);
    el('div', 'iddpm-job-phase').appendTo(this.root);
    const chart = (cls: string): any => el('div', `iddpm-chart iddpm-chart-${cls}`).appendTo(this.root);
    const w = chartWidth();
    this.charts = {
      loss: new LiveChart(chart('loss')[0], { title: t('charts.loss'), xLabel: t('charts.step'), logY: true, series: [
        { label: 'loss', stroke: COLOURS.loss }, { label: 'mse', stroke: COLOURS.mse }, { label: 'vb', stroke: COLOURS.vb },
      ] }, w),
      quartiles: new LiveChart(chart('quartiles')[0], { title: t('charts.quartiles'), xLabel: t('charts.step'), logY: true, series:
        COLOURS.q.map((stroke, q) => ({ label: `q${q}`, stroke })) }, w),
      overT: new LiveChart(chart('overT')[0], { title: t('charts.overT'), xLabel: 't', logY: true, series: [
        { label: 'loss', stroke: COLOURS.loss }, { label: 'L_t (vb)', stroke: COLOURS.vb },
      ] }, w),
      pt: new LiveChart(chart('pt')[0], { title: t('charts.pt'), xLabel: 't', logY: true, series: [
        { label: 'p_t', stroke: COLOURS.p, width: 2 }, { label: t('charts.floor'), stroke: COLOURS.floor, dash: [4, 3] }, { label: '1/T', stroke: COLOURS.uniform, dash: [1, 3] },
      ] }, w),
    };
    const preview = el('div', 'iddpm-preview').appendTo(this.root);
    el('div', 'iddpm-preview-caption', t('jobs.noPreview')).appendTo(preview);
    el('img', 'iddpm-preview-grid').attr('alt', t('jobs.preview')).hide().appendTo(preview);
    el('div', 'iddpm-frames').appendTo(preview);
    this.history = view.history;
    this.curves = view.curves;
    this.renderStatus();
    this.renderHistory();
    this.renderCurves();
    if (view.preview) this.renderPreview(view.preview);
  }

  /** The state as the plugin had it (opening the editor mid-run): a longer history than this card's replaces it. */
  load(view: JobView): void {
    if (view.history.length > this.history.length) this.history = view.history;
    this.curves = view.curves ?? this.curves;
    this.status = view.status;
    this.renderStatus();
    this.renderHistory();
    this.renderCurves();
    if (view.preview) this.renderPreview(view.preview);
  }

  apply(u: JobUpdate): void {
    this.status = u.status;
    if (u.kind === 'progress') {
      this.history = [...this.history.filter((h) => h.step < u.point.step), u.point];
      if (u.curves) this.curves = u.curves;
      this.renderHistory();
      this.renderCurves();
    }
    if (u.kind === 'preview') this.renderPreview(u.preview);
    this.renderStatus();
  }

  resize(): void {
    for (const c of Object.values(this.charts)) c.resize(chartWidth());
  }

  private control(action: string): void {
    $.ajax({ url: `iddpm/jobs/${encodeURIComponent(this.status.name)}/${action}`, type: 'POST' })
      .done((s: JobStatus) => {
        this.status = s;
        this.renderStatus();
      })
      .fail((xhr: any) => RED.notify(t('errors.control', { action, reason: xhr.responseJSON?.error ?? xhr.statusText }), 'error'));
  }

  private renderStatus(): void {
    const s = this.status;
    const active = ['starting', 'running', 'paused', 'stopping'].includes(s.state);
    this.root.find('.iddpm-job-state').text(t(`state.${s.state}`)).attr('class', `iddpm-job-state iddpm-state-${s.state}`);
    this.root.find('[data-action=pause]').prop('disabled', s.state !== 'running');
    this.root.find('[data-action=resume]').prop('disabled', s.state !== 'paused');
    this.root.find('[data-action=stop]').prop('disabled', !active || s.state === 'stopping');
    const fraction = s.maxSteps ? Math.min(1, s.step / s.maxSteps) : 0;
    this.root.find('.iddpm-bar-fill').css('width', `${(fraction * 100).toFixed(1)}%`);
    const parts = [s.maxSteps ? t('jobs.stepOf', { step: s.step, max: s.maxSteps }) : t('jobs.step', { step: s.step })];
    if (s.imagesPerSec !== undefined) parts.push(t('jobs.speed', { speed: num(s.imagesPerSec, 3) }));
    if (s.etaSeconds !== undefined && active) parts.push(t('jobs.eta', { eta: durationText(s.etaSeconds) }));
    if (s.lastLoss !== undefined) parts.push(t('jobs.loss', { loss: num(s.lastLoss) }));
    this.root.find('.iddpm-job-stats').text(parts.join(' · '));
    const phase = s.error ? s.error : active && s.phase && s.phase !== 'training' ? t(`phase.${s.phase}`) : '';
    this.root.find('.iddpm-job-phase').text(phase).toggleClass('iddpm-error', !!s.error);
  }

  private renderHistory(): void {
    const h = this.history;
    const x = h.map((p) => p.step);
    this.charts.loss.setData(x, [h.map((p) => p.loss), h.map((p) => p.mse ?? null), h.map((p) => p.vb ?? null)]);
    this.charts.quartiles.setData(x, [0, 1, 2, 3].map((q) => h.map((p) => p.lossQuartiles?.[q] ?? null)));
  }

  private renderCurves(): void {
    const c = this.curves;
    if (!c) return;
    this.charts.overT.setData(c.t, [c.loss, c.vb ?? c.t.map(() => null)]);
    this.charts.pt.setData(c.t, [c.p, c.t.map(() => c.pFloor), c.t.map(() => c.pUniform)]);
  }

  private renderPreview(p: PreviewView): void {
    const box = this.root.find('.iddpm-preview');
    box.find('.iddpm-preview-caption').text(t('jobs.previewAt', { step: p.step }));
    box.find('.iddpm-preview-grid').attr('src', p.png).attr('data-step', String(p.step)).show();
    const frames = box.find('.iddpm-frames').empty();
    if (!p.frames.length) return;
    // One row per recorded step of the reverse process, from noise (large t) to the sample (t = 0).
    const table = el('table', 'iddpm-frames-table').appendTo(frames);
    el('tr').append(el('th', '', 't'), el('th', '', 'x_t'), el('th', '', 'x̂₀')).appendTo(table);
    for (const f of p.frames) {
      el('tr').append(
        el('td', 'iddpm-frame-t', String(f.t)),
        el('td').append(el('img').attr({ src: f.xt, alt: `x_t at t = ${f.t}` })),
        el('td').append(el('img').attr({ src: f.predXstart, alt: `x̂₀ at t = ${f.t}` })),
      ).appendTo(table);
    }
  }
}

function queueItem(q: SampleQueueEntry): any {
  const item = el('div', 'iddpm-queue-item').attr('data-id', String(q.id));
  const head = el('div', 'iddpm-queue-head').appendTo(item);
  const what = t('queue.what', { count: q.count, model: q.model, method: q.method, steps: q.steps ?? 'T' });
  el('span', 'iddpm-queue-what', q.regenerate ? `${what} · ${t('queue.again')}` : what).appendTo(head);
  el('span', `iddpm-queue-state iddpm-state-${q.state}`, t(`queue.${q.state}`)).appendTo(head);
  button('fa-times', t('queue.cancel'), 'cancel').addClass('iddpm-cancel').appendTo(head).on('click', () => {
    $.ajax({ url: `iddpm/queue/${q.id}`, type: 'DELETE' }).fail((xhr: any) => RED.notify(t('errors.cancel', { reason: xhr.responseJSON?.error ?? xhr.statusText }), 'error'));
  });
  const p = q.progress;
  const fraction = p ? (p.batch * p.total + p.step) / (p.batches * p.total) : 0;
  el('div', 'iddpm-bar').append(el('div', 'iddpm-bar-fill').css('width', `${(fraction * 100).toFixed(1)}%`)).appendTo(item);
  el('div', 'iddpm-queue-progress', p ? t('queue.progress', { step: p.step, total: p.total, batch: p.batch + 1, batches: p.batches }) : t('queue.waiting')).appendTo(item);
  return item;
}

function modelItem(m: ModelSummary & { training?: boolean }): any {
  const item = el('div', 'iddpm-model').attr('data-name', m.name);
  const head = el('div', 'iddpm-model-head').appendTo(item);
  el('span', 'iddpm-model-name', m.name).appendTo(head);
  if (m.training) el('span', 'iddpm-state-running iddpm-badge', t('models.training')).appendTo(head);
  el('div', 'iddpm-model-summary', m.summary).appendTo(item);
  const facts = [t('models.stored', { step: m.step })];
  if (m.lastLoss) facts.push(t('models.lastLoss', { loss: num(m.lastLoss.loss), step: m.lastLoss.step }));
  if (m.evaluation) {
    facts.push(t(m.evaluation.current ? 'models.bpd' : 'models.bpdOlder', { bpd: num(m.evaluation.bitsPerDim), count: m.evaluation.count, step: m.evaluation.step }));
  }
  el('div', 'iddpm-model-facts', facts.join(' · ')).appendTo(item);
  return item;
}

export function start(plugin: Plugin): void {
  t = (key, params) => plugin._(key, params);
  $('<style>').text(uplotCss + SIDEBAR_CSS).appendTo('head');
  const content = el('div', 'iddpm-sidebar');
  const header = el('div', 'red-ui-sidebar-header iddpm-sidebar-header').appendTo(content);
  const group = el('span', 'button-group').appendTo(header);
  const panes: Record<string, any> = {};
  const cards = new Map<string, JobCard>();
  const body = el('div', 'iddpm-sidebar-body').appendTo(content);
  for (const id of ['jobs', 'sampling', 'models']) {
    $('<button type="button" class="red-ui-button red-ui-button-small">').attr('data-pane', id).text(t(`tabs.${id}`)).appendTo(group);
    panes[id] = el('div', `iddpm-pane iddpm-pane-${id}`).hide().appendTo(body);
  }
  const jobsEmpty = el('div', 'iddpm-empty', t('jobs.none')).appendTo(panes.jobs);
  const queueList = el('div', 'iddpm-queue').appendTo(panes.sampling);
  const modelsBar = el('div', 'iddpm-models-bar').appendTo(panes.models);
  button('fa-refresh', t('models.refresh'), 'refresh').appendTo(modelsBar).on('click', () => loadModels());
  const modelsList = el('div', 'iddpm-models').appendTo(panes.models);
  let current = 'jobs';

  const show = (id: string): void => {
    current = id;
    group.find('button').removeClass('selected');
    group.find(`[data-pane=${id}]`).addClass('selected');
    for (const [k, p] of Object.entries(panes)) p.toggle(k === id);
    if (id === 'models') loadModels();
    if (id === 'jobs') setTimeout(() => cards.forEach((c) => c.resize()), 0);
  };
  group.on('click', 'button', (e: any) => show($(e.currentTarget).attr('data-pane')));

  const cardFor = (view: JobView): JobCard => {
    let card = cards.get(view.name);
    if (card) card.load(view);
    else {
      card = new JobCard(view);
      cards.set(view.name, card);
      jobsEmpty.hide();
      panes.jobs.prepend(card.root);
      const shown = card;
      setTimeout(() => shown.resize(), 0);
    }
    return card;
  };
  const renderQueue = (entries: SampleQueueEntry[]): void => {
    queueList.empty();
    if (!entries.length) el('div', 'iddpm-empty', t('queue.none')).appendTo(queueList);
    for (const q of entries) queueList.append(queueItem(q));
  };
  const loadModels = (): void => {
    $.getJSON('iddpm/models')
      .done((models: Array<ModelSummary & { training?: boolean }>) => {
        modelsList.empty();
        if (!models.length) el('div', 'iddpm-empty', t('models.none')).appendTo(modelsList);
        for (const m of models) modelsList.append(modelItem(m));
      })
      .fail((xhr: any) => modelsList.empty().append(el('div', 'iddpm-empty iddpm-error', t('errors.models', { reason: xhr.responseJSON?.error ?? xhr.statusText }))));
  };

  RED.sidebar.addTab({
    id: 'iddpm',
    label: t('sidebar.label'),
    name: t('sidebar.name'),
    iconClass: 'fa fa-line-chart',
    content,
    enableOnEdit: true,
    action: 'iddpm:show-sidebar',
    onchange: () => setTimeout(() => show(current), 0),
  });
  RED.actions.add('iddpm:show-sidebar', () => RED.sidebar.show('iddpm'));
  RED.events.on('sidebar:resize', () => cards.forEach((c) => c.resize()));

  $.getJSON('iddpm/jobs').done((r: { jobs: JobView[] }) => r.jobs.forEach(cardFor));
  $.getJSON('iddpm/queue').done(renderQueue);
  RED.comms.subscribe('iddpm/jobs', (_topic: string, u: JobUpdate) => {
    const card = cards.get(u.name) ?? cardFor({ name: u.name, status: u.status, history: [] });
    card.apply(u);
    if (u.kind === 'status' && ['done', 'stopped', 'failed'].includes(u.status.state) && current === 'models') loadModels();
  });
  RED.comms.subscribe('iddpm/queue', (_topic: string, entries: SampleQueueEntry[]) => renderQueue(entries));
  show('jobs');
}
