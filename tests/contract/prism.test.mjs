// Every documented status of every operation, answered by the real service and checked by an
// independent validator: Stoplight Prism as a validating proxy in front of it.
//
//   ANALYTICS_BINARY=build/dev/analytics-api node tests/contract/prism.test.mjs
//   KEEP_CONTRACT_LOGS=1 ...   keeps the logs of Redis, the service and Prism (the path is printed)
//
// It starts its own redis-server, the service and two Prism proxies, all on free loopback ports,
// and stops them at the end:
//   - the strict proxy, `prism proxy docs/openapi.json <service> --errors`, for requests the
//     document calls valid: Prism checks the request, then the answer;
//   - the lenient proxy, the same with --validate-request=false, for requests the service must
//     refuse (bad JSON, bad fields, a body over the limit), which Prism would otherwise refuse
//     itself. Its document is docs/openapi.json plus probe operations whose only answers are the
//     shared NotFound and MethodNotAllowed responses every operation lists, so the router's own
//     404 and 405 are checked too (Prism answers requests outside its document by itself).
// A case fails on a status other than expected, on an answer that did not come from the service
// (no X-Request-Id: Prism or its HTTP layer answered), and on any violation Prism reports, warnings
// included (the sl-violations header; an undocumented 4xx is only a warning to Prism).
//
// HEAD: each GET case is sent again as HEAD. Prism 5's proxy parses the empty body of a HEAD answer
// whose Content-Type is JSON and fails, so those go to the service directly and must equal the
// Prism-checked GET answer in status and header names, with no body; the others go through Prism.
//
// Statuses no request from outside can produce are named in `unreachable` below; the test fails
// when the document lists a status that neither a case nor that list covers.
//
// Exit status 0: every check passed; 1: a check failed (each is printed); 2: it could not run.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const documentPath = join(root, 'docs/openapi.json');
const prismCli = join(here, 'node_modules/@stoplight/prism-cli/dist/index.js');
const binary = process.env.ANALYTICS_BINARY ?? '';
if (!binary) {
  console.error('prism.test.mjs: set ANALYTICS_BINARY to the analytics-api binary');
  process.exit(2);
}

const adminToken = 'prism-contract-admin-token';
const rateLimit = 3;

// ---------------------------------------------------------------------------------------------
// The cases: one line per operation, as docs/openapi.json names it. Each status maps to the request
// that produces it (or a list of them). A request is {query, body, headers} plus, where needed:
//   ...refused  the service must refuse it: sent through the lenient proxy (badJson, tooLarge
//               and invalid are refused requests with the error code they get);
//   ...overQuota  first spends the client's rate-limit quota (RATE_LIMIT_REQUESTS) directly;
//   ...lockedOut  first sends the admin API ten wrong tokens directly, from a client of its own;
//   ...revalidate  sends If-None-Match with the ETag the service gave a moment before;
//   ...upstreamDown  after the external service is made to fail; the breaker opens at the
//                    second failure (the GET and HEAD of one summary), so the next is refused;
//   ...noRedis  against the service restarted with no Redis reachable and no ADMIN_TOKEN;
//   ...noRedisAdmin  the same with an ADMIN_TOKEN (admin settings live in Redis);
//   code  the `code` the error body must carry.
// HEAD and 431 (headers over the limit) are derived for every operation; 404 and 405 come from the
// probes. Adding an operation to the document without a line here fails the coverage check.

