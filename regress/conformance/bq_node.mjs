// Conformance of the luxe emulator's BigQuery REST v2 service, judged by Google's own Node
// client (@google-cloud/bigquery 8), which sends requestIds and insertIds, retries partial
// insert failures, polls jobs and pages through results.
//
// Usage: LUXE_EMULATOR_URL=http://127.0.0.1:PORT node regress/conformance/bq_node.mjs
// Starts nothing: the emulator must already be running. Prints "ok N - name" or
// "not ok N - name" per test, then "bq-node: N passed, M failed"; exits 1 on failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {BigQuery} from '@google-cloud/bigquery';
import {Storage} from '@google-cloud/storage';
import {OAuth2Client} from 'google-auth-library';

const BASE = process.env.LUXE_EMULATOR_URL;
if (!BASE) {
  console.error('LUXE_EMULATOR_URL is not set');
  process.exit(2);
}

// A fixed access token: sent as "Bearer fake"; the client then makes no network auth calls.
const authClient = new OAuth2Client();
authClient.setCredentials({access_token: 'fake', expiry_date: Date.now() + 3600 * 1000});
const PROJECT = `node-${crypto.randomBytes(3).toString('hex')}`;
const bq = new BigQuery({projectId: PROJECT, apiEndpoint: BASE, authClient});
const DS = `node_${crypto.randomBytes(4).toString('hex')}`;
const BUCKET = `bqnode-${crypto.randomBytes(4).toString('hex')}`;
let dataset;
let table;

const tests = [];
const test = (name, fn) => tests.push({name, fn});

async function emulator(method, path, body, headers = {}) {
  const res = await fetch(BASE + path, {
    method,
    headers: body ? {'Content-Type': 'application/json', ...headers} : headers,
    body: body ? (Buffer.isBuffer(body) ? body : JSON.stringify(body)) : undefined,
  });
  const text = await res.text();
  return {status: res.status, json: text ? JSON.parse(text) : null};
}

// ---- tests --------------------------------------------------------------------------------

test('create a dataset and a table with a schema', async () => {
  [dataset] = await bq.createDataset(DS);
  const [exists] = await bq.dataset(DS).exists();
  assert.equal(exists, true);
  [table] = await dataset.createTable('items', {schema: {fields: [
    {name: 'id', type: 'INT64', mode: 'REQUIRED'}, {name: 'brand', type: 'STRING'},
    {name: 'price', type: 'FLOAT64'}, {name: 'big', type: 'INT64'}, {name: 'at', type: 'TIMESTAMP'},
    {name: 'n', type: 'NUMERIC'}, {name: 'tags', type: 'STRING', mode: 'REPEATED'},
    {name: 'rec', type: 'RECORD', fields: [{name: 'k', type: 'STRING'}, {name: 'v', type: 'INT64'}]},
  ]}});
  const [meta] = await table.getMetadata();
  assert.equal(meta.type, 'TABLE');
  assert.equal(meta.numRows, '0');
  assert.deepEqual(meta.schema.fields.map(f => [f.name, f.type]),
    [['id', 'INTEGER'], ['brand', 'STRING'], ['price', 'FLOAT'], ['big', 'INTEGER'], ['at', 'TIMESTAMP'],
     ['n', 'NUMERIC'], ['tags', 'STRING'], ['rec', 'RECORD']]);
  const [tables] = await dataset.getTables();
  assert.deepEqual(tables.map(t => t.id), ['items']);
});

test('insert rows (insertAll with insertIds), read back typed values', async () => {
  const rows = [];
  for (let i = 1; i <= 30; i++) {
    rows.push({id: i, brand: i % 2 ? 'Chanel' : 'Gucci', price: i * 1.5, big: '9007199254740993',
               at: '2024-01-01T00:00:00.123456Z', n: '0.1', tags: ['a', `t${i}`], rec: {k: `k${i}`, v: i}});
  }
  await table.insert(rows);
  const [meta] = await table.getMetadata();
  assert.equal(meta.numRows, '30');
  const [got] = await table.getRows({maxResults: 1, autoPaginate: false, wrapIntegers: true});
  assert.equal(got.length, 1);
  assert.equal(got[0].id.value, '1');
  assert.equal(got[0].big.value, '9007199254740993');
  assert.equal(got[0].price, 1.5);
  assert.match(got[0].at.value, /^2024-01-01T00:00:00\.123456(000)?Z$/);  // the client pads to ns
  assert.equal(got[0].n.toString(), '0.1');
  assert.deepEqual(got[0].tags, ['a', 't1']);
  assert.equal(got[0].rec.k, 'k1');
});

