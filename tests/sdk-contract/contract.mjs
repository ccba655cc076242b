// Contract test: Unipile's official Node SDK against unipile-sim.
//
//   node contract.mjs <sim_base_url> <api_key>
//
// The SDK runs with validateRequestPayload (level "warn"), so it checks every 2xx body
// against its own schemas and console.warn()s on the first shape it does not expect.
// This script exits 1 on any failed expectation and on any line the SDK writes with
// console.warn or console.error: a warning is the simulator not answering like Unipile.
//
// It seeds accounts through the simulator's /_sim/ control API (adding to whatever the
// simulator already holds; it resets nothing) and then makes, through the SDK, every
// call relink makes of Unipile.
//
// One allowance, where the SDK's schema is behind Unipile's published v1 OpenAPI
// document: the SDK types a listed webhook's `events` as messaging and mail events
// only, while the published GET /api/v1/webhooks schema also lists the account-status
// events (creation_success … permissions) that relink subscribes to (`ok` and
// `stopped` are not in Unipile's default set, so relink must name them). A listed
// webhook whose `events` are all account-status events is validated by the SDK with
// `events` left out; every other field, and any other event value, still has to pass
// the SDK's own validator. Each use of the allowance is printed.

import { UnipileClient, UnsuccessfulRequestError } from 'unipile-node-sdk';
import { randomBytes } from 'node:crypto';

const [baseUrl, apiKey] = process.argv.slice(2);
if (!baseUrl || !apiKey) {
  console.error('usage: node contract.mjs <sim_base_url> <api_key>');
  process.exit(2);
}

// Every console.warn/console.error (the SDK's validation channel) is recorded, and
// still printed so that the failure shows what the SDK objected to.
const warnings = [];
for (const level of ['warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    warnings.push(
      args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a, null, 2))).join(' '),
    );
    original(...args);
  };
}

const failures = [];
const passed = [];
function expect(cond, what) {
  if (cond) passed.push(what);
  else failures.push(what);
  return cond;
}

/** Runs one step; an exception is a failed expectation, not a crash. */
async function step(name, body) {
  const before = warnings.length;
  try {
    await body();
  } catch (e) {
    failures.push(`${name}: threw ${e?.constructor?.name}: ${e?.message} ${JSON.stringify(e?.body ?? null)}`);
  }
  const warned = warnings.length - before;
  expect(warned === 0, `${name}: no SDK validation warning (got ${warned})`);
  console.log(`step: ${name}`);
}

/** The call must fail with an UnsuccessfulRequestError carrying a v1 error body. */
async function expectError(name, call, status, type) {
  try {
    const r = await call();
    failures.push(`${name}: expected ${status}, got success ${JSON.stringify(r)}`);
  } catch (e) {
    if (!expect(e instanceof UnsuccessfulRequestError, `${name}: UnsuccessfulRequestError (got ${e?.constructor?.name}: ${e?.message})`)) return;
    const b = e.body ?? {};
    expect(b.status === status, `${name}: body.status ${status} (got ${b.status})`);
    expect(b.type === type, `${name}: body.type ${type} (got ${b.type})`);
    expect(typeof b.title === 'string' && b.title.length > 0, `${name}: body.title is a string`);
  }
}