const refused = { refused: true };
const overQuota = { overQuota: true };
const lockedOut = { lockedOut: true, headers: { Authorization: 'Bearer not-the-admin-token', 'X-Forwarded-For': '203.0.113.29' } };
const revalidate = { revalidate: true };
const upstreamDown = { phase: 'upstreamDown' };
const noRedis = { phase: 'noRedis' };
const noRedisAdmin = { phase: 'noRedisAdmin' };
const admin = { headers: { Authorization: `Bearer ${adminToken}` } };
const wrongToken = { headers: { Authorization: 'Bearer not-the-admin-token' } };
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const metric = (fields = {}) => ({ timestamp: now(), value: 42.5, type: 'prism_cpu', ...fields });
const badMetric = { timestamp: 'yesterday', value: 'high', type: 'no spaces' };
// A JSON body of about `bytes` (the default is over HTTP_BODY_LIMIT_BYTES, 64 KiB).
const oversized = (bytes = 70 * 1024) => ({ ...metric(), padding: 'p'.repeat(bytes) });
// Prism parses a JSON body before it forwards it; as text/plain, bad JSON reaches the service.
const badJson = { ...refused, body: '{not json', contentType: 'text/plain', code: 'INVALID_JSON' };
const tooLarge = { ...refused, body: () => oversized(), code: 'PAYLOAD_TOO_LARGE' };
const invalid = { ...refused, code: 'VALIDATION_ERROR' };
const storageDown = { ...noRedis, code: 'STORAGE_UNAVAILABLE' };

const cases = {
  'GET /health': { 200: {} },
  'GET /ready': { 200: {}, 503: { ...noRedis, code: 'REDIS_UNAVAILABLE' } },
  'POST /api/metrics': { 201: { body: metric }, 400: badJson, 413: tooLarge, 422: { ...invalid, body: badMetric }, 429: { ...overQuota, body: metric, code: 'RATE_LIMIT_EXCEEDED' }, 503: { ...storageDown, body: metric } },
  'POST /api/metrics/batch': { 201: { body: () => [metric(), metric({ type: 'prism_mem' })] }, 400: badJson, 413: { ...refused, body: () => oversized(2 ** 21), code: 'PAYLOAD_TOO_LARGE' }, 422: { ...invalid, body: [badMetric] }, 429: { ...overQuota, body: () => [metric()], code: 'RATE_LIMIT_EXCEEDED' }, 503: { ...storageDown, body: () => [metric()] } },
  'GET /api/metrics/list': { 200: { query: '?type=prism_cpu&limit=5' }, 422: { ...invalid, query: '?limit=0' }, 503: storageDown },
  'GET /api/metrics/summary': { 200: { query: '?type=prism_cpu&period=daily' }, 422: { ...invalid, query: '?type=prism_cpu&period=weekly' }, 503: [{ ...upstreamDown, query: '?type=prism_a', code: 'EXTERNAL_SERVICE_ERROR' }, { ...upstreamDown, query: '?type=prism_b', code: 'CIRCUIT_OPEN' }, { ...storageDown, query: '?type=prism_c' }] },
  'GET /api/circuit-breaker/status': { 200: {} },
  'PUT /api/admin/external-service': { 200: { ...admin, body: { failure_rate: 0, latency_ms: 0 } }, 400: { ...badJson, ...admin }, 401: { ...wrongToken, body: { failure_rate: 0 }, code: 'UNAUTHORIZED' }, 403: { ...noRedis, ...admin, body: { failure_rate: 0 }, code: 'FORBIDDEN' }, 503: { ...noRedisAdmin, ...admin, body: { failure_rate: 0 }, code: 'STORAGE_UNAVAILABLE' }, 429: { ...lockedOut, body: { failure_rate: 0 }, code: 'RATE_LIMIT_EXCEEDED' }, 413: { ...tooLarge, ...admin }, 422: { ...invalid, ...admin, body: { failure_rate: 2 } } },
  'GET /metrics': { 200: {} },
  'GET /openapi.json': { 200: {}, 304: revalidate },
  'GET /docs': { 200: {}, 304: revalidate },
  'GET /docs/swagger-ui.css': { 200: {}, 304: revalidate },
  'GET /docs/swagger-ui-bundle.js': { 200: {}, 304: revalidate },
  'GET /docs/swagger-init.js': { 200: {}, 304: revalidate },
  'GET /docs/favicon.png': { 200: {}, 304: revalidate },
  'GET /redoc': { 200: {}, 304: revalidate },
  'GET /redoc/redoc.standalone.js': { 200: {}, 304: revalidate },
  'GET /redoc/redoc-init.js': { 200: {}, 304: revalidate },
};