test('insert with an invalid row raises PartialFailureError and inserts nothing', async () => {
  let caught;
  try {
    await table.insert([{id: 100, brand: 'ok'}, {id: 'not a number', brand: 'bad'}, {brand: 'no id'}]);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, 'expected an error');
  assert.equal(caught.name, 'PartialFailureError');
  const reasons = caught.errors.map(e => e.errors[0].reason).sort();
  assert.deepEqual(reasons, ['invalid', 'invalid', 'stopped']);
  const bad = caught.errors.find(e => e.row.brand === 'bad');
  assert.equal(bad.errors[0].reason, 'invalid');
  const [meta] = await table.getMetadata();
  assert.equal(meta.numRows, '30');
  await table.insert([{id: 100, brand: 'ok'}, {id: 'x'}], {skipInvalidRows: true}).catch(e => {
    assert.equal(e.name, 'PartialFailureError');
  });
  const [[row]] = await bq.query({query: `SELECT COUNT(*) AS c FROM \`${PROJECT}.${DS}.items\` WHERE id = 100`});
  assert.equal(row.c, 1);
});

test('getRows pages with maxResults and pageToken', async () => {
  const [all] = await table.getRows();
  assert.equal(all.length, 31);
  const [capped] = await table.getRows({maxResults: 7});  // the paginator caps the total
  assert.equal(capped.length, 7);
  let [page, next] = await table.getRows({maxResults: 7, autoPaginate: false});
  assert.equal(page.length, 7);
  assert.ok(next && next.pageToken);
  const ids = page.map(r => r.id);
  while (next) {
    [page, next] = await table.getRows({...next, autoPaginate: false});
    ids.push(...page.map(r => r.id));
  }
  assert.equal(ids.length, 31);
  assert.deepEqual(ids.slice(0, 3), [1, 2, 3]);
});

test('query with named parameters (numbers, strings, arrays) and result types', async () => {
  const [rows] = await bq.query({
    query: `SELECT brand, COUNT(*) AS n, SUM(price) AS total, AVG(id) AS mean FROM \`${PROJECT}.${DS}.items\`
            WHERE id <= @hi AND brand IN UNNEST(@brands) GROUP BY brand ORDER BY brand`,
    params: {hi: 10, brands: ['Chanel', 'Gucci']}, location: 'US'});
  assert.deepEqual(rows, [{brand: 'Chanel', n: 5, total: 37.5, mean: 5}, {brand: 'Gucci', n: 5, total: 45, mean: 6}]);
  const [[one]] = await bq.query({query: 'SELECT @x AS x, @s AS s, 7 / 2 AS q, @t AS t',
    params: {x: 5, s: 'héllo', t: bq.timestamp('2024-03-15T12:34:56.123456Z')}});
  assert.equal(one.x, 5);
  assert.equal(one.s, 'héllo');
  assert.equal(one.q, 3.5);
  assert.match(one.t.value, /^2024-03-15T12:34:56\.123456(000)?Z$/);
  const [[ts]] = await bq.query(`SELECT at FROM \`${PROJECT}.${DS}.items\` WHERE id = 1`);
  assert.match(ts.at.value, /^2024-01-01T00:00:00\.123456(000)?Z$/);
});

test('createQueryJob + getQueryResults pages with maxResults', async () => {
  const [job] = await bq.createQueryJob({query: `SELECT id FROM \`${PROJECT}.${DS}.items\` ORDER BY id DESC`});
  const [first, next] = await job.getQueryResults({maxResults: 8, autoPaginate: false});
  assert.deepEqual(first.map(r => r.id), [100, 30, 29, 28, 27, 26, 25, 24]);
  assert.ok(next && next.pageToken);
  const ids = first.map(r => r.id);
  let page;
  let tok = next;
  while (tok) {
    [page, tok] = await job.getQueryResults({...tok, autoPaginate: false});
    assert.ok(page.length <= 8);
    ids.push(...page.map(r => r.id));
  }
  assert.equal(ids.length, 31);
  assert.equal(ids[30], 1);
  const [all] = await job.getQueryResults();
  assert.equal(all.length, 31);
  const [meta] = await job.getMetadata();
  assert.equal(meta.status.state, 'DONE');
  assert.equal(meta.statistics.query.statementType, 'SELECT');
});

