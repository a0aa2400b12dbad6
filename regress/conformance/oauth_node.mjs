// Conformance of the luxe emulator's OAuth2 token endpoint and GCE metadata server, judged by
// Google's own Node auth library, google-auth-library, in both copies installed: 9.x (with
// gtoken 7, used by @google-cloud/storage 7) and 10.x (top level, used by
// @google-cloud/bigquery 8). Its JWT client signs RS256 assertions and exchanges them, its
// Compute client talks to the metadata server, and Storage uses the resulting tokens.
//
// Usage: node regress/conformance/oauth_node.mjs
// Starts its own emulator (--require-auth, a throw-away key from regress/tools/make_sa_key.py,
// --token-lifetime 3) on a free loopback port and stops it. Prints "ok N - name" or
// "not ok N - name" per test, then "oauth-node: N passed, M failed"; exits 1 on failure.
//
// The JWT client always POSTs to Google's token URL and signs that as aud (9.x with gtoken 7:
// https://www.googleapis.com/oauth2/v4/token; 10.x: https://oauth2.googleapis.com/token);
// it has no option for another token URL. Its requests go through its `transporter` (a
// Gaxios instance), whose public request interceptors let the test send that URL to the
// emulator instead, so nothing leaves loopback. The emulator accepts both of Google's auds.

import assert from 'node:assert/strict';
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {fileURLToPath} from 'node:url';
import {createRequire} from 'node:module';
import {Storage} from '@google-cloud/storage';

// @google-cloud/storage's own copy of google-auth-library (9.x), and the top-level one (10.x).
const require = createRequire(import.meta.url);
const gal9Path = require.resolve('google-auth-library', {
  paths: [path.dirname(require.resolve('@google-cloud/storage'))],
});
const gal10Path = require.resolve('google-auth-library');
const gal9 = require(gal9Path);
const gal10 = require(gal10Path);
const {JWT, Compute} = gal9;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REGRESS = path.dirname(HERE);
const GOOGLE_TOKEN_URLS = ['https://oauth2.googleapis.com/token', 'https://www.googleapis.com/oauth2/v4/token'];
const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_only';
const EMAIL = 'node-test@luxe-test.iam.gserviceaccount.com';
const LIFETIME = 3;

// Nothing may leave loopback.
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.STORAGE_EMULATOR_HOST;
process.env.METADATA_SERVER_DETECTION = 'none';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth-node-'));
function versionOf(entry) {  // .../google-auth-library/build/src/index.js -> its package.json version
  const dir = path.dirname(path.dirname(path.dirname(entry)));
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}
const sleep = ms => new Promise(r => setTimeout(r, ms));

function makeKey(name, email) {
  const out = path.join(work, `${name}.json`);
  execFileSync('python3', [path.join(REGRESS, 'tools', 'make_sa_key.py'), '--token-uri', 'http://127.0.0.1:1/token',
    '--email', email, '--out', out]);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

async function startEmulator(args) {
  const root = fs.mkdtempSync(path.join(work, 'root-'));
  fs.mkdirSync(path.join(root, 'bkt'));
  fs.writeFileSync(path.join(root, 'bkt', 'hello.csv'), 'a,b\n1,2\n');
  const child = spawn('python3', [path.join(REGRESS, 'emulator'), '--root', root, '--port', '0', ...args],
    {stdio: ['ignore', 'pipe', 'inherit']});
  // Never leave it behind, even if this script dies (e.g. EPIPE on a closed stdout).
  process.on('exit', () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    fs.rmSync(work, {recursive: true, force: true});
  });
  const lines = readline.createInterface({input: child.stdout});
  const line = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', code => reject(new Error(`emulator exited with ${code}`)));
  });
  const m = /^luxe emulator listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line);
  if (!m) throw new Error(`unexpected ready line: ${line}`);
  return {url: m[1], port: Number(m[2]), child};
}

// Send the library's fixed token URL to the emulator: a request interceptor on the client's
// own transporter (public Gaxios API), applied after the library has prepared the request.
// 10.x: transporter is a Gaxios; 9.x: a DefaultTransporter wrapping one as `instance`.
function toEmulator(client, url) {
  const gaxios = client.transporter.interceptors ? client.transporter : client.transporter.instance;
  gaxios.interceptors.request.add({
    resolved: async opts => {
      if (GOOGLE_TOKEN_URLS.includes(String(opts.url))) {
        tokenUrlsSeen.push(String(opts.url));
        opts.url = new URL('/token', url).href;
      }
      return opts;
    },
  });
  return client;
}
const tokenUrlsSeen = [];

// ---- tiny harness -------------------------------------------------------------------------
const tests = [];
const test = (name, fn) => tests.push({name, fn});

