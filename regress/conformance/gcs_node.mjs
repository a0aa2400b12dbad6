// Conformance of the luxe emulator's GCS JSON API, judged by Google's own Node client
// (@google-cloud/storage 7), which validates hashes, paginates, retries and resumes uploads.
//
// Usage: LUXE_EMULATOR_URL=http://127.0.0.1:PORT node regress/conformance/gcs_node.mjs
// Starts nothing: the emulator must already be running. Prints "ok N - name" or
// "not ok N - name" per test, then "gcs-node: N passed, M failed"; exits 1 on failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import {Storage, CRC32C} from '@google-cloud/storage';

const BASE = process.env.LUXE_EMULATOR_URL;
if (!BASE) {
  console.error('LUXE_EMULATOR_URL is not set');
  process.exit(2);
}

// A fresh client per fault test: the library toggles a shared `autoRetry` flag around
// non-idempotent writes, and concurrent saves can leave it off for the whole instance.
const newStorage = () => new Storage({
  apiEndpoint: BASE,
  projectId: 'p',
  // Keep retries quick: the fault-injection tests rely on them.
  retryOptions: {autoRetry: true, maxRetries: 4, retryDelayMultiplier: 1.5, maxRetryDelay: 4, totalTimeout: 60},
});
const storage = newStorage();
const BUCKET = `node-${crypto.randomBytes(4).toString('hex')}`;
let bucket;

// ---- tiny harness -------------------------------------------------------------------------
const tests = [];
const test = (name, fn) => tests.push({name, fn});

async function emulator(method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: body ? {'Content-Type': 'application/json'} : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return {status: res.status, json: text ? JSON.parse(text) : null};
}

const md5b64 = buf => crypto.createHash('md5').update(buf).digest('base64');
const crc32cb64 = buf => {
  const c = new CRC32C();
  c.update(buf);
  return c.toString();
};
const rand = n => crypto.randomBytes(n);

async function expectCode(promise, code) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.code, code, `expected error code ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected an error with code ${code}`);
}