test('jobComplete:false is polled until the rows arrive (job-incomplete-3)', async () => {
  await emulator('POST', '/_emulator/faults', {instructions: {'bigquery.jobs.query': ['job-incomplete-3']}});
  const [rows] = await bq.query({query: 'SELECT 41 + 1 AS answer'});
  assert.deepEqual(rows, [{answer: 42}]);
  const jobs = (await emulator('GET', '/_emulator/bigquery/jobs')).json.jobs;
  assert.ok(jobs.some(j => j.query === 'SELECT 41 + 1 AS answer' && j.state === 'DONE'));
});

test('a retried jobs.query after 403 rateLimitExceeded / 500 backendError succeeds, one job', async () => {
  await emulator('POST', '/_emulator/faults', {instructions: {'bigquery.jobs.query':
    ['return-403-rateLimitExceeded', 'return-500-backendError']}});
  const before = (await emulator('GET', '/_emulator/bigquery/jobs')).json.jobs.length;
  const [rows] = await bq.query({query: 'SELECT "retried" AS r'});
  assert.deepEqual(rows, [{r: 'retried'}]);
  const after = (await emulator('GET', '/_emulator/bigquery/jobs')).json.jobs;
  assert.equal(after.length, before + 1);
  const left = (await emulator('GET', '/_emulator/faults')).json;
  assert.deepEqual(left.instructions, {});
});

test('job-slow + cancel ends the job with reason stopped', async () => {
  await emulator('POST', '/_emulator/faults', {instructions: {'bigquery.jobs.insert': ['job-slow-30s']}});
  const [job] = await bq.createQueryJob({query: 'SELECT 1 AS slow'});
  const [meta] = await job.getMetadata();
  assert.equal(meta.status.state, 'RUNNING');
  await job.cancel();
  const [after] = await job.getMetadata();
  assert.equal(after.status.state, 'DONE');
  assert.equal(after.status.errorResult.reason, 'stopped');
  const ctl = (await emulator('GET', '/_emulator/bigquery/jobs')).json.jobs.find(j => j.jobId === job.id);
  assert.equal(ctl.cancelled, true);
});

test('load a CSV from a gs:// object of the GCS emulator; the job is polled to DONE', async () => {
  await emulator('POST', `/storage/v1/b?project=${PROJECT}`, {name: BUCKET});
  const csv = Buffer.from('id,brand,price\n1,Hermes,10.5\n2,"Dior, Paris",20\n3,Prada,\n');
  const up = await emulator('POST', `/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=load.csv`, csv,
    {'Content-Type': 'text/csv'});
  assert.equal(up.status, 200);
  // A Storage File names the gs:// source; the client builds the jobs.insert body itself.
  const file = new Storage({apiEndpoint: BASE, projectId: PROJECT}).bucket(BUCKET).file('load.csv');
  const [ljob] = await dataset.table('loaded').createLoadJob(file, {
    sourceFormat: 'CSV', skipLeadingRows: 1, autodetect: true, writeDisposition: 'WRITE_TRUNCATE'});
  const [done] = await ljob.promise().then(() => ljob.getMetadata());
  assert.equal(done.status.state, 'DONE');
  assert.equal(done.status.errorResult, undefined);
  assert.equal(done.statistics.load.outputRows, '3');
  const [rows] = await dataset.table('loaded').getRows();
  assert.deepEqual(rows.map(r => [r.id, r.brand, r.price]), [[1, 'Hermes', 10.5], [2, 'Dior, Paris', 20], [3, 'Prada', null]]);
});

test('a failed load reports errorResult through the client', async () => {
  await emulator('POST', `/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=bad.csv`,
    Buffer.from('1,a\nx,b\n'), {'Content-Type': 'text/csv'});
  const [job] = await bq.createJob({configuration: {load: {
    destinationTable: {projectId: PROJECT, datasetId: DS, tableId: 'badload'},
    sourceUris: [`gs://${BUCKET}/bad.csv`],
    schema: {fields: [{name: 'id', type: 'INT64'}, {name: 's', type: 'STRING'}]}}}});
  await assert.rejects(job.promise(), err => /too many errors/.test(err.message) && /line 2/.test(err.message));
});

// ---- the analytics pipeline: loads with a schema, query jobs, windows, billing limits ----

const LISTINGS_TSV = 'id\tbrand\tprice\tsold\tday\n' +
  '1\tChanel\t10.5\ttrue\t2024-01-01\n' +
  '2\tDior\tNA\tFALSE\t2024-01-02\n' +
  '3\tChanel\t30\tyes\tNA\n' +
  'x\tBad\t1\ttrue\t2024-01-01\n' +
  '4\tGucci\t"7.25"\tn\t2024-01-04\n' +
  '5\tChanel\t50\t1\t2024-01-05\n';
