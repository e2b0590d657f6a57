/**
 * The stored models beside a dialog's model field (UNet, Sampler): a button opens the list the IDDPM sidebar's
 * endpoint gives (GET iddpm/models: name, steps trained, pipeline, last loss, bits/dim); a click fills the field.
 * The field stays a text field: a typed name still works (a new model for the UNet, any name for the Sampler).
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const $: any;

type Translate = (key: string, params?: Record<string, unknown>) => string;

interface StoredModel {
  name: string;
  step: number;
  summary: string;
  training?: boolean;
  lastLoss?: { loss: number };
  evaluation?: { bitsPerDim: number; current: boolean };
}

const short = (v: number): string => String(Number(v.toPrecision(3)));

/** One line about a model: steps, last loss, bits/dim, and its pipeline. */
function describe(m: StoredModel, t: Translate): string {
  const facts = [t('models.steps', { step: m.step })];
  if (m.lastLoss) facts.push(t('models.loss', { loss: short(m.lastLoss.loss) }));
  if (m.evaluation) facts.push(t('models.bpd', { bpd: short(m.evaluation.bitsPerDim) }));
  if (m.training) facts.push(t('models.training'));
  return `${facts.join(' · ')} — ${m.summary}`;
}

export function modelPicker(selector: string, t: Translate): void {
  const field = $(selector);
  if (!field.length || field.next('.iddpm-model-pick').length) return;
  const row = field.closest('.form-row').css('position', 'relative');
  field.css('width', 'calc(70% - 38px)');
  const pick = $('<button type="button" class="red-ui-button iddpm-model-pick">')
    .attr('title', t('models.pick'))
    .css('margin-left', '4px')
    .append($('<i class="fa fa-caret-down">'))
    .insertAfter(field);
  const list = $('<div class="iddpm-model-list">').css({
    position: 'absolute', left: '104px', right: '0', top: '100%', zIndex: 100, maxHeight: '220px', overflowY: 'auto',
    background: 'var(--red-ui-secondary-background, #fff)', border: '1px solid var(--red-ui-secondary-border-color, #ccc)',
    boxShadow: '0 2px 6px rgba(0,0,0,0.2)', fontSize: '12px',
  }).hide().appendTo(row);
  const close = (): void => void list.hide();
  const open = (): void => {
    list.empty().append($('<div class="iddpm-model-note">').css('padding', '6px').text(t('models.loading'))).show();
    $.getJSON('iddpm/models')
      .done((models: StoredModel[]) => {
        list.empty();
        if (!models.length) list.append($('<div class="iddpm-model-note">').css('padding', '6px').text(t('models.none')));
        for (const m of models) {
          $('<div class="iddpm-model-option">')
            .attr('data-name', m.name)
            .css({ padding: '4px 6px', cursor: 'pointer', borderBottom: '1px solid var(--red-ui-secondary-border-color, #eee)' })
            .append($('<b>').text(m.name), $('<div>').css({ opacity: 0.75 }).text(describe(m, t)))
            .on('mouseenter', function (this: unknown) { $(this).css('background', 'var(--red-ui-list-item-background-hover, #eef)'); })
            .on('mouseleave', function (this: unknown) { $(this).css('background', ''); })
            .on('click', () => {
              field.val(m.name).trigger('change');
              close();
            })
            .appendTo(list);
        }
      })
      .fail((xhr: { statusText: string; responseJSON?: { error?: string } }) => {
        list.empty().append($('<div class="iddpm-model-note">').css('padding', '6px').text(t('models.failed', { reason: xhr.responseJSON?.error ?? xhr.statusText })));
      });
  };
  pick.on('click', (e: { stopPropagation(): void }) => {
    e.stopPropagation();
    if (list.is(':visible')) close();
    else open();
  });
  field.on('keydown', (e: { key: string }) => e.key === 'Escape' && close());
  // One handler for the open dialog (a dialog opened later takes it over).
  $('body').off('click.iddpmModelPicker').on('click.iddpmModelPicker', (e: { target: unknown }) => {
    if (!$(e.target).closest('.iddpm-model-list, .iddpm-model-pick').length) close();
  });
}