let emu, key, stranger;
async function emulator(method, p, body) {
  const res = await fetch(emu.url + p, {
    method, headers: body ? {'Content-Type': 'application/json'} : {}, body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return {status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null};
}
const requestsOf = async op => (await emulator('GET', '/_emulator/stats')).json.requests[op] || 0;
const newJwt = (k = key, extra = {}, Client = JWT) => toEmulator(new Client({
  email: k.client_email, key: k.private_key, keyId: k.private_key_id, scopes: [SCOPE], ...extra,
}), emu.url);
const storageWith = authClient => new Storage({
  apiEndpoint: emu.url, projectId: 'luxe-test', authClient, useAuthWithCustomEndpoint: true,
  retryOptions: {autoRetry: false},
});
const names = async storage => (await storage.bucket('bkt').getFiles())[0].map(f => f.name);

test(`JWT client (google-auth-library ${versionOf(gal9Path)}, gtoken) exchanges an RS256 assertion`, async () => {
  await emulator('POST', '/_emulator/stats/reset');
  tokenUrlsSeen.length = 0;
  const jwt = newJwt();
  const t0 = Date.now();
  const creds = await jwt.authorize();
  assert.match(creds.access_token, /^ya29\./);
  assert.equal(creds.token_type, 'Bearer');
  assert.ok(Math.abs(creds.expiry_date - (t0 + LIFETIME * 1000)) < 2000, `expiry_date ${creds.expiry_date - t0}`);
  assert.equal(await requestsOf('oauth2.token'), 1);
  assert.deepEqual(tokenUrlsSeen, ['https://www.googleapis.com/oauth2/v4/token']);
});

test(`JWT client (google-auth-library ${versionOf(gal10Path)}) too, aud oauth2.googleapis.com`, async () => {
  tokenUrlsSeen.length = 0;
  const jwt = newJwt(key, {}, gal10.JWT);
  const creds = await jwt.authorize();
  assert.match(creds.access_token, /^ya29\./);
  assert.deepEqual(tokenUrlsSeen, ['https://oauth2.googleapis.com/token']);
  const r = await fetch(`${emu.url}/storage/v1/b/bkt/o`, {headers: await jwt.getRequestHeaders()});
  assert.equal(r.status, 200);
});

test('Storage with the JWT client lists a bucket on a --require-auth emulator', async () => {
  assert.deepEqual(await names(storageWith(newJwt())), ['hello.csv']);
  // Without credentials the emulator refuses, as GCS does.
  const anon = new Storage({apiEndpoint: emu.url, projectId: 'luxe-test', retryOptions: {autoRetry: false}});
  await assert.rejects(names(anon), err => err.code === 401);
});

test('the JWT client refreshes an expired token and keeps working', async () => {
  const jwt = newJwt(key, {eagerRefreshThresholdMillis: 500});
  const storage = storageWith(jwt);
  await emulator('POST', '/_emulator/stats/reset');
  assert.deepEqual(await names(storage), ['hello.csv']);
  const first = jwt.credentials.access_token;
  await sleep(LIFETIME * 1000 + 300);
  // The old token is now refused by the emulator...
  const r = await fetch(`${emu.url}/storage/v1/b/bkt/o`, {headers: {Authorization: `Bearer ${first}`}});
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error.errors[0].reason, 'authError');
  // ...and the client notices the expiry and fetches a new one.
  assert.deepEqual(await names(storage), ['hello.csv']);
  assert.notEqual(jwt.credentials.access_token, first);
  assert.equal(await requestsOf('oauth2.token'), 2);
});

test('a key the emulator does not know fails with invalid_grant: Invalid JWT Signature.', async () => {
  const jwt = newJwt({...stranger, client_email: EMAIL});
  await assert.rejects(jwt.authorize(), err => {
    assert.equal(err.response?.status, 400);
    assert.match(err.message, /invalid_grant: Invalid JWT Signature\./);
    return true;
  });
});

test('a 503 from the token endpoint is retried by the library', async () => {
  await emulator('POST', '/_emulator/stats/reset');
  await emulator('POST', '/_emulator/faults', {instructions: {'oauth2.token': ['return-503']}});
  const creds = await newJwt().authorize();
  assert.match(creds.access_token, /^ya29\./);
  assert.equal(await requestsOf('oauth2.token'), 2);
  assert.deepEqual((await emulator('GET', '/_emulator/faults')).json.instructions, {});
});

test('Compute client gets a token from the metadata server (GCE_METADATA_HOST)', async () => {
  process.env.GCE_METADATA_HOST = `127.0.0.1:${emu.port}`;
  process.env.GCE_METADATA_IP = `127.0.0.1:${emu.port}`;
  await emulator('POST', '/_emulator/stats/reset');
  const compute = new Compute({scopes: [SCOPE]});
  const {token} = await compute.getAccessToken();
  assert.match(token, /^ya29\./);
  assert.equal(await requestsOf('metadata.token'), 1);
  assert.deepEqual(await names(storageWith(compute)), ['hello.csv']);
});

test('the metadata server answers 403 without Metadata-Flavor and sets it on replies', async () => {
  const p = `${emu.url}/computeMetadata/v1/instance/service-accounts/default/token`;
  assert.equal((await fetch(p)).status, 403);
  const r = await fetch(p, {headers: {'Metadata-Flavor': 'Google'}});
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('metadata-flavor'), 'Google');
  assert.equal((await r.json()).expires_in, LIFETIME);
});

// ---- run ----------------------------------------------------------------------------------
let passed = 0, failed = 0;
try {
  key = makeKey('sa', EMAIL);
  stranger = makeKey('stranger', 'stranger@luxe-test.iam.gserviceaccount.com');
  const keyFile = path.join(work, 'sa.json');
  emu = await startEmulator(['--require-auth', '--service-account', keyFile, '--token-lifetime', String(LIFETIME)]);
} catch (err) {
  console.log('not ok 1 - setup (keys and emulator)');
  console.log(`# ${err.stack}`.replaceAll('\n', '\n# '));
  console.log('oauth-node: 0 passed, 1 failed');
  fs.rmSync(work, {recursive: true, force: true});
  process.exit(1);
}
for (const [i, {name, fn}] of tests.entries()) {
  try {
    await fn();
    passed++;
    console.log(`ok ${i + 1} - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok ${i + 1} - ${name}`);
    console.log(`# ${(err.stack || String(err)).split('\n').slice(0, 8).join('\n# ')}`);
  }
}
emu.child.kill('SIGTERM');
await new Promise(r => (emu.child.exitCode !== null ? r() : emu.child.once('exit', r)));
fs.rmSync(work, {recursive: true, force: true});
console.log(`oauth-node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