// Documented statuses no request from outside can produce: why, and to which responses it applies.
const unreachable = {
  400: {
    why: 'BAD_REQUEST answers bytes that are not HTTP; Prism parses and re-sends every request, ' +
      'so none reaches the service (tests/api/docs_e2e_test.cpp sends them directly)',
    applies: (response) => /\/MalformedRequest(Head)?$/.test(response.$ref ?? ''),
  },
  500: { why: 'only a bug produces it (an exception escaped a handler)', applies: () => true },
};

// ---------------------------------------------------------------------------------------------
// Processes.

const work = mkdtempSync(join(tmpdir(), 'prism-contract-'));
const children = [];
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
  if (!process.env.KEEP_CONTRACT_LOGS) rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanup();
    process.exit(2);
  });
}

function start(name, command, args, options = {}) {
  const log = join(work, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.push(child);
  child.logPath = log;
  child.output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      child.output += chunk;
      out.write(chunk);
    });
  }
  return child;
}

// Waits until `pattern` appears in the child's output; returns the match.
function waitFor(child, pattern, what, ms = 30000) {
  return new Promise((resolvePromise, reject) => {
    const deadline = setTimeout(() => finish(new Error(`${what}: not ready within ${ms} ms`)), ms);
    const check = () => {
      const m = child.output.match(pattern);
      if (m) finish(null, m);
    };
    const exited = () => finish(new Error(`${what} exited:\n${child.output.slice(-2000)}`));
    function finish(error, m) {
      clearTimeout(deadline);
      child.stdout.off('data', check);
      child.stderr.off('data', check);
      child.off('exit', exited);
      if (error) reject(error);
      else resolvePromise(m);
    }
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', exited);
    check();
  });
}

// SIGTERM; resolves with the exit status (a signal's name if it died of one).
function stopChild(child) {
  return new Promise((resolvePromise) => {
    const status = () => child.exitCode ?? child.signalCode;
    if (status() !== null) return resolvePromise(status());
    child.once('exit', () => resolvePromise(status()));
    child.kill('SIGTERM');
  });
}

// The service drains and exits 0 on SIGTERM (under the sanitizers, also without a leak report).
async function stopService(service, name) {
  const status = await stopChild(service.process);
  if (status !== 0) {
    fail(`${name} exited with status ${status} after SIGTERM:\n${service.process.output.slice(-1500)}`);
  }
}

async function startRedis() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const redis = start(`redis-${port}`, 'redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', work,
    ]);
    try {
      await waitFor(redis, /Ready to accept connections/, 'redis-server', 10000);
      return port;
    } catch {
      await stopChild(redis);
    }
  }
  throw new Error('could not start redis-server on a free port');
}

async function startService(name, env, port = 0) {
  const service = start(name, binary, [], {
    cwd: work,  // no .env there
    env: {
      ...process.env, APP_HOST: '127.0.0.1', APP_PORT: String(port), APP_THREADS: '2',
      LOG_LEVEL: 'INFO', ...env,
    },
  });
  const m = await waitFor(service, /"event":"server.listening".*?"port":(\d+)/, name);
  return { process: service, port: Number(m[1]) };
}

async function startPrism(name, document, upstreamPort, extra = []) {
  const prism = start(name, process.execPath, [
    prismCli, 'proxy', document, `http://127.0.0.1:${upstreamPort}`, '--errors',
    '--host', '127.0.0.1', '--port', '0', '--multiprocess=false', ...extra,
  ], { env: { ...process.env, NODE_ENV: 'test', FORCE_COLOR: '0', NO_COLOR: '1' } });
  const m = await waitFor(prism, /Prism is listening on http:\/\/127\.0\.0\.1:(\d+)/, name, 60000);
  return { process: prism, port: Number(m[1]) };
}

// ---------------------------------------------------------------------------------------------
// HTTP: one request per connection, nothing hidden (HEAD, any header, any body).

