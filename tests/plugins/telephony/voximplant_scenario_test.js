// The Voximplant call scenario (plugins/telephony/voximplant_scenario.js)
// run in node against a stand-in for VoxEngine's API: the objects and
// events it uses (VoxEngine.customData, Net.httpRequestAsync, callPSTN,
// CallEvents, VoiceList), recording what the scenario asks of them.
// Usage: node voximplant_scenario_test.js <scenario.js>
'use strict';
const assert = require('assert');
const fs = require('fs');
const vm = require('vm');

const source = fs.readFileSync(process.argv[2], 'utf8');
const CALLBACK = 'https://crm.example.com/webhooks/vox';

// One scenario session: `answer(url, body)` is what the plugin's callback
// answers ({code, text}).
function session(customData, answer) {
  const listeners = {};
  const posted = [];
  const calls = [];
  const timers = [];  // {ms, run}: none runs by itself
  let terminated = false;
  const on = (target) => (event, listener) => (target[event] = target[event] || []).push(listener);
  const sandbox = {
    AppEvents: { Started: 'Started' },
    CallEvents: { Connected: 'Connected', Failed: 'Failed', Disconnected: 'Disconnected', PlaybackFinished: 'PlaybackFinished' },
    VoiceList: { YandexV3: { ru_RU_alena: 'yandexv3-alena' }, Google: { ru_RU_Standard_A: 'google-a' } },
    VoxEngine: {
      addEventListener: on(listeners),
      customData: () => customData,
      terminate: () => (terminated = true),
      callPSTN: (to, from) => {
        const handlers = {};
        const call = { to, from, said: [], played: [], hungUp: false, handlers, addEventListener: on(handlers) };
        call.say = (text, options) => call.said.push({ text, options });
        call.startPlayback = (url) => call.played.push(url);
        call.hangup = () => (call.hungUp = true);
        calls.push(call);
        return call;
      },
    },
    Net: {
      httpRequestAsync: (url, options) => {
        const body = JSON.parse(options.postData);
        posted.push({ url, method: options.method, headers: options.headers, body });
        return Promise.resolve(answer(url, body));
      },
    },
    setTimeout: (run, ms) => timers.push({ ms, run }),
    clearTimeout: () => {},
    Date,
    JSON,
    Math,
    Object,
    Promise,
    String,
  };
  vm.runInNewContext(source, sandbox);
  const fire = (handlers, event, arg) => (handlers[event] || []).forEach((listener) => listener(arg || {}));
  fire(listeners, 'Started');
  // Runs the timers set for less than `ms` (a retry's pause, not the ring timeout).
  const elapse = (ms) => timers.splice(0).forEach((t) => (t.ms < ms ? t.run() : timers.push(t)));
  return { posted, calls, fire, elapse, terminated: () => terminated };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
// Objects made inside the scenario's context have that context's prototypes.
const plain = (value) => JSON.parse(JSON.stringify(value));

const fetched = {
  call_id: 'e1:reminder:Call',
  token: 'report-token',
  to: '79990001122',
  from: '74950001122',
  say: 'Ваш заказ готов',
  voice: 'YandexV3.ru_RU_alena',
  speed: 120,
  repeat: 2,
  ring_timeout: 30,
  callback: CALLBACK,
};

async function fetchesItsCallSaysItTwiceAndReportsTheOutcome() {
  const s = session(JSON.stringify({ fetch: CALLBACK, key: 'k1', token: 'fetch-token' }), (url, body) =>
    body.fetch ? { code: 200, text: JSON.stringify(fetched) } : { code: 200, text: '' });
  await settle();
  assert.deepStrictEqual(plain(s.posted[0]), {
    url: CALLBACK,
    method: 'POST',
    headers: ['Content-Type: application/json'],
    body: { fetch: 'k1', token: 'fetch-token' },
  });
  assert.strictEqual(s.calls.length, 1);
  const call = s.calls[0];
  assert.strictEqual(call.to, '79990001122');
  assert.strictEqual(call.from, '74950001122');
  s.fire(call.handlers, 'Connected');
  await settle();
  assert.deepStrictEqual(plain(s.posted[1].body), {
    call_id: 'e1:reminder:Call', token: 'report-token', status: 'answered', to: '+79990001122', from: '+74950001122',
  });
  // A YandexV3 voice takes the speed as SpeechKit v3's hint, not ttsOptions.
  assert.deepStrictEqual(plain(call.said), [
    { text: 'Ваш заказ готов', options: { voice: 'yandexv3-alena', request: { hints: [{ speed: '1.2' }] } } },
  ]);
  s.fire(call.handlers, 'PlaybackFinished');
  assert.strictEqual(call.said.length, 2);  // repeat: 2
  assert.strictEqual(call.hungUp, false);
  s.fire(call.handlers, 'PlaybackFinished');
  assert.strictEqual(call.hungUp, true);
  s.fire(call.handlers, 'Disconnected');
  await settle();
  assert.strictEqual(s.posted[2].body.status, 'completed');
  assert.strictEqual(typeof s.posted[2].body.duration, 'number');
  await settle();
  assert.strictEqual(s.terminated(), true);
}

async function aCallNotFoundCallsNoOne() {
  const s = session(JSON.stringify({ fetch: CALLBACK, key: 'gone', token: 't' }), () => ({ code: 404, text: 'no call' }));
  await settle();
  assert.strictEqual(s.calls.length, 0);
  assert.strictEqual(s.terminated(), true);
}

async function aCallInItsCustomDataReportsABusyLine() {
  const inline = { call_id: 'e2:r:0', token: 'rt', to: '79990001133', from: '74950001122', say: 'Да', voice: 'Google.ru_RU_Standard_A', volume: 6, callback: CALLBACK };
  const s = session(JSON.stringify(inline), () => ({ code: 200, text: '' }));
  await settle();
  assert.strictEqual(s.posted.length, 0);  // nothing fetched
  const call = s.calls[0];
  s.fire(call.handlers, 'Connected');
  // Other voices take ttsOptions: speed as a factor, volume as SSML's word.
  assert.deepStrictEqual(plain(call.said[0].options), { voice: 'google-a', ttsOptions: { speed: '1', volume: 'x-loud' } });
  const busy = session(JSON.stringify(inline), () => ({ code: 200, text: '' }));
  busy.fire(busy.calls[0].handlers, 'Failed', { code: 486, reason: 'Busy Here' });
  await settle();
  assert.deepStrictEqual(plain(busy.posted[0].body), {
    call_id: 'e2:r:0', token: 'rt', status: 'busy', to: '+79990001133', from: '+74950001122', code: '486', reason: 'Busy Here',
  });
}

// The plugin answers 503 while its store is away: the report comes again
// until it is taken; one it refuses (401) does not.
async function aReportThePluginCouldNotKeepIsSentAgain() {
  const inline = { call_id: 'e3:r:0', token: 'rt', to: '79990001144', from: '74950001122', say: 'Да', callback: CALLBACK };
  const answers = [{ code: 503, text: '' }, { code: -7, text: '' }, { code: 200, text: '' }];  // -7: a timeout
  const s = session(JSON.stringify(inline), () => answers.shift() || { code: 200, text: '' });
  s.fire(s.calls[0].handlers, 'Failed', { code: 603, reason: 'Decline' });
  for (let i = 0; i < 4; ++i) {
    await settle();
    s.elapse(20000);
  }
  await settle();
  assert.strictEqual(s.posted.length, 3);
  assert.deepStrictEqual(plain(s.posted.map((p) => p.body.status)), ['busy', 'busy', 'busy']);  // declined: busy
  assert.strictEqual(s.terminated(), true);
  const refused = session(JSON.stringify(inline), () => ({ code: 401, text: '' }));
  refused.fire(refused.calls[0].handlers, 'Failed', { code: 486, reason: 'Busy Here' });
  for (let i = 0; i < 4; ++i) {
    await settle();
    refused.elapse(20000);
  }
  assert.strictEqual(refused.posted.length, 1);
}

(async () => {
  for (const test of [fetchesItsCallSaysItTwiceAndReportsTheOutcome, aCallNotFoundCallsNoOne, aCallInItsCustomDataReportsABusyLine,
                      aReportThePluginCouldNotKeepIsSentAgain]) {
    await test();
    console.log(`ok ${test.name}`);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
