#!/usr/bin/env node
/**
 * `npm start`: Node-RED 4 with this package's nodes and the demo flow, on defaults that work offline.
 *
 * - port: env PORT, default 1880; userDir: env IDDPM_USER_DIR, default ./.node-red-user (kept between runs, so
 *   your flows and models stay; delete it to start afresh);
 * - the demo model shipped in models/demo is copied into <userDir>/iddpm/models/demo on first start, so
 *   GET /iddpm/sample answers the moment Node-RED is up (without it, the endpoint answers 404 saying so);
 * - the demo flow (examples/demo.json) is deployed on first start; after that your own edits are kept;
 * - settings.js in the userDir is rewritten on every start: nothing reaches the network (no telemetry, update
 *   checks, palette catalogue or module installs), and the editor lists this package's examples.
 *
 * Also a module: `start({ port, userDir, stdio, env })` resolves once the editor answers (tests use it).
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const root = path.join(__dirname, '..');
const DEMO_MODEL = path.join(root, 'models', 'demo');
const DEMO_FLOW = path.join(root, 'examples', 'demo.json');

/** Node-RED settings for a local, offline session with this package loaded from the repository. */
function settingsFor(modelsDir) {
  return {
    flowFile: 'flows.json',
    // The repository root is a Node-RED module (package.json "node-red"): its nodes and examples/ load from here.
    nodesDir: [root],
    iddpmModelsDir: modelsDir,
    credentialSecret: false,
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    editorTheme: {
      page: { title: 'Node-RED · IDDPM' },
      header: { title: 'Node-RED · IDDPM' },
      projects: { enabled: false },
      tours: false,
      palette: { catalogues: [] },
    },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
}

/**
 * Creates what a first start needs in `userDir` and leaves what a user made alone. Returns the settings file,
 * the models folder and whether the demo model is in it.
 */
function prepareUserDir(userDir) {
  const modelsDir = path.join(userDir, 'iddpm', 'models');
  fs.mkdirSync(modelsDir, { recursive: true });
  const demoDst = path.join(modelsDir, 'demo');
  if (fs.existsSync(DEMO_MODEL) && !fs.existsSync(demoDst)) fs.cpSync(DEMO_MODEL, demoDst, { recursive: true });
  const flowFile = path.join(userDir, 'flows.json');
  if (!fs.existsSync(flowFile)) fs.copyFileSync(DEMO_FLOW, flowFile);
  const settingsFile = path.join(userDir, 'settings.js');
  const text = `// Written by node-red-iddpm's scripts/start.js on every start: edits here are lost.\nmodule.exports = ${JSON.stringify(settingsFor(modelsDir), null, 2)};\n`;
  fs.writeFileSync(settingsFile, text);
  return { settingsFile, modelsDir, hasDemoModel: fs.existsSync(demoDst) };
}

/** Resolves with the status code once `url` answers; rejects when `gaveUp()` says so or after `timeoutMs`. */
function waitForHttp(url, timeoutMs, gaveUp) {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const reason = gaveUp();
      if (reason) return reject(new Error(reason));
      http
        .get(url, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on('error', () => (Date.now() > until ? reject(new Error(`${url} did not answer within ${timeoutMs / 1000} s`)) : setTimeout(attempt, 250)));
    };
    attempt();
  });
}

/** Starts Node-RED as a child process; resolves once the editor answers. `stop()` ends it (SIGINT, then SIGKILL). */
async function start({
  port = Number(process.env.PORT) || 1880,
  userDir = process.env.IDDPM_USER_DIR || path.join(root, '.node-red-user'),
  stdio = 'inherit',
  env = process.env,
} = {}) {
  const { settingsFile, hasDemoModel } = prepareUserDir(userDir);
  const red = require.resolve('node-red/red.js');
  const child = spawn(process.execPath, [red, '--port', String(port), '--userDir', userDir, '--settings', settingsFile], { stdio, env });
  let exited = null;
  child.on('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `code ${code}`));
  const base = `http://localhost:${port}`;
  const stop = () =>
    new Promise((resolve) => {
      if (exited) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGINT');
    });
  try {
    await waitForHttp(`${base}/`, 60_000, () => exited && `Node-RED exited (${exited}) before answering on port ${port}; is the port in use?`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, stop, port, userDir, hasDemoModel, editorUrl: `${base}/`, sampleUrl: `${base}/iddpm/sample?count=16&steps=50` };
}

module.exports = { start, prepareUserDir, settingsFor };

if (require.main === module) {
  start()
    .then(({ child, stop, editorUrl, sampleUrl, userDir, hasDemoModel }) => {
      const lines = [``, `  Node-RED editor:  ${editorUrl}`, `  Sample digits:    ${sampleUrl}`, `  User folder:      ${userDir}`];
      if (!hasDemoModel) {
        lines.push(``, `  No demo model yet (models/demo is missing): the sample URL answers 404 until one exists.`);
        lines.push(`  Train one with \`npm run train-demo\`, or click "keep training" in the demo flow.`);
      }
      console.log(lines.join('\n') + '\n');
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
      child.on('exit', (code) => process.exit(code ?? 0));
    })
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