function send(port, method, path, { headers = {}, body } = {}) {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolvePromise({
          status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(),
        }));
      },
    );
    req.setTimeout(15000, () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function waitUntil(port, path, status, what) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await send(port, 'GET', path)).status === status) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: GET ${path} did not answer ${status}`);
}

// ---------------------------------------------------------------------------------------------
// The run.

const failures = [];
const fail = (what) => {
  failures.push(what);
  console.error(`FAIL ${what}`);
};
const covered = new Set();  // "METHOD /path STATUS"
let throughPrism = 0;
let besideFor = 0;

const doc = JSON.parse(readFileSync(documentPath, 'utf8'));
const methods = ['get', 'head', 'post', 'put', 'patch', 'delete'];
const documented = new Map();  // "METHOD /path" -> {status: response}
for (const [path, item] of Object.entries(doc.paths)) {
  for (const method of methods) {
    if (item[method]) documented.set(`${method.toUpperCase()} ${path}`, item[method].responses);
  }
}

// The probe document: docs/openapi.json plus an unknown path and, on every path, one method it
// lacks, answered only by the shared responses the operations list.
const probes = structuredClone(doc);
const probeRequests = [];
probes.paths['/no/such/path'] = {
  get: {
    operationId: 'probeUnknownPath', summary: 'probe', tags: ['health'],
    responses: { 404: { $ref: '#/components/responses/NotFound' } },
  },
};
probeRequests.push({ method: 'GET', path: '/no/such/path', status: 404 });
for (const [path, item] of Object.entries(doc.paths)) {
  const method = ['delete', 'patch', 'put', 'post'].find((m) => !item[m]);
  probes.paths[path][method] = {
    operationId: `probe${probeRequests.length}`, summary: 'probe', tags: ['health'],
    responses: { 405: { $ref: '#/components/responses/MethodNotAllowed' } },
  };
  probeRequests.push({ method: method.toUpperCase(), path, status: 405 });
}
const probeDocument = join(work, 'openapi-with-router-probes.json');
writeFileSync(probeDocument, JSON.stringify(probes));

// Expands the table: one entry per request, in table order, with its HEAD twin and a 431.
const runs = [];
let clients = 0;
for (const [operation, statuses] of Object.entries(cases)) {
  const [method, path] = operation.split(' ');
  let first = null;
  for (const [status, value] of Object.entries(statuses)) {
    for (const c of Array.isArray(value) ? value : [value]) {
      const run = { ...c, method, path, status: Number(status), phase: c.phase ?? 'up' };
      runs.push(run);
      first ??= run;
      if (method === 'GET') runs.push({ ...run, method: 'HEAD', headOf: run });
    }
  }
  if (first) {
    const padded = { ...first.headers, 'X-Padding': 'p'.repeat(9000) };
    const big = { ...first, status: 431, headers: padded, code: 'REQUEST_HEADER_FIELDS_TOO_LARGE', overQuota: false, lockedOut: false, revalidate: false };
    runs.push(big);
    if (method === 'GET') runs.push({ ...big, method: 'HEAD', headOf: big });
  }
}
for (const run of runs) {
  run.client = `198.51.100.${(clients++ % 250) + 1}`;  // its own rate-limit bucket (TEST-NET-2)
}

function requestOf(run, etag) {
  const headers = {
    'X-Request-Id': `prism-contract-${runs.indexOf(run)}`,
    'X-Forwarded-For': run.client,
    ...run.headers,
  };
  let body = typeof run.body === 'function' ? run.body() : run.body;
  if (body !== undefined && typeof body !== 'string') body = JSON.stringify(body);
  if (body !== undefined) {
    headers['Content-Type'] = run.contentType ?? 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  if (etag) headers['If-None-Match'] = etag;
  return { headers, body };
}

function describe(run) {
  const query = run.query ?? '';
  return `${run.method} ${run.path}${query} -> ${run.status}` + (run.code ? ` ${run.code}` : '');
}

// Problems with an answer that came through Prism (or, for HEAD beside it, directly).
function problemsOf(run, res) {
  const problems = [];
  if (res.status !== run.status) problems.push(`got ${res.status}`);
  if (!res.headers['x-request-id']) {
    problems.push(`not answered by the service (no X-Request-Id): ${res.body.slice(0, 600)}`);
  }
  if (res.headers['sl-violations']) problems.push(`Prism: ${res.headers['sl-violations']}`);
  if (run.code && run.method !== 'HEAD' && res.headers['x-request-id']) {
    let code = null;
    try {
      code = JSON.parse(res.body).code;
    } catch {
      // reported below
    }
    if (code !== run.code) problems.push(`code ${code}, body ${res.body.slice(0, 300)}`);
  }
  return problems;
}

const perRequest = new Set(['date', 'x-request-id', 'traceparent', 'connection', 'keep-alive',
  'x-cache', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit']);
// Prism adds CORS headers of its own to what it relays.
const names = (headers) => Object.keys(headers)
  .filter((h) => !perRequest.has(h) && !h.startsWith('access-control-')).sort().join(', ');

async function runOne(run, ctx) {
  try {
    await exchange(run, ctx);
  } catch (error) {
    // A malformed answer (a body on a HEAD answer, say) is a failure of this case.
    fail(`${describe(run)}: ${error.message}`);
  }
}

async function exchange(run, ctx) {
  const via = run.refused ? ctx.lenient : ctx.strict;
  let etag = null;
  if (run.revalidate) {
    etag = (await send(ctx.service.port, 'GET', run.path)).headers.etag;
  }
  if (run.overQuota) {
    for (let i = 0; i < rateLimit; i++) {
      await send(ctx.service.port, run.method, run.path + (run.query ?? ''), requestOf(run));
    }
  }
  if (run.lockedOut) {
    for (let i = 0; i < 10; i++) {
      await send(ctx.service.port, run.method, run.path + (run.query ?? ''), requestOf(run));
    }
  }
  const { headers, body } = requestOf(run, etag);
  const target = run.path + (run.query ?? '');
  const getAnswer = run.headOf?.answer;
  const jsonHead = run.method === 'HEAD' && /json/.test(getAnswer?.headers['content-type'] ?? '');
  let res;
  if (jsonHead) {
    res = await send(ctx.service.port, 'HEAD', target, { headers });
    const problems = problemsOf(run, res);
    if (res.body !== '') problems.push('a body');
    if (names(res.headers) !== names(getAnswer.headers)) {
      problems.push(`headers ${names(res.headers)}; GET had ${names(getAnswer.headers)}`);
    }
    besideFor++;
    report(run, problems, 'beside Prism, as its GET');
  } else {
    res = await send(via.port, run.method, target, { headers, body });
    throughPrism++;
    report(run, problemsOf(run, res), run.refused ? 'lenient proxy' : 'strict proxy');
  }
  run.answer = res;
}

function report(run, problems, how) {
  if (problems.length === 0) {
    console.log(`ok   ${describe(run)} (${how})`);
    covered.add(`${run.method} ${run.path} ${run.status}`);
  } else {
    fail(`${describe(run)} (${how}): ${problems.join('; ')}`);
  }
}

async function main() {
  const started = Date.now();
  const redisPort = await startRedis();
  const serviceEnv = {
    REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redisPort), ADMIN_TOKEN: adminToken,
    RATE_LIMIT_REQUESTS: String(rateLimit), RATE_LIMIT_WINDOW_SECONDS: '600',
    EXTERNAL_SERVICE_FAILURE_RATE: '0', CIRCUIT_BREAKER_FAILURE_THRESHOLD: '2',
    CIRCUIT_BREAKER_RESET_TIMEOUT: '600',
  };
  let service = await startService('service', serviceEnv);
  const [strict, lenient] = await Promise.all([
    startPrism('prism-strict', documentPath, service.port),
    startPrism('prism-lenient', probeDocument, service.port, ['--validate-request=false']),
  ]);
  await waitUntil(service.port, '/ready', 200, 'the service');
  const ctx = { service, strict, lenient };
  console.log(`prism contract: service on ${service.port}, Prism on ${strict.port} (strict) and ` +
    `${lenient.port} (lenient), ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  for (const run of runs.filter((r) => r.phase === 'up')) await runOne(run, ctx);

  for (const probe of probeRequests) {
    const res = await send(lenient.port, probe.method, probe.path,
      { headers: { 'X-Request-Id': 'prism-contract-probe' } });
    throughPrism++;
    const run = { ...probe };
    report(run, problemsOf(run, res), 'lenient proxy, probe');
  }

  // The external service fails from now on; the second failed call opens the breaker.
  const down = await send(service.port, 'PUT', '/api/admin/external-service', {
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ failure_rate: 1 }),
  });
  if (down.status !== 200) throw new Error(`could not make the upstream fail: ${down.status}`);
  for (const run of runs.filter((r) => r.phase === 'upstreamDown')) await runOne(run, ctx);

  // The same port, no Redis (port 1: refused at once) and no ADMIN_TOKEN.
  await stopService(service, 'the service');
  service = await startService('service-without-redis',
    { ...serviceEnv, REDIS_PORT: '1', ADMIN_TOKEN: '' }, service.port);
  ctx.service = service;
  await waitUntil(service.port, '/health', 200, 'the service without Redis');
  for (const run of runs.filter((r) => r.phase === 'noRedis')) await runOne(run, ctx);
  await stopService(service, 'the service without Redis');

  // No Redis, with an ADMIN_TOKEN: the admin settings cannot be stored.
  service = await startService('service-without-redis-with-admin',
    { ...serviceEnv, REDIS_PORT: '1' }, service.port);
  ctx.service = service;
  await waitUntil(service.port, '/health', 200, 'the service without Redis, with admin');
  for (const run of runs.filter((r) => r.phase === 'noRedisAdmin')) await runOne(run, ctx);
  await stopService(service, 'the service without Redis, with admin');

  checkCoverage();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`prism contract: ${throughPrism} answers validated by Prism, ${besideFor} HEAD ` +
    `answers compared with their GET beside it, ${failures.length} failure(s), ${seconds} s`);
}