async function sim(method, path, body) {
  const r = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`sim ${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A 22-character id of Unipile's observed alphabet. */
function newId() {
  return randomBytes(16).toString('base64url').slice(0, 22);
}

// The account-status events of the published spec's listed-webhook schema.
const ACCOUNT_STATUS_EVENTS = new Set([
  'creation_success', 'creation_fail', 'deleted', 'reconnected', 'sync_success', 'stopped',
  'ok', 'connecting', 'error', 'credentials', 'permissions',
]);
const allowances = [];

/** A client whose validation carries the one allowance described at the top. */
function sdkClient(key) {
  const c = new UnipileClient(baseUrl, key, {
    validateRequestPayload: true,
    validateRequestPayloadLevel: 'warn',
  });
  const validate = c.request.validate.bind(c.request);
  c.request.validate = (value, validator, level) => {
    if (value?.object !== 'WebhookList' || !Array.isArray(value.items)) {
      return validate(value, validator, level);
    }
    const items = value.items.map((item) => {
      const events = item?.events;
      if (!Array.isArray(events) || events.length === 0) return item;
      if (!events.every((e) => ACCOUNT_STATUS_EVENTS.has(e))) return item;
      allowances.push(`webhook ${item.id}: account-status events ${events.join(',')}`);
      const { events: _, ...rest } = item;
      return rest;
    });
    validate({ ...value, items }, validator, level);
    return value;
  };
  return c;
}

const client = sdkClient(apiKey);
const inAnHour = new Date(Date.now() + 3600_000).toISOString(); // …sssZ, as Unipile wants

const PAGE = 2;
const seeded = [];

await step('seed accounts through /_sim/', async () => {
  const statuses = ['OK', 'CREDENTIALS', 'OK', 'ERROR', 'STOPPED'];
  for (const [i, status] of statuses.entries()) {
    const id = newId();
    await sim('POST', '/_sim/accounts', { id, name: `Contract Member ${i}`, status });
    seeded.push(id);
  }
});

await step(`account.getAll: every page (limit ${PAGE})`, async () => {
  const seen = [];
  const cursors = new Set();
  let cursor;
  let pages = 0;
  for (;;) {
    const page = await client.account.getAll(cursor ? { limit: PAGE, cursor } : { limit: PAGE });
    pages += 1;
    expect(page.object === 'AccountList', `page ${pages}: object AccountList`);
    expect(page.items.length <= PAGE, `page ${pages}: at most ${PAGE} items`);
    seen.push(...page.items.map((a) => a.id));
    if (page.cursor === null) break;
    expect(typeof page.cursor === 'string' && page.cursor.length > 0, `page ${pages}: cursor is a string or null`);
    if (!expect(!cursors.has(page.cursor), `page ${pages}: a cursor not seen before`)) break;
    if (!expect(pages < 1000, 'fewer than 1000 pages')) break;
    cursors.add(page.cursor);
    cursor = page.cursor;
  }
  expect(pages >= 3, `more than two pages (got ${pages})`);
  for (const id of seeded) expect(seen.includes(id), `listing holds seeded account ${id}`);
  expect(new Set(seen).size === seen.length, 'no account listed twice');
});

const target = seeded[1];

await step('account.getOne', async () => {
  const a = await client.account.getOne(target);
  expect(a.object === 'Account' && a.id === target, 'getOne answers that Account');
  expect(a.type === 'LINKEDIN', 'type LINKEDIN');
  expect(Array.isArray(a.sources) && a.sources[0]?.status === 'CREDENTIALS', 'source status CREDENTIALS');
});

await step('account.getOne of an unknown account → 404', async () => {
  await expectError('unknown account', () => client.account.getOne(newId()), 404, 'errors/resource_not_found');
});

// The two hosted-auth requests relink sends (unipile/src/types.rs HostedLinkRequest).
const linkCommon = {
  api_url: baseUrl,
  expiresOn: inAnHour,
  notify_url: 'http://127.0.0.1:9/webhooks/unipile/notify?token=contract',
  success_redirect_url: 'http://127.0.0.1:9/linkedin/connected',
  failure_redirect_url: 'http://127.0.0.1:9/linkedin/failed',
};

await step('account.createHostedAuthLink type create', async () => {
  const r = await client.account.createHostedAuthLink({
    type: 'create',
    providers: ['LINKEDIN'],
    name: 'seat_contract_create',
    ...linkCommon,
  });
  expect(r.object === 'HostedAuthUrl' && typeof r.url === 'string' && r.url.length > 0, 'create link: HostedAuthUrl with a url');
});

await step('account.createHostedAuthLink type reconnect', async () => {
  const r = await client.account.createHostedAuthLink({
    type: 'reconnect',
    reconnect_account: target,
    name: 'seat_contract_reconnect',
    ...linkCommon,
  });
  expect(r.object === 'HostedAuthUrl' && typeof r.url === 'string' && r.url.length > 0, 'reconnect link: HostedAuthUrl with a url');
});

// relink's registration (unipile/src/types.rs WebhookRequest::account_status).
const requestUrl = `http://127.0.0.1:9/webhooks/unipile/account-status/${newId()}`;
let webhookId;

await step('webhook.create (account_status)', async () => {
  const r = await client.webhook.create({
    source: 'account_status',
    request_url: requestUrl,
    name: 'relink-account-status',
    format: 'json',
    events: [
      'creation_success', 'creation_fail', 'reconnected', 'deleted', 'ok', 'connecting',
      'stopped', 'error', 'credentials', 'permissions', 'sync_success',
    ],
    headers: [{ key: 'Unipile-Auth', value: 'contract-secret-0123456789' }],
  });
  expect(r.object === 'WebhookCreated' && typeof r.webhook_id === 'string', 'WebhookCreated with a webhook_id');
  webhookId = r.webhook_id;
});

await step('webhook.getAll', async () => {
  const r = await client.webhook.getAll();
  expect(r.object === 'WebhookList', 'object WebhookList');
  const mine = r.items.find((w) => w.id === webhookId);
  expect(mine !== undefined && mine.request_url === requestUrl, 'the new webhook is listed with its request_url');
});

await step('webhook.delete', async () => {
  const r = await client.webhook.delete(webhookId);
  expect(r.object === 'WebhookDeleted', 'object WebhookDeleted');
});

await step('account.delete', async () => {
  const r = await client.account.delete(target);
  expect(r.object === 'AccountDeleted', 'object AccountDeleted');
  await expectError('deleted account', () => client.account.getOne(target), 404, 'errors/resource_not_found');
});

await step('a wrong API key → 401', async () => {
  const wrong = sdkClient(`wrong-${apiKey}`);
  await expectError('wrong key', () => wrong.account.getAll({ limit: PAGE }), 401, 'errors/missing_credentials');
});

for (const a of allowances) console.log(`allowance (SDK schema behind the published spec): ${a}`);
console.log(`${passed.length} expectations met, ${failures.length} failed, ${warnings.length} SDK warnings`);
for (const f of failures) console.log(`FAILED: ${f}`);
process.exit(failures.length === 0 && warnings.length === 0 ? 0 : 1);
