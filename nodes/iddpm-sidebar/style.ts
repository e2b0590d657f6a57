/** The sidebar's own styles (Node-RED's variables where it has them, so dark themes follow). */
export const SIDEBAR_CSS = `
.iddpm-sidebar { height: 100%; display: flex; flex-direction: column; }
.iddpm-sidebar-header { flex: none; padding: 6px 8px; }
.iddpm-sidebar-body { flex: 1; overflow-y: auto; padding: 6px 10px 20px; }
.iddpm-empty { color: var(--red-ui-secondary-text-color, #777); font-style: italic; padding: 10px 0; }
.iddpm-error { color: var(--red-ui-text-color-error, #c00); }
.iddpm-job, .iddpm-queue-item, .iddpm-model { border-bottom: 1px solid var(--red-ui-secondary-border-color, #ddd); padding: 8px 0; }
.iddpm-job-head, .iddpm-queue-head, .iddpm-model-head { display: flex; align-items: center; gap: 6px; }
.iddpm-job-name, .iddpm-model-name { font-weight: bold; }
.iddpm-job-buttons { margin-left: auto; display: flex; gap: 2px; }
.iddpm-queue-head .iddpm-cancel { margin-left: auto; }
.iddpm-job-state, .iddpm-queue-state, .iddpm-badge { font-size: 11px; border-radius: 3px; padding: 0 5px; background: #eee; color: #333; }
.iddpm-state-running { background: #d4edda; color: #155724; }
.iddpm-state-starting, .iddpm-state-queued, .iddpm-state-stopping { background: #fff3cd; color: #856404; }
.iddpm-state-paused { background: #e2e3e5; }
.iddpm-state-failed { background: #f8d7da; color: #721c24; }
.iddpm-bar { height: 6px; background: var(--red-ui-secondary-background, #eee); border-radius: 3px; margin: 6px 0 3px; overflow: hidden; }
.iddpm-bar-fill { height: 100%; width: 0; background: #3FADB5; transition: width 0.3s; }
.iddpm-job-stats, .iddpm-queue-progress, .iddpm-model-facts, .iddpm-model-summary { font-size: 12px; }
.iddpm-model-summary { color: var(--red-ui-secondary-text-color, #555); }
.iddpm-job-phase { font-size: 12px; font-style: italic; min-height: 1em; }
.iddpm-chart { margin-top: 6px; }
.iddpm-chart .u-title { font-size: 12px; font-weight: bold; }
.iddpm-chart .u-legend { font-size: 10px; }
.iddpm-preview { margin-top: 8px; font-size: 12px; }
.iddpm-preview-grid { image-rendering: pixelated; width: 100%; max-width: 240px; margin-top: 4px; border: 1px solid #ccc; }
.iddpm-frames-table { border-collapse: collapse; margin-top: 6px; font-size: 11px; }
.iddpm-frames-table th { font-weight: normal; padding: 0 4px; }
.iddpm-frames-table td { padding: 1px 2px; text-align: center; }
.iddpm-frames-table td.iddpm-frame-t { text-align: right; padding-right: 6px; }
.iddpm-frames-table img { image-rendering: pixelated; width: 120px; display: block; }
.iddpm-models-bar { text-align: right; }
`;