const LISTINGS = [[1, 'Chanel', 10.5, true, '2024-01-01'], [2, 'Dior', null, false, '2024-01-02'],
  [3, 'Chanel', 30, true, null], [4, 'Gucci', 7.25, false, '2024-01-04'], [5, 'Chanel', 50, true, '2024-01-05']];

test('load a TSV with an explicit schema, nullMarker and a bad-record budget (WRITE_TRUNCATE)', async () => {
  const up = await emulator('POST', `/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=listings.tsv`,
    Buffer.from(LISTINGS_TSV), {'Content-Type': 'text/tab-separated-values'});
  assert.equal(up.status, 200);
  const file = new Storage({apiEndpoint: BASE, projectId: PROJECT}).bucket(BUCKET).file('listings.tsv');
  const opts = {sourceFormat: 'CSV', fieldDelimiter: '\t', quote: '"', skipLeadingRows: 1, nullMarker: 'NA',
    maxBadRecords: 1, writeDisposition: 'WRITE_TRUNCATE', createDisposition: 'CREATE_IF_NEEDED',
    schema: {fields: [{name: 'id', type: 'INT64', mode: 'REQUIRED'}, {name: 'brand', type: 'STRING'},
      {name: 'price', type: 'FLOAT64'}, {name: 'sold', type: 'BOOL'}, {name: 'day', type: 'DATE'}]}};
  for (let round = 0; round < 2; round++) {  // WRITE_TRUNCATE: loading twice keeps one copy
    const [job] = await dataset.table('listings').createLoadJob(file, opts);
    await job.promise();
    const [meta] = await job.getMetadata();
    assert.equal(meta.status.errorResult, undefined);
    assert.equal(meta.status.errors.length, 1);  // the bad row, reported though the job succeeded
    assert.match(meta.status.errors[0].message, /x/);
    assert.deepEqual(meta.statistics.load, {inputFiles: '1', inputFileBytes: String(Buffer.byteLength(LISTINGS_TSV)),
      outputRows: '5', outputBytes: String(5 * 8 + [6, 4, 6, 5, 6].map(n => n + 2).reduce((a, b) => a + b) +
      4 * 8 + 5 * 1 + 4 * 8), badRecords: '1'});
  }
  const [rows] = await dataset.table('listings').getRows();
  assert.deepEqual(rows.map(r => [r.id, r.brand, r.price, r.sold, r.day && r.day.value]), LISTINGS);
});

test('a query job into a destination table with WRITE_TRUNCATE, and its statistics', async () => {
  const query = `SELECT brand, COUNT(*) AS n FROM \`${PROJECT}.${DS}.listings\` GROUP BY brand`;
  for (let round = 0; round < 2; round++) {
    const [job] = await bq.createQueryJob({query, destination: dataset.table('brands'),
      writeDisposition: 'WRITE_TRUNCATE', priority: 'BATCH', labels: {step: 'report'}});
    await job.promise();
    const [meta] = await job.getMetadata();
    assert.equal(meta.configuration.query.destinationTable.tableId, 'brands');
    assert.equal(meta.statistics.query.statementType, 'SELECT');
    assert.equal(meta.statistics.query.totalBytesProcessed, String(2 + 6 + 2 + 4 + 2 + 6 + 2 + 5 + 2 + 6));
    assert.equal(meta.statistics.query.totalBytesBilled, String(10 * 1024 * 1024));
  }
  const [rows] = await dataset.table('brands').getRows();
  assert.deepEqual(rows.map(r => [r.brand, r.n]).sort(), [['Chanel', 3], ['Dior', 1], ['Gucci', 1]]);
});

test('analytic functions: SUM(COUNT(*)) OVER, ROW_NUMBER, PERCENTILE_CONT', async () => {
  const [rows] = await bq.query({query: `
    SELECT brand, COUNT(*) AS n, SUM(COUNT(*)) OVER () AS total,
           ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, brand) AS rk
    FROM \`${PROJECT}.${DS}.listings\` GROUP BY brand ORDER BY rk`});
  assert.deepEqual(rows, [{brand: 'Chanel', n: 3, total: 5, rk: 1}, {brand: 'Dior', n: 1, total: 5, rk: 2},
    {brand: 'Gucci', n: 1, total: 5, rk: 3}]);
  const [med] = await bq.query({query: `
    SELECT DISTINCT brand, PERCENTILE_CONT(price, 0.5) OVER (PARTITION BY brand) AS median,
           PERCENTILE_CONT(price, 0.25) OVER (PARTITION BY brand) AS p25
    FROM \`${PROJECT}.${DS}.listings\` ORDER BY brand`});
  // Chanel's prices 10.5, 30, 50: the median is the middle one, p25 interpolates 10.5 + 0.5 * (30 - 10.5)
  assert.deepEqual(med, [{brand: 'Chanel', median: 30, p25: 20.25}, {brand: 'Dior', median: null, p25: null},
    {brand: 'Gucci', median: 7.25, p25: 7.25}]);
});

