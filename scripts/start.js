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
 *   checks, palette catalogue or module installs), and the editor lists this package's examples;
 * - Node-RED listens on 127.0.0.1 only: the editor can deploy any code (a Function node), so it is not offered to
 *   the network unless you say so: env IDDPM_HOST=0.0.0.0 (or an address) opens it, and then you should set
 *   adminAuth and httpNodeAuth in <userDir>/settings.local.js (module.exports = { adminAuth: …, … }), which is
 *   merged over these settings on every start;
 * - training data folders: <userDir>/iddpm/data (setting iddpmDataDirs); a Trainer reads no folder outside them.
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

/** Loopback unless IDDPM_HOST says otherwise. */
function hostFrom(env) {
  return (env.IDDPM_HOST || '').trim() || '127.0.0.1';
}

/** Node-RED settings for a local, offline session with this package loaded from the repository. */
function settingsFor(modelsDir, { host = '127.0.0.1', dataDir } = {}) {
  return {
    uiHost: host,
    flowFile: 'flows.json',
    // The repository root is a Node-RED module (package.json "node-red"): its nodes and examples/ load from here.
    nodesDir: [root],
    iddpmModelsDir: modelsDir,
    ...(dataDir ? { iddpmDataDirs: [dataDir] } : {}),
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
function prepareUserDir(userDir, { host = '127.0.0.1' } = {}) {
  const modelsDir = path.join(userDir, 'iddpm', 'models');
  const dataDir = path.join(userDir, 'iddpm', 'data');
  fs.mkdirSync(modelsDir, { recursive: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const demoDst = path.join(modelsDir, 'demo');
  if (fs.existsSync(DEMO_MODEL) && !fs.existsSync(demoDst)) fs.cpSync(DEMO_MODEL, demoDst, { recursive: true });
  const flowFile = path.join(userDir, 'flows.json');
  if (!fs.existsSync(flowFile)) fs.copyFileSync(DEMO_FLOW, flowFile);
  const settingsFile = path.join(userDir, 'settings.js');
  // Your own settings (adminAuth, httpNodeAuth, https, …) go in settings.local.js, merged over ours.
  const text = [
    "// Written by node-red-iddpm's scripts/start.js on every start: edits here are lost. Put yours in settings.local.js.",
    `const settings = ${JSON.stringify(settingsFor(modelsDir, { host, dataDir }), null, 2)};`,
    "const path = require('path');",
    "const fs = require('fs');",
    "const local = path.join(__dirname, 'settings.local.js');",
    'module.exports = fs.existsSync(local) ? { ...settings, ...require(local) } : settings;',
    '',
  ].join('\n');
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
  const host = hostFrom(env);
  const { settingsFile, hasDemoModel } = prepareUserDir(userDir, { host });
  const red = require.resolve('node-red/red.js');
  const child = spawn(process.execPath, [red, '--port', String(port), '--userDir', userDir, '--settings', settingsFile], { stdio, env });
  let exited = null;
  child.on('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `code ${code}`));
  // The address Node-RED really listens on (the local file can change it: read it back from the settings).
  const bound = boundHost(settingsFile, host);
  const shown = bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound;
  const base = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
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
  return { child, stop, port, host: bound, userDir, hasDemoModel, editorUrl: `${base}/`, sampleUrl: `${base}/iddpm/sample?count=16&steps=50` };
}

/** uiHost as Node-RED will read it from the settings file (ours, with settings.local.js merged). */
function boundHost(settingsFile, fallback) {
  try {
    delete require.cache[require.resolve(settingsFile)];
    const local = path.join(path.dirname(settingsFile), 'settings.local.js');
    if (fs.existsSync(local)) delete require.cache[require.resolve(local)];
    return require(settingsFile).uiHost || fallback;
  } catch {
    return fallback;
  }
}

/** Whether an address is only reachable from this machine. */
function isLoopback(host) {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

module.exports = { start, prepareUserDir, settingsFor, isLoopback };

if (require.main === module) {
  start()
    .then(({ child, stop, editorUrl, sampleUrl, userDir, hasDemoModel, host }) => {
      const lines = [``, `  Node-RED editor:  ${editorUrl}`, `  Sample digits:    ${sampleUrl}`, `  User folder:      ${userDir}`];
      lines.push(isLoopback(host)
        ? `  Listening on:     ${host} only (this machine); IDDPM_HOST=0.0.0.0 opens it to the network`
        : `  Listening on:     ${host}: ANYONE who can reach it can deploy code unless settings.local.js sets adminAuth (see README)`);
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