function checkCoverage() {
  for (const operation of Object.keys(cases)) {
    if (!documented.has(operation)) fail(`cases names ${operation}, which docs/openapi.json lacks`);
  }
  const missing = [];
  for (const [operation, responses] of documented) {
    const [method, path] = operation.split(' ');
    for (const [status, response] of Object.entries(responses)) {
      const key = `${operation} ${status}`;
      if (covered.has(key)) continue;
      const router = (status === '404' || status === '405') &&
        probeRequests.some((p) => p.status === Number(status) &&
          covered.has(`${p.method} ${p.path} ${p.status}`));
      if (router) continue;  // the shared response, checked through the probes
      if (unreachable[status]?.applies(response)) continue;
      missing.push(`${method} ${path} ${status}`);
    }
  }
  if (missing.length > 0) {
    fail(`documented, but no request here passed with it (a failure above, or none in ` +
      `\`cases\` of tests/contract/prism.test.mjs): ${missing.join('; ')}`);
  }
  console.log(`prism contract: not produced, by design: ` +
    Object.entries(unreachable).map(([s, u]) => `${s} (${u.why})`).join('; '));
}

try {
  await main();
} catch (error) {
  console.error(`prism.test.mjs: ${error.stack ?? error}`);
  for (const child of children) {
    console.error(`--- ${child.logPath} (last lines)\n${child.output.slice(-1500)}`);
  }
  process.exitCode = 2;
}
if (process.exitCode !== 2 && failures.length > 0) {
  console.error(`prism.test.mjs: ${failures.length} check(s) failed; logs: ` +
    (process.env.KEEP_CONTRACT_LOGS ? work : 'set KEEP_CONTRACT_LOGS=1 to keep them'));
  process.exitCode = 1;
}
cleanup();
process.exit(process.exitCode ?? 0);