test('maximumBytesBilled: the query is refused with bytesBilledLimitExceeded', async () => {
  const query = `SELECT brand FROM \`${PROJECT}.${DS}.listings\``;
  await assert.rejects(bq.query({query, maximumBytesBilled: '1000'}), err =>
    err.errors[0].reason === 'bytesBilledLimitExceeded' &&
    err.message === `Query exceeded limit for bytes billed: 1000. ${10 * 1024 * 1024} or higher required.`);
  // the job fails as it is created (the emulator runs queries synchronously) or when polled
  await assert.rejects(async () => {
    const [job] = await bq.createQueryJob({query, maximumBytesBilled: '1000', destination: dataset.table('capped'),
      writeDisposition: 'WRITE_TRUNCATE'});
    await job.promise();
  }, err => /exceeded limit for bytes billed/.test(err.message));
  const [exists] = await dataset.table('capped').exists();
  assert.equal(exists, false);
  const [rows] = await bq.query({query, maximumBytesBilled: String(10 * 1024 * 1024)});
  assert.equal(rows.length, 5);
});

test('DDL and a multi-statement transaction through the client', async () => {
  const T = `\`${PROJECT}.${DS}`;
  await bq.query(`CREATE OR REPLACE VIEW ${T}.chanel\` AS SELECT id, price FROM ${T}.listings\` WHERE brand = 'Chanel'`);
  const [vmeta] = await dataset.table('chanel').getMetadata();
  assert.equal(vmeta.type, 'VIEW');
  const [job] = await bq.createQueryJob(`BEGIN TRANSACTION;
    DELETE FROM ${T}.listings\` WHERE id IN (SELECT id FROM ${T}.chanel\` WHERE price > 40);
    COMMIT TRANSACTION;
    SELECT COUNT(*) AS n FROM ${T}.chanel\``);
  const [rows] = await job.getQueryResults();
  assert.deepEqual(rows, [{n: 2}]);
  const [meta] = await job.getMetadata();
  assert.equal(meta.statistics.query.statementType, 'SCRIPT');
  assert.equal(meta.statistics.numChildJobs, '4');  // BEGIN, DELETE, COMMIT and SELECT
  await dataset.table('chanel').delete();
  const [gone] = await dataset.table('chanel').exists();
  assert.equal(gone, false);
});

test('CREATE SCHEMA IF NOT EXISTS and DROP SCHEMA CASCADE through the client', async () => {
  const name = `${DS}_schema`;
  const [job] = await bq.createQueryJob(`CREATE SCHEMA IF NOT EXISTS \`${PROJECT}.${name}\``);
  await job.getQueryResults();
  const [meta] = await job.getMetadata();
  assert.equal(meta.statistics.query.statementType, 'CREATE_SCHEMA');
  assert.equal(meta.statistics.query.ddlTargetDataset.datasetId, name);
  const [exists] = await bq.dataset(name).exists();
  assert.equal(exists, true);
  // again: IF NOT EXISTS skips; without it, the dataset is a duplicate
  await bq.query(`CREATE SCHEMA IF NOT EXISTS \`${PROJECT}.${name}\``);
  await assert.rejects(bq.query(`CREATE SCHEMA \`${PROJECT}.${name}\``), /Already Exists/);
  await bq.query(`CREATE TABLE \`${PROJECT}.${name}.t\` (x INT64)`);
  await assert.rejects(bq.query(`DROP SCHEMA \`${PROJECT}.${name}\``), /still in use|CASCADE/);
  await bq.query(`DROP SCHEMA \`${PROJECT}.${name}\` CASCADE`);
  const [gone] = await bq.dataset(name).exists();
  assert.equal(gone, false);
});

test('delete the table and the dataset', async () => {
  await dataset.delete({force: true});
  const [exists] = await bq.dataset(DS).exists();
  assert.equal(exists, false);
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
  await emulator('DELETE', '/_emulator/faults');
}
console.log(`bq-node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