async function pool(items, width, fn) {
  let next = 0;
  await Promise.all(Array.from({length: width}, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

// ---- tests --------------------------------------------------------------------------------

test('createBucket, then bucket exists and a missing one does not', async () => {
  [bucket] = await storage.createBucket(BUCKET);
  const [exists] = await storage.bucket(BUCKET).exists();
  assert.equal(exists, true);
  const [missing] = await storage.bucket(`${BUCKET}-missing`).exists();
  assert.equal(missing, false);
  const [buckets] = await storage.getBuckets();
  assert.ok(buckets.some(b => b.name === BUCKET), 'getBuckets lists the new bucket');
});

test('multipart upload, small, crc32c validation', async () => {
  const data = Buffer.from('id,name\n1,alpha\n2,beta\n');
  await bucket.file('small.csv').save(data, {resumable: false, validation: 'crc32c', contentType: 'text/csv'});
  const [meta] = await bucket.file('small.csv').getMetadata();
  assert.equal(meta.contentType, 'text/csv');
  assert.equal(meta.crc32c, crc32cb64(data));
});

test('multipart upload, 3 MB, md5 validation', async () => {
  const data = rand(3 * 1024 * 1024 + 17);
  await bucket.file('multi/3mb.bin').save(data, {resumable: false, validation: 'md5'});
  const [meta] = await bucket.file('multi/3mb.bin').getMetadata();
  assert.equal(meta.md5Hash, md5b64(data));
  assert.equal(meta.size, String(data.length));
});

test('resumable upload in 256 KiB chunks (crc32c validated)', async () => {
  await emulator('POST', '/_emulator/stats/reset');
  const data = rand(5 * 262144 + 1000);
  await bucket.file('resumable/chunked.bin').save(data, {resumable: true, chunkSize: 262144, validation: 'crc32c'});
  const stats = (await emulator('GET', '/_emulator/stats')).json;
  // one POST to open the session and one PUT per chunk (6 chunks)
  assert.ok(stats.requests['storage.objects.insert'] >= 7, JSON.stringify(stats.requests));
  const [got] = await bucket.file('resumable/chunked.bin').download();
  assert.ok(got.equals(data), 'downloaded bytes equal the uploaded ones');
});

test('resumable upload in one streamed request (md5 validated)', async () => {
  const data = rand(700 * 1024 + 3);
  await bucket.file('resumable/single.bin').save(data, {resumable: true, validation: 'md5'});
  const [meta] = await bucket.file('resumable/single.bin').getMetadata();
  assert.equal(meta.md5Hash, md5b64(data));
  assert.equal(meta.crc32c, crc32cb64(data));
});

test('getFiles with prefix and delimiter (documented example)', async () => {
  for (const n of ['a/b', 'a/c', 'd', 'e', 'e/f', 'e/g/h']) await bucket.file(`dl/${n}`).save(n, {resumable: false});
  const [files, , api] = await bucket.getFiles({prefix: 'dl/', delimiter: '/', autoPaginate: false});
  assert.deepEqual(files.map(f => f.name), ['dl/d', 'dl/e']);
  assert.deepEqual(api.prefixes, ['dl/a/', 'dl/e/']);
  const [sub, , api2] = await bucket.getFiles({prefix: 'dl/e/', delimiter: '/', autoPaginate: false});
  assert.deepEqual(sub.map(f => f.name), ['dl/e/f']);
  assert.deepEqual(api2.prefixes, ['dl/e/g/']);
});

test('getFiles autopaginates over 1005 objects', async () => {
  const names = Array.from({length: 1005}, (_, i) => `many/obj-${String(i).padStart(4, '0')}`);
  await pool(names, 16, name => bucket.file(name).save(name, {resumable: false, validation: false}));
  await emulator('POST', '/_emulator/stats/reset');
  const [files] = await bucket.getFiles({prefix: 'many/'});
  assert.equal(files.length, 1005);
  assert.deepEqual(files.map(f => f.name), names);
  const stats = (await emulator('GET', '/_emulator/stats')).json;
  assert.equal(stats.requests['storage.objects.list'], 2, 'two pages of at most 1000');
});

test('getFiles with maxResults pages through nextQuery', async () => {
  let query = {prefix: 'many/', maxResults: 300, autoPaginate: false};
  const seen = [];
  let pages = 0;
  while (query) {
    const [files, next] = await bucket.getFiles(query);
    assert.ok(files.length <= 300);
    seen.push(...files.map(f => f.name));
    pages++;
    query = next;
  }
  assert.equal(pages, 4);
  assert.equal(seen.length, 1005);
  assert.equal(new Set(seen).size, 1005);
});

test('download whole object with crc32c and md5 validation', async () => {
  const data = rand(2 * 1024 * 1024 + 5);
  const file = bucket.file('dl/whole.bin');
  await file.save(data, {resumable: false});
  const [a] = await file.download({validation: 'crc32c'});
  assert.ok(a.equals(data));
  const [b] = await file.download({validation: 'md5'});
  assert.ok(b.equals(data));
});

test('ranged downloads: start/end and tail', async () => {
  const data = Buffer.from(Array.from({length: 1000}, (_, i) => i % 251));
  const file = bucket.file('dl/range.bin');
  await file.save(data, {resumable: false});
  const [mid] = await file.download({start: 10, end: 99});
  assert.ok(mid.equals(data.subarray(10, 100)), 'bytes 10-99');
  const [from] = await file.download({start: 900});
  assert.ok(from.equals(data.subarray(900)), 'bytes 900-');
  const chunks = [];
  await new Promise((resolve, reject) => file.createReadStream({end: -100})
    .on('data', c => chunks.push(c)).on('end', resolve).on('error', reject));
  assert.ok(Buffer.concat(chunks).equals(data.subarray(900)), 'last 100 bytes');
});

test('names with spaces, slashes and unicode', async () => {
  const name = 'dir one/sub dir/naïve ☃ résumé #1?.csv';
  const data = Buffer.from('a,b\n1,2\n');
  await bucket.file(name).save(data, {resumable: false});
  const [meta] = await bucket.file(name).getMetadata();
  assert.equal(meta.name, name);
  const [got] = await bucket.file(name).download();
  assert.ok(got.equals(data));
  const [files] = await bucket.getFiles({prefix: 'dir one/sub dir/'});
  assert.deepEqual(files.map(f => f.name), [name]);
  const resName = 'dir one/ünïcödé resumable.bin';
  await bucket.file(resName).save(rand(300000), {resumable: true});
  const [exists] = await bucket.file(resName).exists();
  assert.equal(exists, true);
});

test('getMetadata fields and types', async () => {
  const data = rand(12345);
  const file = bucket.file('meta/obj.bin');
  await file.save(data, {resumable: false, metadata: {contentType: 'application/x-test', metadata: {k: 'v'}}});
  const [m] = await file.getMetadata();
  assert.equal(m.kind, 'storage#object');
  assert.equal(m.name, 'meta/obj.bin');
  assert.equal(m.bucket, BUCKET);
  assert.equal(typeof m.size, 'string');
  assert.equal(m.size, '12345');
  assert.equal(typeof m.generation, 'string');
  assert.match(m.generation, /^[1-9][0-9]*$/);
  assert.equal(m.metageneration, '1');
  assert.equal(m.md5Hash, md5b64(data));
  assert.equal(m.crc32c, crc32cb64(data));
  assert.equal(m.contentType, 'application/x-test');
  assert.deepEqual(m.metadata, {k: 'v'});
  assert.ok(!Number.isNaN(Date.parse(m.updated)) && !Number.isNaN(Date.parse(m.timeCreated)));
  assert.ok(m.mediaLink.startsWith(BASE + '/download/storage/v1/b/'), m.mediaLink);
  assert.ok(m.etag);
  const [patched] = await file.setMetadata({metadata: {k: null, k2: 'v2'}});
  assert.deepEqual(patched.metadata, {k2: 'v2'});
  assert.equal(patched.metageneration, '2');
  assert.equal(patched.generation, m.generation);
});

test('a missing object gives an error with code 404', async () => {
  await expectCode(bucket.file('no/such/object').getMetadata(), 404);
  await expectCode(bucket.file('no/such/object').download(), 404);
});

test('gzip: true upload is stored gzip and downloads decompressed', async () => {
  const text = 'line,value\n'.repeat(5000);
  const file = bucket.file('gz/data.csv');
  await file.save(text, {resumable: false, gzip: true, contentType: 'text/csv'});
  const [m] = await file.getMetadata();
  assert.equal(m.contentEncoding, 'gzip');
  assert.ok(Number(m.size) < text.length, 'stored compressed');
  const [plain] = await file.download();
  assert.equal(plain.toString(), text);
  const [raw] = await file.download({decompress: false});
  assert.equal(zlib.gunzipSync(raw).toString(), text);
});

test('delete removes the object', async () => {
  const file = bucket.file('del/me.txt');
  await file.save('bye', {resumable: false});
  await file.delete();
  const [exists] = await file.exists();
  assert.equal(exists, false);
  await expectCode(file.delete(), 404);
});

test('ifGenerationMatch preconditions fail with 412', async () => {
  const file = bucket.file('pre/cond.txt');
  await file.save('v1', {resumable: false});
  const [m] = await file.getMetadata();
  await expectCode(file.save('v2', {resumable: false, preconditionOpts: {ifGenerationMatch: 0}}), 412);
  const wrong = {resumable: false, preconditionOpts: {ifGenerationMatch: Number(m.generation) + 1}};
  await expectCode(file.save('v2', wrong), 412);
  await file.save('v2', {resumable: false, preconditionOpts: {ifGenerationMatch: Number(m.generation)}});
  const [m2] = await file.getMetadata();
  assert.ok(BigInt(m2.generation) > BigInt(m.generation), 'a replacement bumps the generation');
  await expectCode(file.getMetadata({ifGenerationMatch: m.generation}), 412);
});

test('downloads survive two injected 503s (client retries)', async () => {
  const data = rand(4096);
  await bucket.file('fault/get.bin').save(data, {resumable: false});
  const file = newStorage().bucket(BUCKET).file('fault/get.bin');
  await emulator('POST', '/_emulator/stats/reset');
  const installed = await emulator('POST', '/_emulator/faults',
    {instructions: {'storage.objects.get': ['return-503', 'return-503']}});
  assert.equal(installed.status, 200);
  const [got] = await file.download();
  assert.ok(got.equals(data));
  const left = (await emulator('GET', '/_emulator/faults')).json;
  assert.deepEqual(left.instructions, {});
  const stats = (await emulator('GET', '/_emulator/stats')).json;
  assert.equal(stats.requests['storage.objects.get'], 3);
});

test('listing survives an injected 429 and a reset connection', async () => {
  await emulator('POST', '/_emulator/faults',
    {instructions: {'storage.objects.list': ['return-429', 'return-reset-connection']}});
  const [files] = await newStorage().bucket(BUCKET).getFiles({prefix: 'dl/e/'});
  assert.deepEqual(files.map(f => f.name), ['dl/e/f', 'dl/e/g/h']);
});

test('a resumable upload resumes after an injected mid-chunk 503', async () => {
  await emulator('POST', '/_emulator/faults',
    {instructions: {'storage.objects.insert': ['return-503-after-256K']}});
  const data = rand(3 * 262144 + 99);
  // With a precondition the upload is idempotent, so the client retries and resumes it.
  await newStorage().bucket(BUCKET).file('fault/resumed.bin').save(data, {
    resumable: true, chunkSize: 2 * 262144, validation: 'crc32c', preconditionOpts: {ifGenerationMatch: 0}});
  const [got] = await bucket.file('fault/resumed.bin').download();
  assert.ok(got.equals(data));
  const left = (await emulator('GET', '/_emulator/faults')).json;
  assert.deepEqual(left.instructions, {}, 'the fault was consumed');
});

// ---- run ----------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
for (const [i, t] of tests.entries()) {
  try {
    await t.fn();
    passed++;
    console.log(`ok ${i + 1} - ${t.name}`);
  } catch (err) {
    failed++;
    console.log(`not ok ${i + 1} - ${t.name}`);
    for (const line of String(err && err.stack || err).split('\n').slice(0, 8)) console.log(`# ${line}`);
  }
}
await emulator('DELETE', '/_emulator/faults');
console.log(`gcs-node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
